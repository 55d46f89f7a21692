"""What `reconciler plan` does once its flags are parsed (face layer), and the steps apply shares with it.

Imported when the command runs (cli/plan.py), so that `plan --help` loads neither the spec loader, the
engine nor the clients.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import typer

from reconciler.cli.adapters import ConsulChoice, load_both, marathon_client, optional_consul
from reconciler.cli.event_loop import run_returning
from reconciler.cli.output import print_error
from reconciler.cli.plan_view import Compared, approval_notes, print_warning, show_plan
from reconciler.cli.settings import GlobalSettings
from reconciler.core.model import Desired, Plan
from reconciler.core.plan import PlanOptions
from reconciler.engine.observe import Observation
from reconciler.engine.routing import AgentRouting
from reconciler.engine.sync import SyncRequest, sync
from reconciler.errors import ExitCode, GuardRefused
from reconciler.gc_pause import gc_paused


@dataclass(frozen=True)
class PlanResult:
    plan: Plan
    observation: Observation


def plan_specs(
    settings: GlobalSettings, specs: Path, *, env: str | None, output: str, prune: bool, force: bool,
    consul: str | None, no_consul: bool, consul_agent: AgentRouting, charts: Path | None, verbose: bool,
) -> None:
    """`reconciler plan` with its flags checked: load, observe, plan, print; ends with the command's exit."""
    # One load, one observation, one plan, then the process ends: collecting garbage cycles among
    # 10,000 live apps again and again would be a sixth of it (reference counting frees the rest).
    with gc_paused():
        desired, whole = load_both(specs, env, charts)
        refuse_prune_without_environments(desired, prune)
        choice = ConsulChoice(enabled=not no_consul, url=consul, routing=consul_agent)
        result = run_returning(observe_and_plan(settings, desired, PlanOptions(prune=prune, force=force, env=env),
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
