"""`reconciler plan` (face layer): what apply would change in Marathon and Consul; exit 2 when pending.

Consul is observed beside Marathon unless `--no-consul`; when it cannot be read the plan says so on
stderr and holds no Consul action at all (nothing is deregistered or deleted on missing data).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.adapters import ConsulChoice, load_both, marathon_client, optional_consul
from reconciler.cli.consul_opts import ConsulOpt, NoConsulOpt
from reconciler.cli.event_loop import run_returning
from reconciler.cli.output import print_error, use_json_output
from reconciler.cli.plan_view import Compared, approval_notes, print_warning, show_plan
from reconciler.cli.settings import GlobalSettings
from reconciler.core.model import Desired, Plan
from reconciler.core.plan import PlanOptions
from reconciler.engine.consul_execute import AgentRouting
from reconciler.engine.observe import Observation
from reconciler.engine.sync import SyncRequest, sync
from reconciler.errors import ExitCode, GuardRefused
from reconciler.gc_pause import gc_paused

# Not `exists=True`: a path that does not exist is an invalid spec tree (exit 3), as for validate.
SpecsArg = Annotated[Path, typer.Argument(help="Spec tree: a folder (or one file).")]
EnvOpt = Annotated[str | None, typer.Option("--env", "-e", help="Only this environment.")]
OutputOpt = Annotated[str, typer.Option("--output", "-o", help="text or json.")]
PruneOpt = Annotated[bool, typer.Option(help="Delete managed apps that left the specs (guarded).")]
ForceOpt = Annotated[bool, typer.Option(help="Lift the prune limit.")]
ApplyForceOpt = Annotated[bool, typer.Option(
    "--force", help="Lift the prune limit, and apply even to environments a live controller owns (its leader lock)."
)]
AgentOpt = Annotated[
    AgentRouting,
    typer.Option("--consul-agent", help="host: register through the agent on each task's host; single: --consul."),
]
ChartsOpt = Annotated[
    Path | None,
    typer.Option("--charts", help="Charts folder (default: <specs>/../charts if it exists, else <specs>/charts)."),
]
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="Show every Consul action, not one summary line per app.")
]

@dataclass(frozen=True)
class PlanResult:
    plan: Plan
    observation: Observation


def register(app: typer.Typer) -> None:
    app.command("plan")(plan_command)


def plan_command(
    ctx: typer.Context,
    specs: SpecsArg,
    env: EnvOpt = None,
    output: OutputOpt = "text",
    prune: PruneOpt = False,
    force: ForceOpt = False,
    consul: ConsulOpt = None,
    no_consul: NoConsulOpt = False,
    consul_agent: AgentOpt = AgentRouting.HOST,
    charts: ChartsOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Show what `apply` would change (exit 0: nothing, 2: changes pending, 3: invalid specs)."""
    check_output(output)
    # One load, one observation, one plan, then the process ends: collecting garbage cycles among
    # 10,000 live apps again and again would be a sixth of it (reference counting frees the rest).
    with gc_paused():
        desired, whole = load_both(specs, env, charts)
        refuse_prune_without_environments(desired, prune)
        choice = ConsulChoice(enabled=not no_consul, url=consul, routing=consul_agent)
        result = run_returning(observe_and_plan(ctx.obj, desired, PlanOptions(prune=prune, force=force, env=env),
                                                choice, whole=whole))
    report_observation(result.observation)
    approval_notes(desired, env)
    show_plan(result.plan, output=output, compared=compared_of(result.observation), verbose=verbose)
    if consul_unread(result.observation):
        print_error(CONSUL_UNREAD)
        raise typer.Exit(ExitCode.ERROR)
    raise typer.Exit(ExitCode.CHANGES_PENDING if result.plan.changes_pending else ExitCode.OK)


CONSUL_UNREAD = (
    "Consul could not be read, so its part of the plan is unknown (hint: start Consul or point --consul at it; "
    "--no-consul leaves Consul out)"
)


def consul_unread(observation: Observation) -> bool:
    return observation.consul_enabled and not observation.consul.complete


def compared_of(observation: Observation) -> Compared:
    """Which systems the observation let the plan compare, and what was read of Consul."""
    if not observation.consul_enabled:
        return Compared("Marathon")
    consul = {"complete": observation.consul.complete, "problems": list(observation.consul.problems)}
    return Compared("Marathon" if consul_unread(observation) else "Marathon and Consul", consul)


def refuse_prune_without_environments(desired: Desired, prune: bool) -> None:
    """A tree without environments gives prune no scope at all: most likely a wrong path, so say so (exit 4)."""
    if prune and not desired.environments:
        raise GuardRefused(
            "refusing to prune from a spec tree without environments: nothing would be in scope",
            hint="check the spec path; prune deletes only apps of the environments the tree declares",
        )


async def observe_and_plan(
    settings: GlobalSettings, desired: Desired, options: PlanOptions, choice: ConsulChoice = ConsulChoice(),
    *, whole: Desired | None = None,
) -> PlanResult:
    """One observation of both systems and the plan from it: a dry one-off sync (no heal memory carried)."""
    request = SyncRequest(desired, options, routing=choice.routing, whole=whole, strict=False, dry_run=True)
    async with marathon_client(settings, observes_once=True) as marathon, optional_consul(settings, choice) as consul:
        result = await sync(request, marathon, consul)
    return PlanResult(result.plan, result.observation)


def report_observation(observation: Observation) -> None:
    """Says on stderr what could not be read, and that nothing destructive was planned from it."""
    if observation.consul_enabled and not observation.consul.complete:
        for problem in observation.consul.problems:
            print_warning(f"{problem}; no Consul action planned (nothing is deregistered or deleted on missing data)")


def check_output(output: str) -> None:
    if output not in ("text", "json"):
        raise typer.BadParameter(f"unknown output format {output!r}; use text or json", param_hint="--output")
    use_json_output(output == "json")
