"""Plans and their states in the store (layer 3 adapter, store).

A plan is recorded with a status; each later one is appended as a `plan_events` row, and the plan's
`state` column holds the latest. A reconciler moves a plan from the state it read to the next one with
a compare-and-set (one UPDATE ... WHERE state = the state read, in the transaction that appends the
event), so two of them (a controller and `approve --force`, two `approve`s) never both decide a plan's
fate: the one that finds the state changed is told what it is now, and records nothing. A plan awaiting
approval is recorded in one transaction holding the environment's lock (`hold_plan`): the check for the
same plan waiting, the record, and the superseding of every other one, so that one plan of an environment
awaits approval afterwards.

An older reconciler (schema v5: the leader still running in a rolling upgrade, beside a newer one that
migrated the store) records plans with `state` '' and gives them later statuses as events only. So a plan
whose state is not final (applied, superseded: nothing moves it on) is read as its latest status says (its
latest event, else the status it was recorded with), and a compare-and-set (`hold_plan` too) first writes
that into `state` for the plans it may move, in its transaction: on PostgreSQL with their rows locked first,
so the events read are all those committed before (a reconciler of this version commits a state and its
event together); on SQLite under the database's write lock. Only plans not final (a handful) are looked up,
and never from a WHERE over every plan (PostgreSQL would cost one per plan).

Two edges of that upgrade. A plan's latest event is its last appended (the highest id), not the one with
the latest `at`: two replicas' clocks differ, and the one running behind would sort its later event first.
And the old leader, which takes no compare-and-set, may append a status to a plan this version had already
superseded: `approve` of the old version approving it (whose environment event makes the controller run
its desired state) or the old controller applying it. The plan is then what that later event says (the
approval took effect), so a superseded plan with a later event of another status is read, and repaired, as
that event says. Applied is the one state nothing changes: its actions were sent; an old leader's later
event on it (superseded, failed) stays in the history only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, SQLModel, col, select
from sqlmodel.sql.expression import SelectOfScalar

from reconciler.store.sessions import Sessions, as_utc
from reconciler.store.tables import ApprovalDecision, EnvEvent, PlanEvent, PlanRecord

AWAITING = "awaiting-approval"
SUPERSEDED = "superseded"
APPLIED = "applied"
# A plan's fate once in one of these: no reconciler of this version moves it on (engine/approvals.py's state
# machine); only an older one's later event moves a superseded plan on (the module's docstring).
FINAL = (APPLIED, SUPERSEDED)


@dataclass(frozen=True)
class PlanMove:
    """A compare-and-set of a plan's state: `moved`, else the `state` the plan was found in (None: no such
    plan) and the `detail` the reconciler that moved it there recorded."""

    moved: bool
    state: str | None
    detail: str = ""


@dataclass(frozen=True)
class Held:
    """What `hold_plan` did: `plan` awaits approval, recorded just now (`recorded`) or found waiting with the
    same digest, and it superseded the plans `superseded`; or nothing was written because the plan it was
    to replace no longer awaits approval (`plan` None; `replaced`: what that plan is now, and why)."""

    plan: PlanRecord | None
    recorded: bool = False
    superseded: tuple[str, ...] = ()
    replaced: PlanMove | None = None
    stale: bool = False  # nothing written: the environment's decision moved since the plan was made (`Since`)


@dataclass(frozen=True)
class Since:
    """The environment's latest event among `kinds` that a plan was made against (`event_id` None: none
    yet). `hold_plan` records the plan only while that event is still the latest: a plan made from the
    state before an approval landed would wait beside the plan just approved."""

    kinds: tuple[str, ...]
    event_id: int | None


class PlanStore(Sessions):
    """The plan half of the store (Store adds the rest)."""

    def record_plan(
        self, plan_id: str, env: str, revision: str, digest: str, status: str, *, cycle_id: str = ""
    ) -> PlanRecord:
        row = PlanRecord(id=plan_id, env=env, revision=revision, digest=digest, status=status, state=status,
                         cycle_id=cycle_id, at=self.now())
        return self._add([row])[0]

    def move_plan(
        self, plan_id: str, expected: str, status: str, *, detail: str = "", at: datetime | None = None
    ) -> PlanMove:
        """Plan `plan_id` from state `expected` to `status`, with `detail`, its event at `at` (now by default: a
        controller's mark written late keeps its cycle's time); not moved when it is not (or no longer)
        `expected`."""
        return self._move(plan_id, expected, status, detail, (), at=at)

    def approve_plan(
        self, plan: PlanRecord, expected: str, status: str, *, by: str, event: str, detail: str = "",
        event_detail: str = "", note: str = "",
    ) -> PlanMove:
        """Moves `plan` from `expected` to `status` and, in the same transaction, records the decision by `by`
        and the environment event `event` naming the plan's desired state (what a controller runs from then
        on): all of it, or nothing when the plan is no longer `expected`."""
        at = self.now()
        rows = [EnvEvent(env=plan.env, kind=event, revision=plan.revision, digest=plan.digest, by=by,
                         detail=event_detail, at=at),
                ApprovalDecision(plan_id=plan.id, env=plan.env, digest=plan.digest, decision=status, by=by, at=at,
                                 note=note)]
        return self._move(plan.id, expected, status, detail, rows, lock=_plans_lock(plan.env))

    def hold_plan(
        self, plan: PlanRecord, rows: Sequence[SQLModel], *, detail: Callable[[PlanRecord], str], replacing: str = "",
        since: Since | None = None,
    ) -> Held:
        """Records `plan` (awaiting approval; `rows`: its desired state and actions) unless a plan of its digest
        awaits already (the newest such one is kept instead), and marks every other plan of its environment
        awaiting superseded (`detail` of the plan kept), in one transaction that holds the environment's lock:
        of reconcilers recording one plan at once, one does and the others find it, and one plan awaits
        afterwards (also on a store an older reconciler left with two). With `replacing` (a plan id): only
        while that plan still awaits approval (it is superseded too, unless it is the plan kept). With `since`:
        only while the event it names is still the environment's latest of its kinds (else `stale`); an
        approval (`approve_plan`) takes the same lock, so none lands between that check and the record."""
        try:
            with self.serialised(_plans_lock(plan.env)) as session:
                if since is not None and _latest_decision(session, plan.env, since.kinds) != since.event_id:
                    return Held(None, stale=True)
                held = self._hold(session, plan, rows, detail, replacing)
        except sa.exc.SQLAlchemyError as exc:
            raise self.write_failed(exc, f"plan {plan.id} was not recorded; check the database") from None
        return held if held is not None else Held(None, replaced=self._found(replacing))

    def _hold(self, session: Session, plan: PlanRecord, rows: Sequence[SQLModel],
              detail: Callable[[PlanRecord], str], replacing: str) -> Held | None:
        """hold_plan's transaction; None: `replacing` no longer awaits, and nothing is written."""
        # superseded plans an older reconciler moved on await no more: not looked up (one per plan)
        _repair(session, col(PlanRecord.env) == plan.env, col(PlanRecord.status) == AWAITING, moved_on=False)
        awaiting = list(session.exec(select(PlanRecord).where(
            PlanRecord.env == plan.env, PlanRecord.status == AWAITING, PlanRecord.state == AWAITING,
        ).order_by(col(PlanRecord.at).desc(), col(PlanRecord.id).desc())).all())
        if replacing and replacing not in {p.id for p in awaiting}:
            return None
        kept = next((p for p in awaiting if p.digest == plan.digest), plan)
        if kept is plan:
            session.add_all([plan, *rows])
        superseded = []
        for older in (p for p in awaiting if p is not kept):
            if _compare_and_set(session, older.id, AWAITING, SUPERSEDED):
                session.add(PlanEvent(plan_id=older.id, status=SUPERSEDED, detail=detail(kept), at=self.now()))
                superseded.append(older.id)
            elif older.id == replacing:  # decided by a reconciler that does not take the lock (approve_plan)
                return None
        session.commit()
        return Held(kept, recorded=kept is plan, superseded=tuple(superseded))

    def _move(
        self, plan_id: str, expected: str, status: str, detail: str, rows: Sequence[SQLModel], lock: str = "", *,
        at: datetime | None = None,
    ) -> PlanMove:
        """The compare-and-set; with `lock`, in a transaction holding that key's lock (`serialised`); its event
        at `at` (now by default)."""
        try:
            with self.serialised(lock) if lock else Session(self._engine) as session:
                _repair(session, col(PlanRecord.id) == plan_id, moved_on=True)
                moved = _compare_and_set(session, plan_id, expected, status)
                if moved:
                    session.add_all([PlanEvent(plan_id=plan_id, status=status, detail=detail,
                                               at=as_utc(at) if at else self.now()), *rows])
                    session.commit()
        except sa.exc.SQLAlchemyError as exc:
            raise self.write_failed(exc, f"plan {plan_id} was not marked {status}; check the database") from None
        return PlanMove(True, status, detail) if moved else self._found(plan_id)

    def _found(self, plan_id: str) -> PlanMove:
        """What plan `plan_id` is now (it was not moved), and the detail of the status that put it there."""
        plan = self.plan(plan_id)
        if plan is None:
            return PlanMove(False, None)
        last = self._all(select(PlanEvent).where(PlanEvent.plan_id == plan_id)
                         .order_by(col(PlanEvent.id).desc()).limit(1))
        return PlanMove(False, plan.state, last[0].detail if last and last[0].status == plan.state else "")

    def plan(self, plan_id: str) -> PlanRecord | None:
        """Plan `plan_id`, its `state` its latest status (also when an older reconciler left it)."""
        found = _as_now(self._all(select(PlanRecord, _state_now()).where(PlanRecord.id == plan_id)))
        return found[0][0] if found else None

    def decision_on(self, plan_id: str) -> ApprovalDecision | None:
        """The latest decision recorded on plan `plan_id` (who approved it), or None."""
        found = self._all(select(ApprovalDecision).where(ApprovalDecision.plan_id == plan_id)
                          .order_by(col(ApprovalDecision.at).desc(), col(ApprovalDecision.id).desc()).limit(1))
        return found[0] if found else None

    def plan_status(self, plan_id: str) -> str | None:
        """The plan's state: its latest status."""
        plan = self.plan(plan_id)
        return plan.state if plan else None

    def plans_still(self, env: str, status: str) -> list[PlanRecord]:
        """The plans of `env` recorded with `status` whose state still is `status`, newest first:
        `plans_still(env, "awaiting-approval")` are the plans waiting for an approval."""
        return [plan for plan, _ in self.plans_now(env, status, (status,))]

    def plans_now(self, env: str, recorded: str, statuses: Iterable[str]) -> list[tuple[PlanRecord, str]]:
        """The plans of `env` recorded with `recorded` whose state is one of `statuses`, each with that state,
        newest first."""
        wanted = list(statuses)
        # Filtered on the columns only: a subquery in the WHERE makes PostgreSQL cost (and JIT-compile) an
        # event lookup for every plan of `env`; the few plans not final are looked up once each instead.
        # A superseded plan is looked up only when an older reconciler's late status could make it one wanted.
        maybe = col(PlanRecord.state).in_(wanted) | _may_move(moved_on=bool(set(wanted) - {AWAITING, SUPERSEDED}))
        statement = (select(PlanRecord, _state_now()).where(PlanRecord.env == env, PlanRecord.status == recorded,
                                                            maybe)
                     .order_by(col(PlanRecord.at).desc(), col(PlanRecord.id).desc()))
        return [(plan, now) for plan, now in _as_now(self._all(statement)) if now in wanted]

    def awaiting_approval(self, env: str) -> PlanRecord | None:
        """`env`'s newest plan recorded as awaiting approval, if it still does."""
        statement = (select(PlanRecord, _state_now()).where(PlanRecord.env == env, PlanRecord.status == AWAITING)
                     .order_by(col(PlanRecord.at).desc(), col(PlanRecord.id).desc()).limit(1))
        found = _as_now(self._all(statement))
        return found[0][0] if found and found[0][1] == AWAITING else None


