"""The approval gate over a real SQLite store: what an approval environment runs, and the pending plan
recorded once, superseded by a newer one, dropped when the specs are the approved state again."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.core.approvals import desired_digest
from reconciler.core.model import Desired
from reconciler.core.plan import PlanOptions
from reconciler.engine.approvals import APPLIED, AWAITING, FAILED, ApprovalGate, record_outcome
from reconciler.store import Store
from tests.unit.core.planner_builders import EMPTY, applied, desired_app, desired_of


class Ticking:
    """A store clock that moves one second per read: every record is later than the one before."""

    def __init__(self) -> None:
        self.at = datetime(2026, 3, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.at += timedelta(seconds=1)
        return self.at


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(tmp_path / "history.db", clock=Ticking())
    yield opened
    opened.close()


def _specs(tag: str = "1.0", revision: str = "r1") -> Desired:
    desired = desired_of(desired_app("web", "prod", 2, cmd=f"web {tag}"), desired_app("web", "test", 1, cmd="web"),
                         revision=revision)
    prod = replace(desired.environments["prod"], approval_required=True)
    return replace(desired, environments={**desired.environments, "prod": prod})


def _gate(store: Store, prefix: str = "p") -> ApprovalGate:
    ids = (f"{prefix}{n}" for n in itertools.count(1))
    return ApprovalGate(store, PlanOptions(), new_id=lambda: next(ids))


def _approve(store: Store, plan_id: str) -> None:
    plan = store.plan(plan_id)
    assert plan is not None
    assert store.approve_plan(plan, AWAITING, "approved", by="test", event="approved").moved


def test_nothing_of_an_environment_never_approved_runs_and_its_plan_is_recorded_once(store: Store) -> None:
    gate = _gate(store)
    running = gate.in_force(_specs(), EMPTY, "c00001")
    assert set(running.apps) == {"/test/web"}
    assert gate.in_force(_specs(), EMPTY, "c00002") == running
    [plan] = store.plans_still("prod", AWAITING)
    assert (plan.id, plan.revision, plan.cycle_id) == ("p1", "r1", "c00001")
    assert [(a.kind, a.app) for a in store.actions_of("p1")] == [("create", "/prod/web")]
    recorded = store.desired_state("prod", digest=plan.digest)
    assert recorded is not None and desired_digest(recorded, "prod") == desired_digest(_specs(), "prod")


def test_an_approved_state_runs_while_a_newer_commit_waits_and_supersedes_the_older_plan(store: Store) -> None:
    gate = _gate(store)
    gate.in_force(_specs(), EMPTY)
    _approve(store, "p1")
    approved = gate.in_force(_specs(revision="r1"), EMPTY)
    assert approved.apps["/prod/web"].definition["cmd"] == "web 1.0" and store.plans_still("prod", AWAITING) == []
    actual = applied(approved)
    running = gate.in_force(_specs("2.0", "r2"), actual)
    assert running.apps["/prod/web"].definition["cmd"] == "web 1.0" and running.revision_of("prod") == "r1"
    assert [p.id for p in store.plans_still("prod", AWAITING)] == ["p2"]
    assert [(a.kind, a.app) for a in store.actions_of("p2")] == [("update", "/prod/web")]
    gate.in_force(_specs("3.0", "r3"), actual)
    assert [p.id for p in store.plans_still("prod", AWAITING)] == ["p3"]
    assert store.plan_status("p2") == "superseded"
    running = gate.in_force(_specs("1.0", "r4"), actual)  # reverted: the specs are the approved state again
    assert running.apps["/prod/web"].definition["cmd"] == "web 1.0" and running.revision_of("prod") == "r4"
    assert store.plans_still("prod", AWAITING) == [] and store.plan_status("p3") == "superseded"


def test_a_partial_observation_records_no_plan(store: Store) -> None:
    gate = _gate(store)
    running = gate.in_force(_specs(), replace(EMPTY, complete=False, problems=("tasks unreadable",)))
    assert set(running.apps) == {"/test/web"} and store.plans_still("prod", AWAITING) == []


def test_a_cycle_between_the_approval_and_its_statuses_supersedes_nothing(store: Store) -> None:
    """An approved state whose plan still awaits approval (as a reconciler before the compare-and-set wrote
    them, one after the other): a controller cycle runs the approved state and leaves the plan alone."""
    gate = _gate(store)
    gate.in_force(_specs(), EMPTY)
    plan = store.plan("p1")
    assert plan is not None
    store.record_env_event("prod", "approved", revision=plan.revision, digest=plan.digest, by="test")
    running = gate.in_force(_specs(), EMPTY)
    assert set(running.apps) == {"/prod/web", "/test/web"}
    assert store.plan_status("p1") == AWAITING and [p.id for p in store.plans_still("prod", AWAITING)] == ["p1"]


def test_a_handed_approval_is_marked_by_the_cycles_that_reconcile_its_state(store: Store) -> None:
    """`approve` handed plan p1 to the controller: a cycle of the state before it marks nothing; one of its
    state marks it failed once (not again), then applied; p2, approved but replaced by p3's approval
    before any cycle ran it, is marked superseded."""
    gate = _gate(store)
    gate.in_force(_specs(), EMPTY)
    before = gate.in_force(_specs(), EMPTY)  # nothing approved yet: prod is left out
    _approve(store, "p1")
    record_outcome(store, "prod", before, APPLIED, "cycle 1")
    assert store.plan_status("p1") == "approved"
    running = gate.in_force(_specs(), EMPTY)
    record_outcome(store, "prod", running, None, "cycle 2: the writes are on their way")
    assert store.plan_status("p1") == "approved"
    record_outcome(store, "prod", running, FAILED, "cycle 3")
    record_outcome(store, "prod", running, FAILED, "cycle 4")
    record_outcome(store, "prod", running, APPLIED, "cycle 5")
    assert [(e.data["status"], e.data["detail"]) for e in store.history(env="prod") if e.kind == "plan-status"
            and e.data["plan_id"] == "p1"][-3:] == [("approved", ""), ("failed", "cycle 3"), ("applied", "cycle 5")]

    actual = applied(running)
    gate.in_force(_specs("2.0", "r2"), actual)
    _approve(store, "p2")
    gate.in_force(_specs("3.0", "r3"), actual)
    _approve(store, "p3")
    record_outcome(store, "prod", gate.in_force(_specs("3.0", "r3"), actual), APPLIED, "cycle 6")
    assert (store.plan_status("p2"), store.plan_status("p3")) == ("superseded", "applied")
    assert [e.data["detail"] for e in store.history(env="prod") if e.kind == "plan-status"
            and e.data["plan_id"] == "p2"][-1] == "by the approval of revision r3"
    assert store.plan_status("p1") == "applied"


def test_an_approval_landing_during_a_cycles_review_leaves_no_second_plan_waiting(store: Store) -> None:
    """A cycle reads the approved state (none yet), `approve` approves p1 before the cycle records its
    review, made from the state before: recording it would leave a copy of p1 waiting beside p1 approved
    (seen under load: `tests/e2e/test_approval_heal.py` took that copy for the next plan). The record is
    refused in the store's transaction (store/plans.py `Since`), and the next cycle runs the approved state."""
    _gate(store).in_force(_specs(), EMPTY)  # p1 awaits
    racing = _gate(store, "q")  # another controller's ids
    read = racing.approved_state

    def approved_right_after_the_read(env: str) -> Desired | None:
        state = read(env)
        if env == "prod" and store.plan_status("p1") == AWAITING:
            _approve(store, "p1")
        return state

    racing.approved_state = approved_right_after_the_read  # type: ignore[method-assign]
    running = racing.in_force(_specs(), EMPTY, "c00002")
    assert "/prod/web" not in running.apps  # this cycle still ran the state it read: nothing approved
    assert store.plans_still("prod", AWAITING) == [] and store.plan_status("p1") == "approved"
    assert racing.in_force(_specs(), EMPTY, "c00003").apps["/prod/web"].definition["cmd"] == "web 1.0"
    assert store.plans_still("prod", AWAITING) == []


def test_a_plan_the_cycle_ran_is_marked_with_its_outcome_though_an_approval_since_replaced_it(store: Store) -> None:
    """The mark of the cycle that applied p1, written late (the store was down): p2 was approved meanwhile, and
    is read as the latest approval. p1 was applied by that cycle, not replaced before a cycle ran it; p2 is
    left to the cycles that run it."""
    gate = _gate(store)
    gate.in_force(_specs(), EMPTY)
    _approve(store, "p1")
    running = gate.in_force(_specs(), EMPTY)
    gate.in_force(_specs("2.0", "r2"), applied(running))
    _approve(store, "p2")
    record_outcome(store, "prod", running, APPLIED, "cycle 1")
    assert (store.plan_status("p1"), store.plan_status("p2")) == ("applied", "approved")
