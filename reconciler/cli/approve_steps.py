"""What `reconciler approve` does once its flags are parsed (face layer), and the approval check apply makes.

Imported when a command runs (cli/approve.py, cli/apply_steps.py), so that `approve --help` loads
neither the store, the engine nor the clients.
"""

from __future__ import annotations

import asyncio
import getpass
import socket
from dataclasses import dataclass

import typer

from reconciler.cli.adapters import ConsulChoice, marathon_client, optional_consul
from reconciler.cli.output import console, err_console, print_error
from reconciler.cli.plan_view import plan_lines, print_warning
from reconciler.cli.settings import GlobalSettings
from reconciler.core.approvals import approval_environments
from reconciler.core.model import Desired
from reconciler.core.plan import PlanOptions
from reconciler.engine.approvals import Pending, hold_unapproved
from reconciler.engine.approving import Approval, approve
from reconciler.engine.execute import ExecuteOptions
from reconciler.engine.ownership import forced_over, read_owner
from reconciler.engine.ports import MarathonPort
from reconciler.errors import ExitCode, GuardRefused
from reconciler.store import Store


def approve_plan(
    settings: GlobalSettings, env: str, plan_id: str, *, database: str | None, wait: bool, deadline: float,
    consul: str | None, no_consul: bool, leader_key: str, force: bool,
) -> None:
    """`reconciler approve` with its flags parsed; ends with the command's exit."""
    lock = _Lock(ConsulChoice(enabled=not no_consul, url=consul), leader_key, force)
    raise typer.Exit(asyncio.run(_approve(settings, env, plan_id, database, ExecuteOptions(wait=wait,
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
