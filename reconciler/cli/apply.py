"""`reconciler apply` (face layer): execute the same plan object that `plan` shows.

Marathon's actions go first (waiting for the deployments with `--wait`), then Consul's. Tasks that
the deployments started are registered by a second, Consul-only pass over a fresh observation once
the deployments are done. A plan with Marathon guard refusals (prune) sends nothing and exits 4:
nothing is half-applied. `--dry-run` and a plan with nothing pending send no write to either system.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Annotated

import typer

from reconciler.cli.adapters import ConsulChoice, marathon_client, optional_consul
from reconciler.cli.output import console, print_error
from reconciler.cli.plan import (
    CONSUL_UNREAD,
    AgentOpt,
    ConsulOpt,
    EnvOpt,
    ForceOpt,
    NoConsulOpt,
    OutputOpt,
    PruneOpt,
    SpecsArg,
    blocking_refusals,
    check_output,
    compared_of,
    consul_unread,
    load_both,
    plan_from,
    report_observation,
)
from reconciler.cli.plan_view import Compared, plan_lines, show_plan
from reconciler.cli.settings import GlobalSettings
from reconciler.consul.client import ConsulClient
from reconciler.core.export import plan_as_dict
from reconciler.core.model import Actual, Desired, Outcome, Plan
from reconciler.core.plan import PlanOptions
from reconciler.engine.consul_execute import AgentRouting, execute_consul
from reconciler.engine.execute import ExecuteOptions, Execution, Progress, execute_plan
from reconciler.engine.observe import Observation, observe
from reconciler.engine.planning import CONSUL_KINDS
from reconciler.errors import ExitCode
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
    timeout: Annotated[float, typer.Option("--timeout", help="Deadline for the deployments (s).")] = 300.0,
    output: OutputOpt = "text",
    consul: ConsulOpt = None,
    no_consul: NoConsulOpt = False,
    consul_agent: AgentOpt = AgentRouting.HOST,
) -> None:
    """Make Marathon and Consul match the specs (exit 0 ok, 1 error, 3 invalid specs, 4 refused by a guard)."""
    check_output(output)
    desired, whole = load_both(specs, env)
    job = _ApplyJob(
        settings=ctx.obj,
        desired=desired,
        whole=whole,
        options=PlanOptions(prune=prune, force=force, env=env),
        choice=ConsulChoice(enabled=not no_consul, url=consul, routing=consul_agent),
        execute=ExecuteOptions(wait=wait, timeout=timeout),
        output=output,
    )
    raise typer.Exit(asyncio.run(job.run(dry_run=dry_run)))


class _ApplyJob:
    def __init__(
        self, *, settings: GlobalSettings, desired: Desired, whole: Desired | None, options: PlanOptions,
        choice: ConsulChoice, execute: ExecuteOptions, output: str,
    ) -> None:
        self.settings, self.desired, self.whole, self.options = settings, desired, whole, options
        self.choice, self.execute, self.output = choice, execute, output

    async def run(self, *, dry_run: bool) -> int:
        async with marathon_client(self.settings) as marathon, optional_consul(self.settings, self.choice) as consul:
            observation = await observe(marathon, consul)
            report_observation(observation)
            compared = compared_of(observation)
            plan = plan_from(self.desired, observation, self.options, self.whole).plan
            if dry_run or plan.empty or blocking_refusals(plan):
                return _consul_checked(observation, _show_unexecuted(plan, compared, output=self.output,
                                                                     dry_run=dry_run))
            if self.output == "text":
                show_plan(plan, output="text", title="Applying", compared=compared)
            execution = await _execute_with_progress(plan, marathon, self.execute, self.output)
            if consul is not None:
                done = await execute_consul(replace(plan, actions=execution.actions), consul, self.choice.routing)
                execution = replace(execution, actions=done.actions)
            after = None
            if self.execute.wait and not execution.failed:
                after, execution = await self._follow_up(marathon, consul, execution)
        return _consul_checked(observation, _report(plan, execution, self.desired, after, compared,
                                                    output=self.output))

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


def _show_unexecuted(plan: Plan, compared: Compared, *, output: str, dry_run: bool) -> int:
    show_plan(plan, output=output, title="Dry run" if dry_run else "Plan", compared=compared)
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


def _report(
    plan: Plan, execution: Execution, desired: Desired, after: Actual | None, compared: Compared, *, output: str
) -> int:
    done = Plan(actions=execution.actions, revision=plan.revision)
    converged = _unconverged(desired, after) if after is not None else None
    if output == "json":
        data = plan_as_dict(done) | compared.document | {
            "deployments": list(execution.deployment_ids), "timed_out": execution.timed_out
        }
        if converged is not None:
            data["unconverged"] = converged
        console.print_json(json.dumps(data, default=str))
    else:
        for line in plan_lines(a for a in execution.actions if a.outcome != "succeeded"):
            console.print(line, soft_wrap=True)
        _print_outcome(execution, converged)
    skipped = any(a.outcome == Outcome.SKIPPED for a in execution.actions)  # locked apps under --no-wait
    failed = bool(execution.failed) or skipped or execution.timed_out or bool(converged)
    return ExitCode.ERROR if failed else ExitCode.OK


def _print_outcome(execution: Execution, unconverged: list[str] | None) -> None:
    ok = sum(1 for a in execution.actions if a.outcome == Outcome.SUCCEEDED)
    skipped = sum(1 for a in execution.actions if a.outcome == Outcome.SKIPPED)
    console.print(f"[bold]Applied:[/] {ok} succeeded, {len(execution.failed)} failed"
                  + (f", {skipped} skipped" if skipped else "") + ".")
    if execution.timed_out:
        print_error("deployments still running at the deadline; raise --timeout or check `GET /v2/deployments`")
    elif unconverged:
        print_error("not converged yet: " + ", ".join(unconverged))
    elif unconverged is not None:
        console.print("[bold green]Converged:[/] every desired app runs its instances.")


def _unconverged(desired: Desired, after: Actual) -> list[str]:
    """Desired apps whose running task count differs from their instances after the deployments."""
    problems = []
    for app_id, app in sorted(desired.apps.items()):
        observed = after.apps.get(app_id)
        running = sum(1 for t in observed.tasks if t.state == "TASK_RUNNING") if observed else 0
        if observed is None or running < observed.instances:
            problems.append(f"{app_id} ({running}/{observed.instances if observed else app.instances} running)")
    return problems