def _plans_lock(env: str) -> str:
    """The lock of `env`'s plans: held while one is recorded awaiting approval and while one is approved."""
    return f"plans/{env}"


def latest_env_event(env: str, kinds: Iterable[str]) -> SelectOfScalar[EnvEvent]:
    """The statement of `env`'s latest event among `kinds` (the latest `at`, then the highest id)."""
    return (select(EnvEvent).where(EnvEvent.env == env, col(EnvEvent.kind).in_(list(kinds)))
            .order_by(col(EnvEvent.at).desc(), col(EnvEvent.id).desc()).limit(1))


def _latest_decision(session: Session, env: str, kinds: Iterable[str]) -> int | None:
    """The id of `env`'s latest event among `kinds` as `session` reads it, or None."""
    event = session.exec(latest_env_event(env, kinds)).first()
    return event.id if event is not None else None


def _compare_and_set(session: Session, plan_id: str, expected: str, status: str) -> bool:
    """Moves plan `plan_id` from `expected` to `status` in `session`'s transaction; False: it is not `expected`.
    The UPDATE takes the row's (SQLite: the database's) write lock before it compares: a second writer waits,
    then finds the state changed and matches no row."""
    statement = (sa.update(PlanRecord).where(col(PlanRecord.id) == plan_id, col(PlanRecord.state) == expected)
                 .values(state=status).execution_options(synchronize_session=False))
    return bool(session.exec(statement).rowcount == 1)


