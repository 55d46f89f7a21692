"""`reconciler apply` (face layer): execute the same plan object that `plan` shows.

Marathon's actions go first (waiting for the deployments with `--wait`), then Consul's. Writes whose
connection dropped after sending are settled from a fresh observation. Tasks that the deployments
started are registered by a second, Consul-only pass over a fresh observation once the deployments
are done. A plan with Marathon guard refusals (prune) sends nothing and exits 4: nothing is
half-applied. `--dry-run` and a plan with nothing pending send no write to either system.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Annotated, Any

import typer

from reconciler.cli.adapters import ConsulChoice, marathon_client, optional_consul
from reconciler.cli.output import console, print_error
from reconciler.cli.plan import (
    CONSUL_UNREAD,
    AgentOpt,
    ChartsOpt,
    ConsulOpt,
    EnvOpt,
    ForceOpt,
    NoConsulOpt,
    OutputOpt,
    PruneOpt,
    SpecsArg,
    VerboseOpt,
    blocking_refusals,
    check_output,
    compared_of,
    consul_unread,
    load_both,
    plan_from,
    refuse_prune_without_environments,
    report_observation,
)
from reconciler.cli.plan_view import Compared, plan_lines, show_plan
from reconciler.cli.settings import GlobalSettings
from reconciler.consul.client import ConsulClient
from reconciler.core.export import plan_as_dict
from reconciler.core.model import Actual, Desired, Outcome, Plan
from reconciler.core.outcomes import settle_unknown
from reconciler.core.plan import PlanOptions
from reconciler.engine.consul_execute import AgentRouting, execute_consul
from reconciler.engine.execute import ExecuteOptions, Execution, Progress, execute_plan
from reconciler.engine.observe import Observation, observe
from reconciler.engine.planning import CONSUL_KINDS
from reconciler.engine.stuck import stuck_reasons
from reconciler.errors import ExitCode, ReconcilerError
from reconciler.marathon import MarathonClient


def register(app: typer.Typer) -> None:
    app.command("apply")(apply_command)


def apply_command(
    ctx: typer.Context,
    specs: SpecsArg,
    env: EnvOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan; write nothing.")] = False,
    prune: PruneOpt = False,
    force: ForceOpt = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the deployments.")] = True,
    deadline: Annotated[
        float, typer.Option("--deadline", help="How long to wait for the deployments in all (s); see --timeout.")
    ] = 300.0,
    output: OutputOpt = "text",
    consul: ConsulOpt = None,
    no_consul: NoConsulOpt = False,
    consul_agent: AgentOpt = AgentRouting.HOST,
    charts: ChartsOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Make Marathon and Consul match the specs (exit 0 ok, 1 error, 3 invalid specs, 4 refused by a guard)."""
    check_output(output)
    desired, whole = load_both(specs, env, charts)
    refuse_prune_without_environments(desired, prune)
    job = _ApplyJob(
        settings=ctx.obj,
        desired=desired,
        whole=whole,
        options=PlanOptions(prune=prune, force=force, env=env),
        choice=ConsulChoice(enabled=not no_consul, url=consul, routing=consul_agent),
        execute=ExecuteOptions(wait=wait, timeout=deadline),
        output=output,
        verbose=verbose,
    )
    raise typer.Exit(asyncio.run(job.run(dry_run=dry_run)))


