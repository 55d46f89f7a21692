"""A plan's state moves by compare-and-set only, on a real SQLite file: a move from a state the plan is no
longer in records nothing and says what the plan is now; of reconcilers moving one plan at once (each a
store, a connection, of its own), one does. An upgraded store takes each plan's state from its history."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from reconciler.store import PlanMove, Store
from reconciler.store.migrations import MIGRATIONS
from tests.unit.store.clocked import T0, Clock
from tests.unit.store.old_awaiting import OLD_DATA, OldData, one_awaits_on_old_data
from tests.unit.store.plan_races import (
    approve_beside_the_gate,
    one_approval_wins,
    one_mark_wins,
    one_plan_awaits,
    statuses,
)


def test_a_move_from_a_state_left_already_records_nothing_and_names_the_state_now(store: Store, clock: Clock) -> None:
    store.record_plan("p1", "prod", "r1", "d1", "awaiting-approval")
    clock.tick()
    assert store.move_plan("p1", "awaiting-approval", "approved", detail="by alice@a") == PlanMove(True, "approved",
                                                                                                   "by alice@a")
    clock.tick()
    assert store.move_plan("p1", "awaiting-approval", "superseded", detail="by plan p2") == PlanMove(
        False, "approved", "by alice@a")
    assert store.move_plan("p9", "awaiting-approval", "approved") == PlanMove(False, None)
    assert statuses(store, "prod", "p1") == ["awaiting-approval", "approved"]
    assert store.plan_status("p1") == "approved" and store.awaiting_approval("prod") is None


def test_an_approval_that_lost_records_no_approved_state_nor_decision(store: Store) -> None:
    plan = store.record_plan("p1", "prod", "r1", "d1", "awaiting-approval")
    store.move_plan("p1", "awaiting-approval", "superseded", detail="by plan p2 (revision r2)")
    lost = store.approve_plan(plan, "awaiting-approval", "approved", by="alice@a", event="approved",
                              detail="by alice@a")
    assert lost == PlanMove(False, "superseded", "by plan p2 (revision r2)")
    assert [e.kind for e in store.history(env="prod")] == ["plan", "plan-status"]
    assert store.last_env_event("prod", ["approved"]) is None


def test_of_three_marks_of_an_approved_plan_at_once_one_is_recorded(tmp_path: Path) -> None:
    one_mark_wins(tmp_path / "history.db", rounds=5)


def test_of_four_approvals_of_one_plan_at_once_one_is_recorded(tmp_path: Path) -> None:
    one_approval_wins(tmp_path / "history.db", contenders=4)


def test_of_reconcilers_recording_one_plan_at_once_one_does_and_the_others_find_it(tmp_path: Path) -> None:
    """ApprovalGate.hold's check for the same plan and its record are one transaction (BEGIN IMMEDIATE)."""
    one_plan_awaits(tmp_path / "history.db", rounds=3)


def test_threads_sharing_one_store_record_one_plan_at_once_as_reconcilers_do(tmp_path: Path) -> None:
    """The controller's approval gate runs in a worker thread beside the event loop's store writes: one
    store (one engine, one pool of file connections) used from several threads at once."""
    one_plan_awaits(tmp_path / "history.db", rounds=3, shared=True)


def test_approve_replacing_a_plan_beside_the_gate_recording_the_same_one_records_it_once(tmp_path: Path) -> None:
    approve_beside_the_gate(tmp_path / "history.db", rounds=3)


def test_an_upgraded_store_takes_each_plans_state_from_its_latest_status(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = Store.open(path, steps=MIGRATIONS[:5])
    old.close()
    at = T0.replace(tzinfo=None)
    with sa.create_engine(f"sqlite:///{path}").begin() as conn:  # what a version-5 reconciler wrote
        for plan_id, status in (("p1", "awaiting-approval"), ("p2", "awaiting-approval"), ("c1", "applied")):
            conn.execute(sa.text("INSERT INTO plans (id, env, revision, digest, status, at, cycle_id)"
                                 " VALUES (:id, 'prod', 'r', 'd', :status, :at, '')"), {"id": plan_id, "status": status,
                                                                                        "at": at})
        for plan_id, status, seconds in (("p1", "approved", 1), ("p1", "failed", 2), ("p1", "applied", 3),
                                         ("p2", "superseded", 1)):
            conn.execute(sa.text("INSERT INTO plan_events (plan_id, status, at, detail) VALUES (:p, :s, :at, '')"),
                         {"p": plan_id, "s": status, "at": at.replace(second=seconds)})
    upgraded = Store.open(path)
    try:
        assert [upgraded.plan_status(p) for p in ("p1", "p2", "c1")] == ["applied", "superseded", "applied"]
        assert upgraded.move_plan("p1", "applied", "superseded").moved
    finally:
        upgraded.close()



@pytest.mark.parametrize("case", OLD_DATA)
def test_two_plans_awaiting_on_old_data_leave_one_awaiting_after_a_hold_or_a_replace(
    tmp_path: Path, case: OldData
) -> None:
    one_awaits_on_old_data(tmp_path / "history.db", case)
