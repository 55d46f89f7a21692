"""An older (schema v5) reconciler still writing after a newer one migrated the store to v6, as in a rolling
upgrade: it records plans without `state` (left '') and appends their later statuses as `plan_events` rows
only, never moving `state`. Its rows are written straight into the tables, through the columns v5 knew;
the newer store must read each plan as its latest status says. Shared by the SQLite and PostgreSQL tests.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from reconciler.core.plan import PlanOptions
from reconciler.engine.approvals import APPLIED, APPROVED, AWAITING, SUPERSEDED, ApprovalGate, Pending
from reconciler.engine.approving import NotPending, pending_plan
from reconciler.store import PlanMove, Store, database_url
from tests.unit.store.clocked import T0, Clock
from tests.unit.store.old_awaiting import ENV, NEW, reviewed

_WHEN = sa.DateTime(timezone=True)
# The two tables as a v5 reconciler sees them: `plans` without `state`.
_PLANS_V5 = sa.table("plans", sa.column("id"), sa.column("env"), sa.column("revision"), sa.column("digest"),
                     sa.column("status"), sa.column("at", _WHEN), sa.column("cycle_id"))
_EVENTS_V5 = sa.table("plan_events", sa.column("plan_id"), sa.column("status"), sa.column("at", _WHEN),
                      sa.column("detail"))


def old_plan(database: str | Path, plan_id: str, tag: str, at: datetime, status: str = AWAITING) -> None:
    """A plan the v5 reconciler records (of the version `tag`, as old_awaiting.reviewed makes it)."""
    _write(database, sa.insert(_PLANS_V5).values(id=plan_id, env=ENV, revision=f"r-{plan_id}",
                                                 digest=reviewed(tag).digest, status=status, at=at, cycle_id=""))


def old_status(database: str | Path, plan_id: str, status: str, at: datetime, detail: str = "") -> None:
    """A later status the v5 reconciler gives a plan: an event, and `state` untouched."""
    _write(database, sa.insert(_EVENTS_V5).values(plan_id=plan_id, status=status, at=at, detail=detail))


def _write(database: str | Path, statement: sa.Insert) -> None:
    engine = sa.create_engine(database_url(database))
    try:
        with engine.begin() as conn:
            conn.execute(statement)
    finally:
        engine.dispose()


def upgraded(database: str | Path, clock: Clock) -> Store:
    """The store migrated to the latest version (by the newer reconciler's start), before the old one writes."""
    Store.open(database).close()
    return Store.open(database, clock=clock)


def hold_finds_the_old_leaders_plan(database: str | Path, tag: str) -> None:
    """The gate holds the plan of version `tag` while the old leader's plan of version 1.0 awaits: the same
    one is found (nothing recorded), another one supersedes it."""
    clock = Clock()
    store = upgraded(database, clock)
    try:
        old_plan(database, "old1", "1.0", T0)
        clock.tick()
        found = ApprovalGate(store, PlanOptions(), new_id=lambda: NEW).hold(reviewed(tag), "r9")
        assert isinstance(found, Pending)
        if tag == "1.0":
            assert (found.plan_id, found.recorded) == ("old1", False)
            assert store.plan(NEW) is None
        else:
            assert (found.plan_id, found.recorded) == (NEW, True)
            assert store.plan_status("old1") == SUPERSEDED
        assert [p.id for p in store.plans_still(ENV, AWAITING)] == [found.plan_id]
        assert getattr(store.awaiting_approval(ENV), "id", None) == found.plan_id
    finally:
        store.close()


def old_decision_stands(database: str | Path, decided: tuple[str, ...]) -> None:
    """A plan the newer reconciler recorded awaiting, then the old leader moved through `decided`: it is read
    as the last of them, is not approvable, and a move from that state works."""
    clock = Clock()
    store = upgraded(database, clock)
    try:
        ApprovalGate(store, PlanOptions(), new_id=lambda: "p1").hold(reviewed("1.0"), "r1")
        for n, status in enumerate(decided, start=1):
            old_status(database, "p1", status, T0 + timedelta(seconds=n), detail=f"old {status}")
        clock.tick(len(decided) + 1)
        last = decided[-1]
        assert store.plan_status("p1") == last and store.plans_still(ENV, AWAITING) == []
        assert store.awaiting_approval(ENV) is None
        assert [(p.id, s) for p, s in store.plans_now(ENV, AWAITING, (APPROVED, "failed"))] == (
            [("p1", last)] if last == APPROVED else [])
        plan = store.plan("p1")
        assert plan is not None and plan.state == last
        with pytest.raises(NotPending, match=f"plan p1 is {last}, not awaiting approval"):
            pending_plan(store, ENV, "p1")
        lost = store.approve_plan(plan, AWAITING, APPROVED, by="alice@a", event="approved", detail="by alice@a")
        assert lost == PlanMove(False, last, f"old {last}")
        assert store.move_plan("p1", last, SUPERSEDED if last == APPROVED else APPLIED).moved
    finally:
        store.close()


def approve_moves_the_old_leaders_plan(database: str | Path) -> None:
    """approve's compare-and-set on a plan the old leader recorded (its `state` empty): one approval moves it."""
    clock = Clock()
    store = upgraded(database, clock)
    try:
        old_plan(database, "old1", "1.0", T0)
        clock.tick()
        plan = pending_plan(store, ENV, "old1")
        moved = store.approve_plan(plan, AWAITING, APPROVED, by="alice@a", event="approved", detail="by alice@a")
        assert moved == PlanMove(True, APPROVED, "by alice@a")
        clock.tick()
        again = store.approve_plan(plan, AWAITING, APPROVED, by="bob@b", event="approved", detail="by bob@b")
        assert again == PlanMove(False, APPROVED, "by alice@a")
        assert store.plan_status("old1") == APPROVED and store.decision_on("old1").by == "alice@a"  # type: ignore[union-attr]
    finally:
        store.close()


def later_event_wins_whatever_the_clocks(database: str | Path) -> None:
    """Two replicas whose clocks differ by a minute: a plan's latest status is its last appended event, not the
    one stamped latest. The old leader (its clock behind) supersedes a plan after this version approved it:
    superseded; this version marking a plan applied from a replica whose clock runs behind the approver's:
    applied, with its own detail."""
    ahead, behind = Clock(), Clock()
    ahead.tick(60)
    store = upgraded(database, ahead)
    other = Store.open(database, clock=behind)  # a second replica of this version, a minute behind
    try:
        gate = ApprovalGate(store, PlanOptions(), new_id=lambda: "p1")
        gate.hold(reviewed("1.0"), "r1")
        plan = pending_plan(store, ENV, "p1")
        assert store.approve_plan(plan, AWAITING, APPROVED, by="alice@a", event="approved").moved
        old_status(database, "p1", SUPERSEDED, T0 + timedelta(seconds=5), detail="old superseded")
        assert store.plan_status("p1") == SUPERSEDED
        assert store.plans_now(ENV, AWAITING, (APPROVED, "failed")) == []
        ApprovalGate(store, PlanOptions(), new_id=lambda: "p2").hold(reviewed("2.0"), "r2")
        plan = pending_plan(store, ENV, "p2")
        assert store.approve_plan(plan, AWAITING, APPROVED, by="alice@a", event="approved").moved
        assert other.move_plan("p2", APPROVED, APPLIED, detail="cycle c1").moved
        assert other.move_plan("p2", APPROVED, APPLIED, detail="cycle c2") == PlanMove(False, APPLIED, "cycle c1")
    finally:
        other.close()
        store.close()


def old_leader_moves_on_a_superseded_plan(database: str | Path, late: tuple[str, ...]) -> None:
    """The old leader, which read plan p1 awaiting before this version superseded it (by p2), appends `late`
    to it (its `approve`, its controller applying it): p1 is what the last of them says (the old approval took
    effect), is repaired so, and moves on from there; p2 still awaits."""
    clock = Clock()
    store = upgraded(database, clock)
    try:
        ApprovalGate(store, PlanOptions(), new_id=lambda: "p1").hold(reviewed("1.0"), "r1")
        clock.tick()
        ApprovalGate(store, PlanOptions(), new_id=lambda: "p2").hold(reviewed("2.0"), "r2")
        assert store.plan_status("p1") == SUPERSEDED
        for n, status in enumerate(late, start=1):
            old_status(database, "p1", status, T0 + timedelta(seconds=n), detail=f"old {status}")
        clock.tick(10)
        last = late[-1]
        assert store.plan_status("p1") == last
        assert [(p.id, s) for p, s in store.plans_now(ENV, AWAITING, (APPROVED, "failed"))] == (
            [] if last == APPLIED else [("p1", last)])
        assert [p.id for p in store.plans_still(ENV, AWAITING)] == ["p2"]
        found = ApprovalGate(store, PlanOptions(), new_id=lambda: NEW).hold(reviewed("2.0"), "r2")
        assert isinstance(found, Pending) and (found.plan_id, found.recorded) == ("p2", False)
        if last == APPROVED:
            assert store.move_plan("p1", APPROVED, APPLIED, detail="cycle c1").moved
        assert store.move_plan("p1", SUPERSEDED, APPLIED) == PlanMove(False, APPLIED, "cycle c1" if last == APPROVED
                                                                      else f"old {APPLIED}")
    finally:
        store.close()


def applied_stays_applied(database: str | Path) -> None:
    """A plan this version marked applied stays applied whatever the old leader appends later (its actions
    were sent); that event stays in the history."""
    clock = Clock()
    store = upgraded(database, clock)
    try:
        ApprovalGate(store, PlanOptions(), new_id=lambda: "p1").hold(reviewed("1.0"), "r1")
        plan = pending_plan(store, ENV, "p1")
        assert store.approve_plan(plan, AWAITING, APPROVED, by="alice@a", event="approved").moved
        assert store.move_plan("p1", APPROVED, APPLIED, detail="cycle c1").moved
        for n, status in enumerate((SUPERSEDED, "failed", APPROVED), start=1):
            old_status(database, "p1", status, T0 + timedelta(seconds=60 + n), detail=f"old {status}")
            assert store.plan_status("p1") == APPLIED
        assert store.plans_now(ENV, AWAITING, (APPROVED, "failed", SUPERSEDED)) == []
        assert not store.move_plan("p1", APPROVED, "failed").moved
        assert [e.data["status"] for e in store.history(env=ENV) if e.kind == "plan-status"][-3:] == [
            SUPERSEDED, "failed", APPROVED]
    finally:
        store.close()