class _ApplyJob:
    def __init__(
        self, *, settings: GlobalSettings, desired: Desired, whole: Desired | None, options: PlanOptions,
        choice: ConsulChoice, execute: ExecuteOptions, output: str, verbose: bool = False,
    ) -> None:
        self.settings, self.desired, self.whole, self.options = settings, desired, whole, options
        self.choice, self.execute, self.output, self.verbose = choice, execute, output, verbose

    async def run(self, *, dry_run: bool) -> int:
        async with marathon_client(self.settings) as marathon, optional_consul(self.settings, self.choice) as consul:
            observation = await observe(marathon, consul)
            report_observation(observation)
            compared = compared_of(observation)
            plan = plan_from(self.desired, observation, self.options, self.whole).plan
            if dry_run or plan.empty or blocking_refusals(plan):
                return _consul_checked(observation, _show_unexecuted(plan, compared, output=self.output,
                                                                     dry_run=dry_run, verbose=self.verbose))
            if self.output == "text":
                show_plan(plan, output="text", title="Applying", compared=compared, verbose=self.verbose)
            execution = await _execute_with_progress(plan, marathon, self.execute, self.output)
            if consul is not None:
                done = await execute_consul(replace(plan, actions=execution.actions), consul, self.choice.routing)
                execution = replace(execution, actions=done.actions)
            if execution.unknown:
                execution = await self._settle(marathon, consul, execution)
            after = None
            if self.execute.wait and not execution.failed and not execution.unknown:
                after, execution = await self._follow_up(marathon, consul, execution)
            unconverged = _unconverged(self.desired, after) if after is not None else None
            stuck = await _stuck(marathon, execution, unconverged)
        return _consul_checked(observation, _report(plan, execution, Convergence(unconverged, stuck), compared,
                                                    output=self.output, verbose=self.verbose))

    async def _settle(self, marathon: MarathonClient, consul: ConsulClient | None, execution: Execution) -> Execution:
        """Writes of unknown outcome: a fresh observation tells which landed (never a blind retry)."""
        try:
            fresh = await observe(marathon, consul)
        except ReconcilerError as exc:
            print_error(f"could not observe again to settle the writes of unknown outcome: {exc}")
            return execution
        replanned = plan_from(self.desired, fresh, self.options, self.whole).plan
        return replace(execution, actions=settle_unknown(execution.actions, replanned))

    async def _follow_up(
        self, marathon: MarathonClient, consul: ConsulClient | None, execution: Execution
    ) -> tuple[Actual, Execution]:
        """After the deployments: register the tasks they started, from a fresh observation."""
        observation = await observe(marathon, consul)
        if consul is None or not execution.deployment_ids:
            return observation.actual, execution
        plan = plan_from(self.desired, observation, self.options, self.whole).plan
        consul_only = Plan(actions=tuple(a for a in plan.pending if a.kind in CONSUL_KINDS))
        if consul_only.empty:
            return observation.actual, execution
        if self.output == "text":
            show_plan(consul_only, output="text", title="Registering the started tasks")
        done = await execute_consul(consul_only, consul, self.choice.routing)
        return observation.actual, replace(execution, actions=execution.actions + done.actions)


def _consul_checked(observation: Observation, code: int) -> int:
    """An apply that could not read Consul did not converge it: an error, whatever Marathon's outcome."""
    if consul_unread(observation) and code in (ExitCode.OK, ExitCode.CHANGES_PENDING):
        print_error(CONSUL_UNREAD)
        return ExitCode.ERROR
    return code


def _show_unexecuted(plan: Plan, compared: Compared, *, output: str, dry_run: bool, verbose: bool) -> int:
    if output == "json":
        console.print_json(json.dumps(apply_document(plan, Execution(plan.actions), Convergence(), compared),
                                      default=str))
    else:
        show_plan(plan, output=output, title="Dry run" if dry_run else "Plan", compared=compared, verbose=verbose)
    if blocking_refusals(plan):
        print_error("refused by a guard; nothing was applied (see the refused actions above)")
        return ExitCode.REFUSED
    if output == "text" and dry_run:
        console.print("[dim]dry run: nothing was sent to Marathon or Consul.[/]")
    if dry_run and not plan.empty:
        return ExitCode.CHANGES_PENDING
    return ExitCode.OK


async def _execute_with_progress(
    plan: Plan, marathon: MarathonClient, options: ExecuteOptions, output: str
) -> Execution:
    if output != "text":
        return await execute_plan(plan, marathon, options)
    with console.status("sending changes to Marathon...") as status:

        def on_progress(progress: Progress) -> None:
            status.update(
                f"waiting for {len(progress.running)} of {progress.total} deployment(s) "
                f"[dim]({progress.elapsed:.0f}s)[/]"
            )

        return await execute_plan(plan, marathon, options, on_progress)


