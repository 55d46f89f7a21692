"""Approving a pending plan (engine layer): re-plan it from a fresh observation, then apply exactly it.

The plan's desired state comes back from the store and is planned again against Marathon as it is now.
Only when that plan has the digest that was shown is it approved and applied; otherwise nothing is sent
and the new plan is recorded to be approved instead, only while the plan still awaits approval (when
another reconciler approved it meanwhile, its writes are what changed Marathon: approve says so). When
a live controller owns the environment, the approval is handed to it through the store (it reconciles
the approved state: its next cycle sends the writes) and nothing is sent from here, so that two writers
never fight. Otherwise the approval is recorded before the writes go out (a store that then fails to
record their outcome is an error saying they went out). Each status is a compare-and-set in the store:
of two reconcilers deciding the plan at once (two `approve`s, or `approve --force` beside the
controller), one does, and the other says what it found. Consul follows Marathon: the controller (or the
next apply) registers the tasks started here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from reconciler.core.approvals import narrowed, review
from reconciler.core.model import ActionKind, Plan
from reconciler.core.plan import PlanOptions, build_plan
from reconciler.engine.approvals import (
    APPLIED,
    APPROVED,
    APPROVED_EVENT,
    AWAITING,
    FAILED,
    ApprovalGate,
    Pending,
    applying_note,
    applying_until,
)
from reconciler.engine.execute import ExecuteOptions, Execution, execute_plan
from reconciler.engine.ports import MarathonPort
from reconciler.errors import ExitCode, ReconcilerError
from reconciler.store import PlanMove, Store, StoreError
from reconciler.store.tables import PlanRecord


class NotPending(ReconcilerError):
    """The plan id names no plan of the environment that awaits approval (exit 2, a usage error)."""

    exit_code = ExitCode.USAGE
    code = "not-pending"


@dataclass(frozen=True)
class Approval:
    """What `approve` did: applied (`execution`), or found the actual state changed (`replaced_by`)."""

    plan: PlanRecord
    execution: Execution | None = None
    replaced_by: Pending | None = None
    handed_to: str = ""  # the live controller that sends the writes (nothing was sent from here)
    pending: int = 0  # how many writes the approved plan makes
    # Another reconciler (a live controller, with --force) marked the plan's outcome before these writes
    # ended: its status stays what that one found, not this execution's.
    marked_by_other: PlanMove | None = None

    @property
    def failed(self) -> bool:
        done = self.execution
        return done is not None and bool(done.failed or done.unknown or done.timed_out)


def pending_plan(store: Store, env: str, plan_id: str) -> PlanRecord:
    """The plan `plan_id` of `env` if it awaits approval; else NotPending naming the ones that do."""
    plan = store.plan(plan_id)
    status = store.plan_status(plan_id) if plan is not None else None
    if plan is not None and plan.env == env and status == AWAITING:
        return plan
    why = "is not a plan of" if plan is None or plan.env != env else f"is {status}, not awaiting approval, in"
    raise _not_pending(store, env, f"plan {plan_id} {why} environment {env}")


def _not_pending(store: Store, env: str, what: str) -> NotPending:
    waiting = [p.id for p in store.plans_still(env, AWAITING)]
    listed = ", ".join(waiting) if waiting else "none"
    return NotPending(f"{what}; awaiting approval there: {listed}",
                      hint="`reconciler history --env ENV` shows every plan")


async def approve(
    store: Store, marathon: MarathonPort, env: str, plan_id: str, *, by: str, execute: ExecuteOptions,
    handed_to: str = "",
) -> Approval:
    """Applies pending plan `plan_id` of `env` if Marathon still gives it the same digest; with `handed_to`
    (the live controller owning `env`), approves it and leaves the writes to that controller."""
    plan = pending_plan(store, env, plan_id)
    desired = store.desired_state(env, digest=plan.digest)
    if desired is None:
        raise StoreError(f"the desired state of plan {plan_id} is not in the store",
                         hint="the plan cannot be applied; a new commit (or `apply`) records a new one")
    prune = any(a.kind == ActionKind.DELETE for a in store.actions_of(plan_id))
    options = PlanOptions(prune=prune, env=env)
    gate = ApprovalGate(store, options)
    actual = await marathon.observe()
    fresh = review(desired, gate.approved_state(env), actual, options, env)
    if fresh.digest != plan.digest:
        # Only while the plan still awaits: when another reconciler approved it meanwhile, its writes may be
        # what changed Marathon, and a plan from that state would ask to approve nothing.
        replaced = gate.replace_plan(plan_id, fresh, plan.revision)
        if isinstance(replaced, PlanMove):
            raise _decided_meanwhile(store, env, plan_id, replaced)
        return Approval(plan, replaced_by=replaced)
    writes = build_plan(narrowed(desired, env), actual, options)
    handing = f"; the live controller {handed_to} applies it" if handed_to else ""
    # The approved state and the plan's status in one transaction: a controller cycle never sees one without
    # the other, and of two reconcilers approving (or superseding) the plan at once, one does.
    # Sent from here: the note tells a controller on this store to leave ENV alone until the plan is marked.
    note = "" if handed_to else applying_note(store.now(), execute.timeout)
    approved = store.approve_plan(plan, AWAITING, APPROVED, by=by, event=APPROVED_EVENT, detail=f"by {by}{handing}",
                                  event_detail=f"plan {plan_id}", note=note)
    if not approved.moved:
        raise _decided_meanwhile(store, env, plan_id, approved)
    if handed_to:
        return Approval(plan, handed_to=handed_to, pending=len(writes.pending))
    execution = await execute_plan(writes, marathon, execute) if not writes.empty else Execution(writes.actions)
    approval = Approval(plan, execution, pending=len(writes.pending))
    try:
        store.record_actions(plan_id, [a for a in execution.actions if a.kind != ActionKind.WARN])
        outcome = store.move_plan(plan_id, APPROVED, FAILED if approval.failed else APPLIED,
                                  detail=_summary(writes, execution))
    except StoreError as exc:
        raise _unrecorded(plan, writes, execution, exc, applying_until(note)) from None
    return approval if outcome.moved else replace(approval, marked_by_other=outcome)


def _unrecorded(
    plan: PlanRecord, writes: Plan, execution: Execution, exc: StoreError, until: datetime | None
) -> StoreError:
    """The writes went out but their outcome is not in the store: say so, or a person would approve again."""
    then = "the plan stays approved until a controller's cycle reconciles its state and marks it"
    if until is not None:  # a controller leaves the environment to this command until then
        then += f" (from {until.isoformat(timespec='seconds')} on)"
    return StoreError(f"plan {plan.id} of {plan.env} was approved and its writes went out"
                      f" ({_summary(writes, execution)}), but the store did not record their outcome: {exc.message}",
                      hint=f"{exc.hint}; {then}" if exc.hint else then)


def _decided_meanwhile(store: Store, env: str, plan_id: str, found: PlanMove) -> NotPending:
    """What another reconciler made of the plan since it was read awaiting approval, and who."""
    what = f"marked {found.state} meanwhile" + (f", {found.detail}" if found.detail else "")
    decision = store.decision_on(plan_id) if found.state in (APPLIED, FAILED) else None
    if decision is not None:  # the outcome's detail tells what the writes did; the approval, by whom
        what = f"approved meanwhile by {decision.by} and marked {found.state}" + (
            f" ({found.detail})" if found.detail else "")
    return _not_pending(store, env, f"plan {plan_id} was {what}: it was not approved from here and nothing was sent")


def _summary(plan: Plan, execution: Execution) -> str:
    done = sum(1 for a in execution.actions if a.outcome == "succeeded")
    return f"{done} of {len(plan.pending)} action(s) succeeded" + (" (deadline passed)" if execution.timed_out else "")
