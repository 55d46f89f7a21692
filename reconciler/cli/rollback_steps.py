"""What `reconciler rollback` and `reconciler resume` do once their flags are parsed (face layer).

Imported when either command runs (cli/rollback.py), so that their `--help` loads neither the store,
the engine nor the clients.
"""

from __future__ import annotations

import getpass
import socket

import typer

from reconciler.cli.adapters import ConsulChoice, marathon_client, optional_consul
from reconciler.cli.event_loop import run_returning
from reconciler.cli.output import console, print_error
from reconciler.cli.plan_view import counted, listed
from reconciler.cli.settings import GlobalSettings
from reconciler.core.model import Desired, Outcome
from reconciler.engine.pins import PAUSE_KINDS, Pin, apply_pinned, read_pin, recorded_whole
from reconciler.engine.routing import AgentRouting
from reconciler.engine.sync import SyncResult
from reconciler.errors import ExitCode, GuardRefused, ReconcilerError, UsageError
from reconciler.store import Store
from reconciler.store.tables import AppliedRevision

RECENT = 10  # revisions listed when --to names none


def operator() -> str:
    """Who ran the command: user@host, as the store records it."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def rollback_env(
    settings: GlobalSettings, env: str, to: str, *, database: str | None, deadline: float, consul: str | None,
    no_consul: bool, consul_agent: AgentRouting, prune: bool, force: bool,
) -> None:
    """`reconciler rollback` with its flags checked; ends with the command's exit."""
    store = Store.open(database, must_exist=True)
    try:
        revision = find_revision(store, env, to)
        if store.desired_state(env, digest=revision.digest) is None:
            raise UsageError(f"--to: no desired state of {env} at {revision.revision[:12]} is recorded",
                             hint="only revisions synced by this version of the controller can be rolled back to")
        by = operator()
        store.record_env_event(env, "paused", revision=revision.revision, digest=revision.digest, by=by,
                               detail="rollback")
        store.record_env_event(env, "rolled-back", revision=revision.revision, digest=revision.digest, by=by)
        pin = read_pin(store, env)
        assert pin is not None  # just recorded, with a desired state that exists
        whole = recorded_whole(store, pin)
    finally:
        store.close()
    console.print(f"{env} paused at {revision.revision[:12]} by {by}; applying its recorded desired state"
                  f" ({len(pin.desired.apps)} apps)")
    choice = ConsulChoice(enabled=not no_consul, url=consul, routing=consul_agent)
    try:
        result = run_returning(_apply(settings, pin, whole, choice, deadline, prune=prune, force=force))
        _refuse_held(result, env, revision.revision)
    except ReconcilerError as exc:
        # The pause is recorded before anything is sent: a controller on the store goes on with the rollback.
        stays = (f"{env} stays paused at {revision.revision[:12]}: a controller on this store applies that state from"
                 f" its next cycle; run the rollback again, or undo it with `reconciler resume {env}`")
        exc.hint = f"{exc.hint}; {stays}" if exc.hint else stays
        raise
    raise typer.Exit(_report(result, env, pin.revision))


async def _apply(settings: GlobalSettings, pin: Pin, whole: Desired, choice: ConsulChoice, deadline: float, *,
                 prune: bool, force: bool) -> SyncResult:
    async with marathon_client(settings) as marathon, optional_consul(settings, choice) as consul:
        return await apply_pinned(pin, whole, marathon, consul, routing=choice.routing, deadline=deadline,
                                  prune=prune, force=force)


def _refuse_held(result: SyncResult, env: str, revision: str) -> None:
    """A prune the guard refused sent nothing at all (apply_pinned): each refused action, then the refusal."""
    if not (held := result.held):
        return
    for action in held:
        console.print(action.line(), soft_wrap=True, markup=False, highlight=False)
    raise GuardRefused(f"the rollback of {env} to {revision[:12]} was refused by a guard; nothing was sent",
                       hint="--force lifts the prune limit; without --prune the apps the revision does not hold"
                            " are left running")


