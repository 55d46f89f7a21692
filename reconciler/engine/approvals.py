"""The approval gate (engine layer): what an `approval: required` environment runs, and what waits.

Such an environment runs its last approved desired state (the store's desired state named by its latest
"approved" or "rolled-back" environment event), so healing, registrations, DNS and drift correction go
on whatever the specs say meanwhile. When the specs' state of it differs, the plan from the approved
state to the specs' is recorded once as a pending plan ("awaiting-approval", with its desired state and
actions); a plan with another digest supersedes it, in the one store transaction that records it.
`reconciler approve` (engine/approving.py) applies one. With nothing approved yet, nothing of the
environment is touched. When `approve` handed the writes to the controller, the controller marks the
plan applied or failed after the cycle that sent them (`record_outcome`). When `approve` sends the writes
itself (no live controller found, `--no-consul`, `--force`), its decision's note says until when: the
controller leaves the environment alone until the plan is marked, or that time passed (an `approve`
killed midway), so that the two never both send the approved state. Every status is a
compare-and-set from the one read (store/plans.py): a plan that another reconciler decided meanwhile
keeps that decision. The controller runs the gate in its sync's worker thread. docs/approvals.md.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler.core.approvals import Review, approval_environments, in_force, matches_approved, review
from reconciler.core.compare_memo import ComparisonMemo
from reconciler.core.model import Action, Actual, Desired
from reconciler.core.plan import PlanOptions
from reconciler.engine.ports import MarathonPort
from reconciler.store import Held, PlanMove, Since, Store, StoreError
from reconciler.store.tables import PlanRecord

log = logging.getLogger("reconciler.approvals")

AWAITING = "awaiting-approval"
SUPERSEDED = "superseded"
APPROVED, APPLIED, FAILED = "approved", "applied", "failed"
APPROVED_EVENT = "approved"
# A rollback names the state to run as explicitly as an approval does.
APPROVAL_EVENTS = (APPROVED_EVENT, "rolled-back")


APPLYING_FROM_HERE = "applying from here until "
# How long past `approve`'s --deadline the controller leaves an environment to it: the plan's last mark.
SEND_MARGIN = timedelta(seconds=30)


def applying_note(now: datetime, deadline: float) -> str:
    """The note of an approval whose writes `approve` sends itself: until when the controller stands aside."""
    return APPLYING_FROM_HERE + (now + timedelta(seconds=deadline) + SEND_MARGIN).isoformat(timespec="seconds")


def applying_until(note: str) -> datetime | None:
    """The time `applying_note` wrote, or None (an approval handed to the controller, or an older one)."""
    if not note.startswith(APPLYING_FROM_HERE):
        return None
    try:
        until = datetime.fromisoformat(note.removeprefix(APPLYING_FROM_HERE))
    except ValueError:
        return None
    return until if until.tzinfo else until.replace(tzinfo=UTC)


def new_plan_id() -> str:
    """A short id a person types: 8 hex digits."""
    return secrets.token_hex(4)


@dataclass(frozen=True)
class Pending:
    """A plan waiting for an approval."""

    plan_id: str
    env: str
    revision: str
    digest: str
    actions: tuple[Action, ...]
    recorded: bool  # recorded just now (False: the same plan was already waiting)


class ApprovalGate:
    """Reads approved states and records pending plans in `store`; one per controller or command."""

    def __init__(self, store: Store, options: PlanOptions, *, new_id: Callable[[], str] = new_plan_id,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._store = store
        self._clock = clock
        self._standing_aside: dict[str, str] = {}  # env -> the plan `approve` sends itself (logged once)
        self._options = options
        self._new_id = new_id
        self._approved: dict[str, tuple[int | None, Desired | None]] = {}  # env -> (event id, approved state)
        self._approved_digest: dict[str, str] = {}  # env -> the digest its approved state was recorded under
        self._comparisons: ComparisonMemo[Any] = ComparisonMemo()  # a review each cycle compares again what moved

    def approved_state(self, env: str) -> Desired | None:
        """`env`'s last approved desired state, or None (read again only when a newer decision exists)."""
        event = self._store.last_env_event(env, APPROVAL_EVENTS)
        key = event.id if event is not None else None
        cached = self._approved.get(env)
        if cached is not None and cached[0] == key:
            return cached[1]
        state = None
        if event is not None:
            state = self._store.desired_state(env, revision=event.revision or None, digest=event.digest or None)
            if state is None and event.revision:
                state = self._store.desired_state(env, revision=event.revision)
            if state is None:
                log.error("event=approved-state-missing env=%s revision=%s digest=%s", env, event.revision[:12],
                          event.digest)
        self._approved[env] = (key, state)
        self._approved_digest[env] = event.digest if event is not None else ""
        return state

    def in_force(self, specs: Desired, actual: Actual, cycle_id: str = "") -> Desired:
        """`specs` with every approval environment at its approved state; records what waits for approval.
        A store that fails keeps the approved states read before (never the specs' unapproved ones)."""
        approved: dict[str, Desired | None] = {}
        for env in approval_environments(specs, self._options.env):
            try:
                state = self.approved_state(env)
                if self._sent_elsewhere(env):
                    approved[env] = None  # nothing of it is touched until `approve` marks its plan
                    continue
                if matches_approved(specs, state, env):
                    self._settle(env, state.revision_of(env) if state is not None else specs.revision_of(env))
                    continue
                approved[env] = state
                if actual.complete:  # a plan from a partial observation would not be the one to approve
                    reviewed = review(specs, state, actual, self._options, env, self._comparisons)
                    # Recorded only while the approved state read above is still the latest decision: a
                    # plan made before an approval that lands meanwhile would wait beside the plan just
                    # approved (the next cycle reviews against the new state).
                    since = Since(APPROVAL_EVENTS, self._approved[env][0])
                    if self._held(reviewed, specs.revision, cycle_id, since) is None:
                        log.info("event=approval-review-stale env=%s", env)
            except StoreError as exc:
                log.warning("event=approval-store-failed env=%s error=%r", env, str(exc))
                approved[env] = self._approved.get(env, (None, None))[1]
        return in_force(specs, approved) if approved else specs

    def _sent_elsewhere(self, env: str) -> bool:
        """Whether an `approve` sends the writes of `env`'s approved plan itself right now: the plan is still
        `approved` (not yet marked applied or failed) and the time its note gives has not passed."""
        for plan, _ in self._store.plans_now(env, AWAITING, (APPROVED,)):
            decision = self._store.decision_on(plan.id)
            until = applying_until(decision.note) if decision is not None else None
            if until is not None and self._clock() < until:
                if self._standing_aside.get(env) != plan.id:
                    self._standing_aside[env] = plan.id
                    log.warning("event=approval-applied-elsewhere env=%s plan=%s by=%s until=%s", env, plan.id,
                                decision.by if decision else "", until.isoformat(timespec="seconds"))
                return True
        self._standing_aside.pop(env, None)
        return False

    def hold(self, reviewed: Review, revision: str, cycle_id: str = "") -> Pending:
        """Records `reviewed` as the plan awaiting approval, unless the same plan already waits; every other
        one waiting is superseded. The check and the record are one store transaction: of reconcilers
        holding one plan at once (controllers, `apply`, `approve`), one records it and the others find it."""
        pending = self._held(reviewed, revision, cycle_id, None)
        assert pending is not None, "only a plan held against a decision is ever found stale"
        return pending

    def _held(self, reviewed: Review, revision: str, cycle_id: str, since: Since | None) -> Pending | None:
        """`hold`; with `since`, None when that decision is no longer the latest (nothing recorded)."""
        waiting = self._store.plans_still(reviewed.env, AWAITING)  # each cycle while it waits: no lock taken
        if len(waiting) == 1 and waiting[0].digest == reviewed.digest:
            return _pending(waiting[0], reviewed, recorded=False)
        held = self._record(reviewed, revision, cycle_id, replacing="", since=since)
        if held.stale:
            return None
        assert held.plan is not None, "only a plan to replace is ever found decided"
        return _pending(held.plan, reviewed, held.recorded)

    def replace_plan(self, plan_id: str, reviewed: Review, revision: str) -> Pending | PlanMove:
        """`hold` in place of plan `plan_id`, only while that one still awaits approval (a compare-and-set);
        else nothing is recorded and the answer is what that plan became, and by whom."""
        held = self._record(reviewed, revision, "", replacing=plan_id)
        if held.plan is None:
            assert held.replaced is not None
            return held.replaced
        return _pending(held.plan, reviewed, held.recorded)

    def _record(self, reviewed: Review, revision: str, cycle_id: str, *, replacing: str,
                since: Since | None = None) -> Held:
        plan_id, env = self._new_id(), reviewed.env
        held = self._store.record_pending(plan_id, env, revision, reviewed.digest, reviewed.desired, reviewed.actions,
                                          detail=_superseded_by, cycle_id=cycle_id, replacing=replacing, since=since)
        if held.recorded:
            log.warning("event=approval-pending env=%s plan=%s digest=%s revision=%s actions=%d", env, plan_id,
                        reviewed.digest, revision[:12], len(reviewed.actions))
        elif held.superseded:  # a store an older reconciler left with two plans awaiting
            log.warning("event=approval-pending-superseded env=%s plan=%s superseded=%s", env,
                        held.plan.id if held.plan else "", ",".join(held.superseded))
        return held

    def _settle(self, env: str, revision: str) -> None:
        """The state in force is the approved one (the specs reverted to it, or a rollback pinned it at
        `revision`): what waited is no longer wanted. The plan just approved is left to `approve`, which
        records its own statuses."""
        approved_digest = self._approved_digest.get(env, "")
        for plan in self._store.plans_still(env, AWAITING):
            if plan.digest != approved_digest:
                _move(self._store, plan.id, AWAITING, SUPERSEDED,
                      f"the approved state ({revision[:12]}) is in force")