def _latest_event() -> sa.ScalarSelect[str]:
    """The status of a plan's last appended event (the highest id: `at` is the clock of whichever replica
    wrote it), NULL without one."""
    return (select(PlanEvent.status).where(col(PlanEvent.plan_id) == col(PlanRecord.id))
            .order_by(col(PlanEvent.id).desc()).limit(1).scalar_subquery())


def _latest_status() -> sa.ColumnElement[str]:
    """A plan's latest status: its latest event's, else the one it was recorded with."""
    return sa.func.coalesce(_latest_event(), col(PlanRecord.status))


def _state_now() -> sa.ColumnElement[str]:
    """A plan's state as a read takes it: applied as it is; superseded unless an older reconciler appended
    another status after it; another as its latest status says (an older reconciler may have left it '' or
    moved it by an event only)."""
    state = col(PlanRecord.state)
    return sa.case((state == APPLIED, state), (state == SUPERSEDED, sa.func.coalesce(_latest_event(), state)),
                   else_=_latest_status())


def _may_move(*, moved_on: bool) -> sa.ColumnElement[bool]:
    """The plans whose state a read or a repair looks up: those not final and, with `moved_on`, those
    superseded whose last event says otherwise (an event lookup for each superseded plan the rest of the
    WHERE keeps: only where such a plan matters)."""
    state = col(PlanRecord.state)
    if not moved_on:
        return state.not_in(FINAL)
    return state.not_in(FINAL) | ((state == SUPERSEDED) & (sa.func.coalesce(_latest_event(), state) != SUPERSEDED))