def _report(result: SyncResult, env: str, revision: str) -> int:
    """Each action sent with its outcome, why an app did not converge, and the apps the revision does not
    hold (left running without --prune); 0 when all went well."""
    actions = result.execution.actions if result.execution else ()
    for action in actions:
        if action.outcome != Outcome.PLANNED:
            console.print(action.line(), soft_wrap=True, markup=False, highlight=False)
    execution = result.execution
    failed = bool(execution and (execution.failed or execution.unknown or execution.timed_out))
    for app_id, why in result.convergence.stuck.items():
        print_error(f"{app_id}: {why}")
    if result.convergence.unconverged:
        print_error("not converged yet: " + ", ".join(result.convergence.unconverged))
    if left := result.plan.prunable:
        console.print(f"{counted(len(left), 'app')} of {env} {'is' if len(left) == 1 else 'are'} not in"
                      f" {revision[:12]} and {'was' if len(left) == 1 else 'were'} left running: {listed(left)}"
                      f" (roll back with --prune to delete {'it' if len(left) == 1 else 'them'}; a controller run"
                      f" with --prune deletes {'it' if len(left) == 1 else 'them'} while {env} stays paused)",
                      soft_wrap=True, markup=False, highlight=False)
    done = sum(1 for a in actions if a.outcome == Outcome.SUCCEEDED)
    console.print(f"rolled back: {done} action(s) succeeded; {env} stays paused until `reconciler resume {env}`")
    return ExitCode.ERROR if failed or result.convergence.unconverged else ExitCode.OK


def find_revision(store: Store, env: str, prefix: str) -> AppliedRevision:
    """The one recorded revision of `env` starting with `prefix`; a usage error listing the recent ones."""
    known = store.environments()
    if env not in known:
        raise UsageError(f"no environment {env!r} in the store at {store.url}",
                         hint=f"the environments are: {', '.join(known) or 'none recorded yet'}")
    matches = store.revisions(env, prefix=prefix) if prefix else []
    found = list(dict.fromkeys(m.revision for m in matches))
    if len(found) == 1:
        return matches[0]
    if found:  # each named as far as it differs from the others
        shown = ", ".join(r[:_distinct_length(found)] for r in found[:RECENT])
        more = f" and {len(found) - RECENT} more" if len(found) > RECENT else ""
        raise UsageError(f"--to: {prefix!r} matches {len(found)} revisions of {env}: {shown}{more}",
                         hint="give more of the sha, enough to name one of them")
    recent = list(dict.fromkeys(r.revision[:12] for r in store.revisions(env, limit=RECENT * 4)))[:RECENT]
    raise UsageError(f"--to: {prefix!r} is not a recorded revision of {env}",
                     hint=f"recent revisions of {env}, newest first: {', '.join(recent) or 'none'}")


def _distinct_length(revisions: list[str]) -> int:
    """How many leading characters tell `revisions` apart (at least 12, as revisions are shown elsewhere)."""
    length = 12
    while length < max(map(len, revisions)) and len({r[:length] for r in revisions}) < len(revisions):
        length += 1
    return length


def resume_env(env: str, database: str | None) -> None:
    """`reconciler resume`; ends with the command's exit."""
    store = Store.open(database, must_exist=True)
    try:
        known = store.environments()
        if env not in known:
            raise UsageError(f"no environment {env!r} in the store at {store.url}",
                             hint=f"the environments are: {', '.join(known) or 'none recorded yet'}")
        last = store.last_env_event(env, PAUSE_KINDS)
        if last is None or last.kind != "paused":
            console.print(f"{env} is not paused; nothing to resume")
            raise typer.Exit(ExitCode.OK)
        store.record_env_event(env, "resumed", revision=last.revision, digest=last.digest, by=operator())
        paused_at = store.desired_state(env, digest=last.digest) if last.digest else None
    finally:
        store.close()
    where = f"it was paused at {last.revision[:12]} by {last.by}"
    environment = paused_at.environments.get(env) if paused_at is not None else None
    if environment is not None and environment.approval_required:
        # The rollback's state stays the approved one: the specs' state is a change to approve like any other.
        console.print(f"{env} resumed ({where}); it requires an approval (`approval: required`), so it stays at its"
                      " approved state: from its next cycle the controller records the specs' state as a plan"
                      f" awaiting approval (`reconciler status` shows its id; approve it: `reconciler approve {env}"
                      " PLAN-ID`)", soft_wrap=True, markup=False)
        raise typer.Exit(ExitCode.OK)
    console.print(f"{env} resumed: the controller follows the specs again from its next cycle ({where})")
    raise typer.Exit(ExitCode.OK)
