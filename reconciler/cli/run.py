"""`reconciler run` (face layer): the controller, running cycles until SIGTERM or Ctrl-C.

With `--sandbox` it first starts the embedded Marathon (and Consul) sandbox on loopback and points
itself at it: the local default that the README's quick start uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.adapters import desired_from_folder, marathon_client
from reconciler.cli.logs import configure_logging
from reconciler.cli.output import console, print_error
from reconciler.cli.plan import EnvOpt, PruneOpt, SpecsArg
from reconciler.cli.settings import GlobalSettings
from reconciler.cli.status_view import status_rows, status_table
from reconciler.core.model import Desired
from reconciler.core.plan import PlanOptions
from reconciler.engine.controller import Controller, ControllerOptions
from reconciler.engine.cycle import CycleResult, run_cycle
from reconciler.errors import ExitCode
from reconciler.marathon import MarathonClient

# Marathon events after which the actual state may have left the desired one.
TRIGGER_EVENTS = (
    "status_update_event",
    "deployment_success",
    "deployment_failed",
    "app_terminated_event",
    "unhealthy_instance_kill_event",
)


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)


def run_command(
    ctx: typer.Context,
    specs: SpecsArg,
    env: EnvOpt = None,
    prune: PruneOpt = False,
    sandbox: Annotated[bool, typer.Option(help="Start the embedded sandbox on loopback and run against it.")] = False,
    resync: Annotated[float, typer.Option(help="Seconds between periodic resyncs.", min=0.5)] = 30.0,
    cycles: Annotated[int | None, typer.Option(help="Stop after this many cycles.", min=1)] = None,
) -> None:
    """Run reconcile cycles continuously (periodic resync, sooner on Marathon events)."""
    source = ctx.parent.get_parameter_source("log_level") if ctx.parent else None
    if source is None or source.name == "DEFAULT":  # a controller logs its cycles unless told otherwise
        configure_logging("INFO")
    desired_from_folder(specs, env=env)  # refuse to start on invalid specs: exit 3 with every problem
    options = ControllerOptions(resync_seconds=resync, max_cycles=cycles)
    code = asyncio.run(_run(ctx.obj, specs, env, PlanOptions(prune=prune, env=env), options, sandbox=sandbox))
    raise typer.Exit(code)


async def _run(
    settings: GlobalSettings, specs: Path, env: str | None, plan_options: PlanOptions, options: ControllerOptions,
    *, sandbox: bool,
) -> int:
    async with contextlib.AsyncExitStack() as stack:
        if sandbox:
            settings = await _start_sandbox(stack, settings)
        marathon = await stack.enter_async_context(marathon_client(settings))
        view = _CycleView(specs, env)

        async def cycle(trigger: str) -> CycleResult:
            return await run_cycle(view.load, marathon, plan_options, trigger=trigger)

        controller = Controller(cycle, options, sources=(lambda: _marathon_events(marathon),), on_cycle=view.show)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, controller.stop)
        console.print(f"controller running against Marathon {settings.marathon_url}; Ctrl-C stops it.")
        await controller.run()
        console.print(f"controller stopped after {controller.cycles} cycle(s).")
    return ExitCode.OK


async def _start_sandbox(stack: contextlib.AsyncExitStack, settings: GlobalSettings) -> GlobalSettings:
    from reconciler.sandbox.marathon import MarathonSandbox, MarathonSandboxConfig

    sandbox = await stack.enter_async_context(MarathonSandbox(MarathonSandboxConfig()))
    console.print(f"sandbox Marathon at {sandbox.url}")
    return replace(settings, marathon_url=sandbox.url)


async def _marathon_events(marathon: MarathonClient) -> AsyncIterator[str]:
    async for event in marathon.stream_events(TRIGGER_EVENTS):
        yield f"marathon:{event.event_type}"


class _CycleView:
    """Loads the specs for each cycle and prints what each cycle did, and the status when it changed."""

    def __init__(self, specs: Path, env: str | None) -> None:
        self._specs = specs
        self._env = env
        self._desired: Desired | None = None
        self._shown: tuple[tuple[str, int, int], ...] = ()

    def load(self) -> Desired:
        self._desired = desired_from_folder(self._specs, env=self._env)
        return self._desired

    def show(self, result: CycleResult) -> None:
        if result.error:
            print_error(f"cycle {result.cycle_id}: {result.error}")
            return
        actions = result.execution.actions if result.execution else ()
        if actions:
            done = sum(1 for a in actions if a.outcome == "succeeded")
            console.print(f"cycle {result.cycle_id} ({result.trigger}): {done}/{len(actions)} actions succeeded")
        if self._desired is None or result.actual is None:
            return
        rows = status_rows(self._desired, result.actual)
        if rows != self._shown:
            self._shown = rows
            console.print(status_table(self._desired, result.actual))


