"""`reconciler approve ENV PLAN-ID` (face layer): apply a plan awaiting approval, exactly as shown.

The plan comes from the store `reconciler run` (or a refused `apply`) recorded it in. Marathon is
observed afresh and the plan made again: only with an unchanged digest is it approved and applied;
otherwise nothing is sent and the new plan's id is printed to approve instead (exit 4). An id that
awaits nothing (or that another reconciler approved or superseded meanwhile) is a usage error (exit 2)
listing the ids that do; when another reconciler marked the plan's outcome while the writes from here went
out, a warning says so and the exit code is that of those writes. When a live controller owns the
environment (its leader lock, `--leader-key`), the approval is handed to it through the store and
nothing is sent from here, unless `--force`. docs/approvals.md.
"""

from __future__ import annotations

import asyncio
import getpass
import socket
from dataclasses import dataclass
from typing import Annotated

import typer

from reconciler.cli.adapters import ConsulChoice, marathon_client, optional_consul
from reconciler.cli.consul_opts import ConsulOpt, LeaderKeyOpt, NoConsulOpt
from reconciler.cli.output import console, err_console, print_error
from reconciler.cli.plan_view import plan_lines, print_warning
from reconciler.cli.settings import GlobalSettings
from reconciler.cli.store_opts import DatabaseOpt
from reconciler.core.approvals import approval_environments
from reconciler.core.model import Desired
from reconciler.core.plan import PlanOptions
from reconciler.engine.approvals import Pending, hold_unapproved
from reconciler.engine.approving import Approval, approve
from reconciler.engine.execute import ExecuteOptions
from reconciler.engine.ownership import DEFAULT_KEY, forced_over, read_owner
from reconciler.engine.ports import MarathonPort
from reconciler.errors import ExitCode, GuardRefused
from reconciler.store import Store

EnvArg = Annotated[str, typer.Argument(metavar="ENV", help="The environment the plan belongs to.")]
PlanArg = Annotated[str, typer.Argument(metavar="PLAN-ID",
                                        help="The id of the plan awaiting approval (status, history, apply show it).")]


def register(app: typer.Typer) -> None:
    app.command("approve")(approve_command)


def approve_command(
    ctx: typer.Context,
    env: EnvArg,
    plan_id: PlanArg,
    database: DatabaseOpt = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the deployments.")] = True,
    deadline: Annotated[float, typer.Option("--deadline", help="How long to wait for the deployments (s).")] = 300.0,
    consul: ConsulOpt = None,
    no_consul: NoConsulOpt = False,
    leader_key: LeaderKeyOpt = DEFAULT_KEY,
    force: Annotated[bool, typer.Option("--force", help="Send the writes from here even when a live controller"
                                                      " owns ENV (it would otherwise apply the approval).")] = False,
) -> None:
    """Apply a plan awaiting approval if Marathon has not changed since (exit 0 applied or handed to the live
    controller, 1 failed, 2 no such pending plan, 4 the actual state changed: approve the new plan)."""
    lock = _Lock(ConsulChoice(enabled=not no_consul, url=consul), leader_key, force)
    raise typer.Exit(asyncio.run(_approve(ctx.obj, env, plan_id, database, ExecuteOptions(wait=wait,
                                                                                          timeout=deadline), lock)))


@dataclass(frozen=True)
class _Lock:
    """Where the leader lock is read, and whether `--force` sends the writes over a live controller."""

    consul: ConsulChoice
    key: str
    force: bool