@dataclass(frozen=True)
class Convergence:
    """After the deployments: desired apps not running their instances (None: not checked), and why
    each app that did not converge is stuck (from the deployments and Marathon's launch queue)."""

    unconverged: list[str] | None = None
    stuck: dict[str, str] = field(default_factory=dict)


async def _stuck(marathon: MarathonClient, execution: Execution, unconverged: list[str] | None) -> dict[str, str]:
    """Why the apps still deploying at the deadline, or not converged, are stuck."""
    if execution.timed_out:
        running = {a for d in await _our_deployments(marathon, execution.deployment_ids) for a in d.affected_apps}
        return await stuck_reasons(marathon, running)
    if unconverged:
        return await stuck_reasons(marathon, (entry.split(" ", 1)[0] for entry in unconverged))
    return {}


async def _our_deployments(marathon: MarathonClient, ids: tuple[str, ...]) -> list[Any]:
    try:
        return [d for d in await marathon.get_deployments() if d.id in ids]
    except ReconcilerError:
        return []


def apply_document(plan: Plan, execution: Execution, convergence: Convergence, compared: Compared) -> dict[str, Any]:
    """apply's `-o json`: the plan document with outcomes, plus what the deployments did (docs/plan-apply.md)."""
    return plan_as_dict(replace(plan, actions=execution.actions)) | compared.document | {
        "deployments": list(execution.deployment_ids),
        "timed_out": execution.timed_out,
        "unconverged": convergence.unconverged,
        "stuck": convergence.stuck,
    }


def _report(
    plan: Plan, execution: Execution, convergence: Convergence, compared: Compared, *, output: str, verbose: bool
) -> int:
    if output == "json":
        console.print_json(json.dumps(apply_document(plan, execution, convergence, compared), default=str))
    else:
        shown = (a for a in execution.actions if a.outcome != Outcome.SUCCEEDED)
        for line in plan_lines(shown, verbose=verbose):
            console.print(line, soft_wrap=True)
        _print_outcome(execution, convergence)
    failed = bool(execution.failed or execution.unknown) or execution.timed_out or bool(convergence.unconverged)
    skipped = any(a.outcome == Outcome.SKIPPED for a in execution.actions)  # locked apps under --no-wait
    return ExitCode.ERROR if failed or skipped else ExitCode.OK


def _print_outcome(execution: Execution, convergence: Convergence) -> None:
    counts = Counter(a.outcome for a in execution.actions)
    parts = [f"{counts[Outcome.SUCCEEDED]} succeeded", f"{counts[Outcome.FAILED]} failed"]
    parts += [f"{counts[o]} {o if o != Outcome.UNKNOWN else 'of unknown outcome'}"
              for o in (Outcome.SKIPPED, Outcome.UNKNOWN) if counts[o]]
    console.print(f"[bold]Applied:[/] {', '.join(parts)}.")
    if execution.timed_out:
        print_error("deployments still running at the deadline (raise --deadline):" + _stuck_text(convergence))
    elif convergence.unconverged:
        print_error("not converged yet: " + ", ".join(convergence.unconverged) + _stuck_text(convergence))
    elif convergence.unconverged is not None:
        console.print("[bold green]Converged:[/] every desired app runs its instances.")


def _stuck_text(convergence: Convergence) -> str:
    lines = "".join(f"\n  {app_id}: {why}" for app_id, why in convergence.stuck.items())
    return lines or " (no app of ours named by GET /v2/deployments)"


def _unconverged(desired: Desired, after: Actual) -> list[str]:
    """Desired apps whose running task count differs from their instances after the deployments."""
    problems = []
    for app_id, app in sorted(desired.apps.items()):
        observed = after.apps.get(app_id)
        running = sum(1 for t in observed.tasks if t.state == "TASK_RUNNING") if observed else 0
        if observed is None or running < observed.instances:
            problems.append(f"{app_id} ({running}/{observed.instances if observed else app.instances} running)")
    return problems