async def hold_unapproved(store: Store, specs: Desired, marathon: MarathonPort, options: PlanOptions) -> list[Pending]:
    """For a one-off apply, before anything is sent: the pending plan of every approval environment in scope
    whose specs are not its approved state (recorded, or the same one found waiting); Marathon is read
    only when there is one. Empty: the apply may go ahead."""
    gate = ApprovalGate(store, options)
    approved = {env: gate.approved_state(env) for env in approval_environments(specs, options.env)}
    unapproved = {env: state for env, state in approved.items() if not matches_approved(specs, state, env)}
    if not unapproved:
        return []
    actual = await marathon.observe()
    return [gate.hold(review(specs, state, actual, options, env), specs.revision) for env, state in unapproved.items()]


def record_outcome(
    store: Store, env: str, in_force: Desired, outcome: str | None, detail: str, *, at: datetime | None = None
) -> None:
    """After a controller cycle of approval environment `env` that reconciled `in_force`: each plan of it
    approved (or failed before) whose state that was is marked `outcome` (APPLIED: the cycle's writes all
    succeeded; FAILED: one failed, and the controller retries; None: still on its way, nothing marked), at
    `at` (the cycle's time: the mark may be written later, engine/store_backlog.py). One that cycle did not
    run whose approval a later approval or a rollback replaced is marked superseded (now): a plan the cycle ran
    keeps its outcome, also when an approval recorded since the cycle is read first. Each mark is a
    compare-and-set from the state read now: a plan another reconciler decided meanwhile (applied,
    superseded) is not read, and one it marked failed the controller's later success marks applied, as
    at any cycle."""
    plans = store.plans_now(env, AWAITING, (APPROVED, FAILED))
    latest = store.last_env_event(env, APPROVAL_EVENTS) if plans else None
    if latest is None:
        return
    what = "the approval" if latest.kind == APPROVED_EVENT else "the rollback"
    replaced = f"by {what} of revision {latest.revision[:12]}" + (f" ({latest.detail})" if latest.detail else "")
    for plan, status in plans:
        if outcome is not None and (status, outcome) != (FAILED, FAILED) and \
                matches_approved(in_force, store.desired_state(env, digest=plan.digest), env):
            _move(store, plan.id, status, outcome, detail, at=at)
        elif latest.digest != plan.digest:
            _move(store, plan.id, status, SUPERSEDED, replaced)  # judged now, from the approval read now


def _superseded_by(plan: PlanRecord) -> str:
    """The detail of a plan superseded by `plan`, the one that awaits approval."""
    return f"by plan {plan.id} (revision {plan.revision[:12]})"


def _pending(plan: PlanRecord, reviewed: Review, recorded: bool) -> Pending:
    return Pending(plan.id, plan.env, plan.revision, plan.digest, reviewed.actions, recorded)


def _move(store: Store, plan_id: str, expected: str, status: str, detail: str, *, at: datetime | None = None) -> None:
    """Marks plan `plan_id` `status` (at `at`, now by default) if it still is `expected`; another reconciler
    (`approve`, another controller) that decided it first keeps its word, and the log says so."""
    move = store.move_plan(plan_id, expected, status, detail=detail, at=at)
    if not move.moved:
        log.info("event=plan-status-taken plan=%s wanted=%s found=%s detail=%r", plan_id, status, move.state,
                 move.detail)