def approver() -> str:
    """user@host, as the store records who approved."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


async def _approve(settings: GlobalSettings, env: str, plan_id: str, database: str | None,
                   execute: ExecuteOptions, lock: _Lock) -> int:
    store = Store.open(database, must_exist=True)
    try:
        async with marathon_client(settings) as marathon, optional_consul(settings, lock.consul) as consul:
            owner, unread = await read_owner(consul, [env], key=lock.key)
            if note := unread or (forced_over(owner, "approving and applying") if lock.force else None):
                print_warning(note)
            handed_to = owner.describe() if owner is not None and not lock.force else ""
            approval = await approve(store, marathon, env, plan_id, by=approver(), execute=execute,
                                     handed_to=handed_to)
    finally:
        store.close()
    return _report(env, approval)


async def unapproved(
    database: str | None, desired: Desired, marathon: MarathonPort, options: PlanOptions
) -> list[Pending]:
    """The plans awaiting approval that stop an apply of `desired` (recorded in the store), or none."""
    if not approval_environments(desired, options.env):
        return []  # no store is opened (nor created) for an apply that needs no approval
    store = Store.open(database)
    try:
        return await hold_unapproved(store, desired, marathon, options)
    finally:
        store.close()


def show_pending(pending: Pending) -> None:
    """A plan awaiting approval, its actions and the command approving it (on stderr)."""
    err_console.print(f"Plan {pending.plan_id} of {pending.env} awaits approval ({len(pending.actions)} action(s),"
                      f" digest {pending.digest}):", soft_wrap=True, markup=False)
    for line in plan_lines(pending.actions):
        err_console.print(line, soft_wrap=True)
    err_console.print(f"  approve it: reconciler approve {pending.env} {pending.plan_id}", soft_wrap=True, markup=False)


def refuse_unapproved(held: list[Pending], desired: Desired) -> None:
    """apply's answer when an environment in scope waits for an approval: the plans, how to approve them,
    and a refusal (exit 4). Nothing was sent, to any environment."""
    for pending in held:
        show_pending(pending)
    names = [p.env for p in held]
    others = sorted(set(desired.environments) - set(names))
    hint = "approve the plan above, then apply again"
    if others:
        hint += "; the environments that need no approval: " + " ".join(f"`reconciler apply --env {e}`" for e in others)
    raise GuardRefused(f"refused: {', '.join(names)} {'requires' if len(names) == 1 else 'require'} an approval"
                       " (`approval: required`); nothing was sent, to any environment", hint=hint)


def _report(env: str, approval: Approval) -> int:
    if approval.replaced_by is not None:
        new = approval.replaced_by
        show_pending(new)
        print_error(f"Marathon changed since plan {approval.plan.id} was made, so it was not applied: nothing was"
                    f" sent. Approve the plan from the state now instead: reconciler approve {env} {new.plan_id}")
        return ExitCode.REFUSED
    if approval.handed_to:
        console.print(f"[bold]Approved:[/] plan {approval.plan.id} of {env} (digest {approval.plan.digest}, revision"
                      f" {approval.plan.revision[:12]}). The live controller {approval.handed_to} owns {env}: its"
                      f" next cycle sends the {approval.pending} action(s); nothing was sent from here.",
                      soft_wrap=True)
        return ExitCode.OK
    execution = approval.execution
    assert execution is not None
    for line in plan_lines(a for a in execution.actions if a.outcome != "succeeded"):
        console.print(line, soft_wrap=True)
    if (other := approval.marked_by_other) is not None:
        by = f" ({other.detail})" if other.detail else ""
        print_warning(f"plan {approval.plan.id} was marked {other.state} by another reconciler while these writes"
                      f" went out{by}: its status stays as that one recorded it; what follows is this command's own"
                      " outcome")
    done = sum(1 for a in execution.actions if a.outcome == "succeeded")
    if approval.failed:
        unfinished = len(execution.failed) + len(execution.unknown)
        late = " and the deadline passed" if execution.timed_out else ""
        print_error(f"plan {approval.plan.id} of {env} was approved, but {unfinished} action(s) failed or were of"
                    f" unknown outcome{late}; the controller (or the next apply) retries them from the approved state")
        return ExitCode.ERROR
    console.print(f"[bold]Approved and applied:[/] plan {approval.plan.id} of {env} (digest {approval.plan.digest},"
                  f" revision {approval.plan.revision[:12]}): {done} action(s) succeeded.", soft_wrap=True)
    return ExitCode.OK