def _as_now(rows: Sequence[tuple[PlanRecord, str]]) -> list[tuple[PlanRecord, str]]:
    """Each plan read with `_state_now()`, that state set as its `state` (not a change to write back)."""
    for plan, now in rows:
        set_committed_value(plan, "state", now)
    return list(rows)


def _repair(session: Session, *scope: sa.ColumnElement[bool], moved_on: bool) -> None:
    """In `session`'s transaction, before a compare-and-set: the plans of `scope` that are not final (with
    `moved_on`, also the superseded ones an older reconciler moved on) take their latest status as `state`.
    On PostgreSQL their rows are locked first and the statuses read by the next statement, so they are the
    ones committed before: a reconciler moving one meanwhile commits its state and its event together, and
    the repair waits for both.
    Only a superseded plan's last event is compared in the WHERE, with `moved_on` (a move of one plan): a
    lookup for every plan of an environment would cost PostgreSQL one per plan."""
    pending = [*scope, _may_move(moved_on=moved_on)]
    if session.connection().dialect.name == "postgresql":
        locked = list(session.exec(select(PlanRecord.id).where(*pending).with_for_update()).all())
        if not locked:
            return
        pending = [col(PlanRecord.id).in_(locked)]
    session.exec(sa.update(PlanRecord).where(*pending).values(state=_latest_status())
                 .execution_options(synchronize_session=False))
