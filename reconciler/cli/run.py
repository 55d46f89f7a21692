"""`reconciler run` (face layer): the controller, running cycles until SIGTERM or Ctrl-C.

Cycles start on a periodic resync, and sooner on a Marathon event, a Consul health change (blocking
query) or the end of a heal grace window; healing acts inside them. With `--sandbox` it first starts
the embedded Marathon + Consul (+ DNS) sandbox on loopback and points itself at it: the local
default that the README's quick start uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.adapters import consul_client, desired_from_folder, marathon_client
from reconciler.cli.logs import RUN_DEFAULT_LEVEL, configure_logging
from reconciler.cli.output import console, print_error
from reconciler.cli.plan import AgentOpt, ConsulOpt, EnvOpt, NoConsulOpt, PruneOpt, SpecsArg
from reconciler.cli.sandbox import embedded_sandbox
from reconciler.cli.settings import GlobalSettings
from reconciler.cli.status_view import dns_table, status_rows, status_table
from reconciler.core.model import Desired
from reconciler.core.plan import PlanOptions
from reconciler.engine.consul_execute import AgentRouting
from reconciler.engine.controller import Controller, ControllerOptions, TriggerSource
from reconciler.engine.cycle import CycleOptions, CycleResult, Reconciler
from reconciler.engine.triggers import consul_health_changes, marathon_events
from reconciler.errors import ExitCode
from reconciler.redaction import redact_url


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
    consul: ConsulOpt = None,
    no_consul: NoConsulOpt = False,
    consul_agent: AgentOpt = AgentRouting.HOST,
    watch_wait: Annotated[str, typer.Option(help="Longest wait of a Consul blocking query (Go duration).")] = "5m",
) -> None:
    """Run reconcile cycles continuously (periodic resync, sooner on Marathon events and Consul health)."""
    if ctx.obj.log_level is None:  # a controller logs its cycles unless told otherwise
        configure_logging(RUN_DEFAULT_LEVEL)
    desired_from_folder(specs, env=env)  # refuse to start on invalid specs: exit 3 with every problem
    settings: GlobalSettings = ctx.obj if consul is None else replace(ctx.obj, consul_url=consul)
    job = _RunJob(
        specs, env, CycleOptions(plan=PlanOptions(prune=prune, env=env), routing=consul_agent),
        ControllerOptions(resync_seconds=resync, max_cycles=cycles), use_consul=not no_consul, watch_wait=watch_wait,
    )
    raise typer.Exit(asyncio.run(job.run(settings, sandbox=sandbox)))


class _RunJob:
    def __init__(
        self, specs: Path, env: str | None, cycle_options: CycleOptions, options: ControllerOptions, *,
        use_consul: bool, watch_wait: str,
    ) -> None:
        self.view = _CycleView(specs, env)
        self.cycle_options, self.options = cycle_options, options
        self.use_consul, self.watch_wait = use_consul, watch_wait

    async def run(self, settings: GlobalSettings, *, sandbox: bool) -> int:
        async with contextlib.AsyncExitStack() as stack:
            if sandbox:
                settings = await _start_sandbox(stack, settings, with_consul=self.use_consul)
            marathon = await stack.enter_async_context(marathon_client(settings))
            consul = await stack.enter_async_context(consul_client(settings)) if self.use_consul else None
            reconciler = Reconciler(self.view.load, marathon, consul, self.cycle_options)
            sources: list[TriggerSource] = [lambda: marathon_events(marathon)]
            if consul is not None:
                sources.append(lambda: consul_health_changes(consul, wait=self.watch_wait))
            controller = Controller(reconciler.cycle, self.options, sources=tuple(sources), on_cycle=self.view.show)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, controller.stop)
            where = f"Marathon {redact_url(settings.marathon_url)}"
            where += f", Consul {redact_url(settings.consul_url)}" if consul else ""
            console.print(f"controller running against {where}; Ctrl-C stops it.")
            await controller.run()
            console.print(f"controller stopped after {controller.cycles} cycle(s).")
        return ExitCode.OK


async def _start_sandbox(
    stack: contextlib.AsyncExitStack, settings: GlobalSettings, *, with_consul: bool
) -> GlobalSettings:
    sandbox = await stack.enter_async_context(embedded_sandbox(with_consul=with_consul))
    console.print(f"sandbox Marathon at {sandbox.marathon_url}")
    if sandbox.consul_url is None:
        return replace(settings, marathon_url=sandbox.marathon_url)
    console.print(f"sandbox Consul at {sandbox.consul_url}, DNS on 127.0.0.1:{sandbox.dns_port} (UDP and TCP)")
    console.print(f"  try: dig @127.0.0.1 -p {sandbox.dns_port} redis.func-1.query.consul")
    return replace(settings, marathon_url=sandbox.marathon_url, consul_url=sandbox.consul_url)


class _CycleView:
    """Loads the specs for each cycle and prints what each cycle did, and the status when it changed."""

    def __init__(self, specs: Path, env: str | None) -> None:
        self._specs = specs
        self._env = env
        self._desired: Desired | None = None
        self._shown: tuple[object, ...] = ()
        self._dns_shown = False

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
            pending = sum(1 for a in actions if a.outcome != "planned" or a.kind != "warn")
            console.print(f"cycle {result.cycle_id} ({result.trigger}): {done}/{pending} actions succeeded")
        if self._desired is None or result.actual is None:
            return
        consul = result.observation.consul if result.observation and result.observation.consul_enabled else None
        all_actions = result.plan.actions if result.plan else ()
        rows = status_rows(self._desired, result.actual, consul, all_actions)
        if rows != self._shown:
            self._shown = rows
            console.print(status_table(self._desired, result.actual, consul, all_actions))
        if consul is not None and consul.complete and not self._dns_shown:
            self._dns_shown = True
            console.print(dns_table(self._desired))
