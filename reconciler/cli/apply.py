"""`reconciler apply` (face layer): execute the same plan object that `plan` shows.

A plan with refusals (prune guard) sends nothing and exits 4: nothing is half-applied. A plan with
no pending action sends no write at all.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from reconciler.cli.adapters import desired_from_folder, marathon_client
from reconciler.cli.output import console, print_error
from reconciler.cli.plan import EnvOpt, ForceOpt, OutputOpt, PruneOpt, SpecsArg, check_output
from reconciler.cli.plan_view import plan_lines, show_plan
from reconciler.cli.settings import GlobalSettings
from reconciler.core.export import plan_as_dict
from reconciler.core.model import Actual, Desired, Plan
from reconciler.core.plan import PlanOptions, build_plan
from reconciler.engine.execute import ExecuteOptions, Execution, Progress, execute_plan
from reconciler.errors import ExitCode


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
) -> None:
    """Make Marathon match the specs (exit 0 ok, 1 error, 3 invalid specs, 4 refused by a guard)."""
    check_output(output)
    desired = desired_from_folder(specs, env=env)
    options = PlanOptions(prune=prune, force=force, env=env)
    code = asyncio.run(_apply(ctx.obj, desired, options, dry_run=dry_run, wait=wait, timeout=timeout, output=output))
    raise typer.Exit(code)


async def _apply(
    settings: GlobalSettings, desired: Desired, options: PlanOptions, *, dry_run: bool, wait: bool, timeout: float,
    output: str,
) -> int:
    async with marathon_client(settings) as marathon:
        actual = await marathon.observe()
        plan = build_plan(desired, actual, options)
        if dry_run or plan.empty or plan.refused:
            return _show_unexecuted(plan, output=output, dry_run=dry_run)
        if output == "text":
            show_plan(plan, output="text", title="Applying")
        execution = await _execute_with_progress(plan, marathon, ExecuteOptions(wait=wait, timeout=timeout), output)
        after = await marathon.observe() if wait and not execution.failed else None
    return _report(plan, execution, desired, after, output=output)


def _show_unexecuted(plan: Plan, *, output: str, dry_run: bool) -> int:
    show_plan(plan, output=output, title="Dry run" if dry_run else "Plan")
    if plan.refused:
        print_error("refused by a guard; nothing was applied (see the refused actions above)")
        return ExitCode.REFUSED
    if output == "text" and dry_run:
        console.print("[dim]dry run: nothing was sent to Marathon.[/]")
    if dry_run and not plan.empty:
        return ExitCode.CHANGES_PENDING
    return ExitCode.OK


async def _execute_with_progress(plan: Plan, marathon: object, options: ExecuteOptions, output: str) -> Execution:
    if output != "text":
        return await execute_plan(plan, marathon, options)  # type: ignore[arg-type]
    with console.status("sending changes to Marathon...") as status:

        def on_progress(progress: Progress) -> None:
            status.update(
                f"waiting for {len(progress.running)} of {progress.total} deployment(s) "
                f"[dim]({progress.elapsed:.0f}s)[/]"
            )

        return await execute_plan(plan, marathon, options, on_progress)  # type: ignore[arg-type]


def _report(plan: Plan, execution: Execution, desired: Desired, after: Actual | None, *, output: str) -> int:
    done = Plan(actions=execution.actions, revision=plan.revision)
    converged = _unconverged(desired, after) if after is not None else None
    if output == "json":
        data = plan_as_dict(done) | {"deployments": list(execution.deployment_ids), "timed_out": execution.timed_out}
        if converged is not None:
            data["unconverged"] = converged
        console.print_json(json.dumps(data, default=str))
    else:
        for line in plan_lines(a for a in execution.actions if a.outcome != "succeeded"):
            console.print(line, soft_wrap=True)
        _print_outcome(execution, converged)
    failed = bool(execution.failed) or execution.timed_out or bool(converged)
    return ExitCode.ERROR if failed else ExitCode.OK


def _print_outcome(execution: Execution, unconverged: list[str] | None) -> None:
    ok = sum(1 for a in execution.actions if a.outcome == "succeeded")
    console.print(f"[bold]Applied:[/] {ok} succeeded, {len(execution.failed)} failed.")
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
