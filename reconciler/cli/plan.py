"""`reconciler plan` (face layer): what apply would change, as a diff; exit 2 when changes are pending."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.adapters import desired_from_folder, marathon_client
from reconciler.cli.plan_view import show_plan
from reconciler.cli.settings import GlobalSettings
from reconciler.core.model import Desired, Plan
from reconciler.core.plan import PlanOptions, build_plan
from reconciler.errors import ExitCode

SpecsArg = Annotated[Path, typer.Argument(help="Spec tree (a folder).", exists=True, file_okay=False)]
EnvOpt = Annotated[str | None, typer.Option("--env", "-e", help="Only this environment.")]
OutputOpt = Annotated[str, typer.Option("--output", "-o", help="text or json.")]
PruneOpt = Annotated[bool, typer.Option(help="Delete managed apps that left the specs (guarded).")]
ForceOpt = Annotated[bool, typer.Option(help="Lift the prune limit.")]


def register(app: typer.Typer) -> None:
    app.command("plan")(plan_command)


def plan_command(
    ctx: typer.Context,
    specs: SpecsArg,
    env: EnvOpt = None,
    output: OutputOpt = "text",
    prune: PruneOpt = False,
    force: ForceOpt = False,
) -> None:
    """Show what `apply` would change (exit 0: nothing, 2: changes pending, 3: invalid specs)."""
    check_output(output)
    desired = desired_from_folder(specs, env=env)
    plan = asyncio.run(observe_and_plan(ctx.obj, desired, PlanOptions(prune=prune, force=force, env=env)))
    show_plan(plan, output=output)
    raise typer.Exit(ExitCode.OK if plan.empty and not plan.refused else ExitCode.CHANGES_PENDING)


async def observe_and_plan(settings: GlobalSettings, desired: Desired, options: PlanOptions) -> Plan:
    async with marathon_client(settings) as marathon:
        actual = await marathon.observe()
    return build_plan(desired, actual, options)


def check_output(output: str) -> None:
    if output not in ("text", "json"):
        raise typer.BadParameter(f"unknown output format {output!r}; use text or json", param_hint="--output")
