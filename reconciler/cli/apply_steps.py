"""What `reconciler apply` does once its flags are parsed (face layer): the sync, and what it prints.

Imported when the command runs (cli/apply.py), so that `apply --help` loads neither the spec loader,
the engine nor the clients.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer

from reconciler.cli.adapters import ConsulChoice, load_both, marathon_client, optional_consul
from reconciler.cli.output import console, print_error, print_json_document, print_lines, print_warning
from reconciler.cli.plan_steps import (
    CONSUL_UNREAD,
    compared_of,
    consul_unread,
    refuse_prune_without_environments,
    report_observation,
)
from reconciler.cli.plan_view import Compared, approval_notes, plan_lines, show_plan
from reconciler.cli.settings import GlobalSettings
from reconciler.core.approvals import approval_environments
from reconciler.core.export import plan_as_dict
from reconciler.core.model import Desired, Outcome, Plan
from reconciler.core.plan import PlanOptions
from reconciler.engine.execute import ExecuteOptions, Execution, Progress, ProgressCallback
from reconciler.engine.lock_key import DEFAULT_KEY
from reconciler.engine.observe import Observation
from reconciler.engine.ownership import ownership_guard
from reconciler.engine.routing import AgentRouting
from reconciler.engine.stuck import Convergence
from reconciler.engine.sync import SyncHooks, SyncRequest, blocking_refusals, sync
from reconciler.errors import ExitCode, ReconcilerError
from reconciler.marathon import MarathonClient


def apply_specs(
    settings: GlobalSettings, specs: Path, *, env: str | None, dry_run: bool, prune: bool, force: bool, wait: bool,
    deadline: float, output: str, consul: str | None, no_consul: bool, consul_agent: AgentRouting,
    charts: Path | None, verbose: bool, database: str | None, leader_key: str,
) -> None:
    """`reconciler apply` with its flags checked: load, one sync, print; ends with the command's exit."""
    desired, whole = load_both(specs, env, charts)
    refuse_prune_without_environments(desired, prune)
    job = _ApplyJob(
        settings=settings,
        desired=desired,
        whole=whole,
        options=PlanOptions(prune=prune, force=force, env=env),
        choice=ConsulChoice(enabled=not no_consul, url=consul, routing=consul_agent),
        execute=ExecuteOptions(wait=wait, timeout=deadline),
        output=output,
        verbose=verbose,
        database=database,
        leader_key=leader_key,
    )
    raise typer.Exit(asyncio.run(job.run(dry_run=dry_run)))


class _ApplyJob:
    def __init__(
        self, *, settings: GlobalSettings, desired: Desired, whole: Desired | None, options: PlanOptions,
        choice: ConsulChoice, execute: ExecuteOptions, output: str, verbose: bool = False, database: str | None = None,
        leader_key: str = DEFAULT_KEY,
    ) -> None:
        self.settings, self.desired, self.whole, self.options = settings, desired, whole, options
        self.choice, self.execute, self.output, self.verbose = choice, execute, output, verbose
        self.database = database  # where a plan awaiting approval is recorded (cli/approve.py)
        self.leader_key = leader_key

    async def run(self, *, dry_run: bool) -> int:
        request = SyncRequest(self.desired, self.options, self.execute, self.choice.routing, whole=self.whole,
                              strict=False, dry_run=dry_run, halt_on_refusal=True)
        # A dry run observes once; a real one reads Marathon again while it waits for its deployments.
        async with (marathon_client(self.settings, observes_once=dry_run) as marathon,
                    optional_consul(self.settings, self.choice) as consul):
            guarded = None if dry_run else consul  # a live controller owning these envs refuses (exit 4)
            if note := await ownership_guard(guarded, self.desired.environments, force=self.options.force,
                                             key=self.leader_key):
                print_warning(note)
            if dry_run:
                approval_notes(self.desired, self.options.env)
            elif approval_environments(self.desired, self.options.env):
                await self.refuse_unapproved(marathon)
            result = await sync(request, marathon, consul, hooks=_ApplyView(self.output, self.verbose))
        compared = compared_of(result.observation)
        if result.execution is None:
            return _consul_checked(result.observation, _show_unexecuted(result.plan, compared, output=self.output,
                                                                        dry_run=dry_run, verbose=self.verbose))
        return _consul_checked(result.observation, _report(result.plan, result.execution, result.convergence,
                                                           compared, output=self.output, verbose=self.verbose))

    async def refuse_unapproved(self, marathon: MarathonClient) -> None:
        """Refuses (exit 4) when a plan of an environment in scope awaits approval in the store."""
        # Imported here: the store (SQLModel, SQLAlchemy) costs a third of a second to import, and only an
        # apply to an environment that requires an approval reads it.
        from reconciler.cli.approve_steps import refuse_unapproved, unapproved

        if held := await unapproved(self.database, self.desired, marathon, self.options):
            refuse_unapproved(held, self.desired)


class _ApplyView(SyncHooks):
    """What apply prints while the sync goes: the plan it sends, the deployments' progress."""

    def __init__(self, output: str, verbose: bool) -> None:
        self.output, self.verbose = output, verbose
        self.compared = Compared()

    def observed(self, observation: Observation) -> None:
        report_observation(observation)
        self.compared = compared_of(observation)

    def executing(self, plan: Plan) -> None:
        if self.output == "text":
            show_plan(plan, output="text", title="Applying", compared=self.compared, verbose=self.verbose)

    @contextlib.contextmanager
    def sending(self) -> Iterator[ProgressCallback | None]:
        if self.output != "text":
            yield None
            return
        with console.status("sending changes to Marathon...") as status:

            def on_progress(progress: Progress) -> None:
                status.update(
                    f"waiting for {len(progress.running)} of {progress.total} deployment(s) "
                    f"[dim]({progress.elapsed:.0f}s)[/]"
                )

            yield on_progress

    def settle_failed(self, error: ReconcilerError) -> None:
        print_error(f"could not observe again to settle the writes of unknown outcome: {error}")

    def following_up(self, plan: Plan) -> None:
        if self.output == "text":
            show_plan(plan, output="text", title="Registering the started tasks")


def _consul_checked(observation: Observation, code: int) -> int:
    """An apply that could not read Consul did not converge it: an error, whatever Marathon's outcome."""
    if consul_unread(observation) and code in (ExitCode.OK, ExitCode.CHANGES_PENDING):
        print_error(CONSUL_UNREAD)
        return ExitCode.ERROR
    return code


def _show_unexecuted(plan: Plan, compared: Compared, *, output: str, dry_run: bool, verbose: bool) -> int:
    if output == "json":
        print_json_document(apply_document(plan, Execution(plan.actions), Convergence(), compared))
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
        print_json_document(apply_document(plan, execution, convergence, compared))
    else:
        print_lines(plan_lines((a for a in execution.actions if a.outcome != Outcome.SUCCEEDED), verbose=verbose))
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
