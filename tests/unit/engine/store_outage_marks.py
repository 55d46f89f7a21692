"""The controller's marks on approved plans and its autoscale samples when the store fails (shared by the SQLite
and the PostgreSQL tests): both wait with the cycle's other records. A plan applied by a cycle during an
outage is marked applied once the store is back, once, with that cycle's detail and time, and never before
the record of the cycle's own plan; a mark the database refuses for good is dropped after its tries and the
outage ends (a later cycle's same mark does not start it again); samples arrive with their own times, those
older than the samples' keep when the store is back are not added; and the stop's last try writes both."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from reconciler.core.model import Action, ActionKind, Desired, Outcome
from reconciler.core.plan import PlanOptions
from reconciler.engine.approvals import AWAITING, ApprovalGate
from reconciler.engine.autoscaling import AppScaling
from reconciler.engine.cycle import CycleResult
from reconciler.engine.execute import Execution
from reconciler.engine.reporting import Reporter
from reconciler.engine.telemetry import ControllerMetrics
from reconciler.store import Store
from tests.unit.core.planner_builders import EMPTY, applied, desired_app, desired_of
from tests.unit.engine.store_outage import TRIES, refuse_rows
from tests.unit.store.clocked import Clock

Outage = Callable[[Store, bool], None]  # the store out of reach (True) or back (False)
SOURCE = {"revision": "r1", "latest": "r1"}
CREATED = Action(ActionKind.CREATE, "/prod/web", "not in Marathon", env="prod", outcome=Outcome.SUCCEEDED)
APPLIED_IN_C1 = "by the controller in cycle c1: 1 action(s) succeeded"


def _specs() -> Desired:
    desired = desired_of(desired_app("web", "prod", 2, cmd="web 1.0"), revision="r1")
    prod = replace(desired.environments["prod"], approval_required=True)
    return replace(desired, environments={"prod": prod})


def _approved(store: Store) -> Desired:
    """Plan p1 of prod recorded by the gate and approved for the controller: what the controller runs."""
    gate = ApprovalGate(store, PlanOptions(), new_id=lambda: "p1")
    gate.in_force(_specs(), EMPTY, "c0")
    plan = store.plan("p1")
    assert plan is not None and plan.state == AWAITING
    assert store.approve_plan(plan, AWAITING, "approved", by="alice@laptop", event="approved").moved
    running = gate.in_force(_specs(), EMPTY)
    assert "/prod/web" in running.apps
    return running


def _marks(store: Store) -> list[tuple[str, str]]:
    return [(e.data["status"], e.data["detail"]) for e in store.history(env="prod")
            if e.kind == "plan-status" and e.data["plan_id"] == "p1"]


def _cycle(number: int, running: Desired, *, actions: tuple[Action, ...] = (),
           autoscale: tuple[AppScaling, ...] = ()) -> CycleResult:
    return CycleResult(f"c{number}", "resync", execution=Execution(actions) if actions else None,
                       actual=applied(running), autoscale=autoscale)


def an_approved_plan_applied_during_an_outage_is_marked_applied_once(database: str | Path, outage: Outage) -> None:
    """The cycle sending the approved plan's writes runs while the store is out of reach, and one more: once it
    is back, the plan is applied by that cycle (its detail and time), after that cycle's own plan record."""
    clock = Clock()
    store = Store.open(database, clock=clock)
    try:
        running = _approved(store)
        reporter = Reporter(ControllerMetrics(), store, lambda: SOURCE, lambda: running)
        clock.tick(60)
        outage(store, True)
        reporter.record(_cycle(1, running, actions=(CREATED,)))
        sent_at = clock()
        clock.tick(60)
        reporter.record(_cycle(2, running))
        outage_now = reporter.status()["store_outage"]
        assert outage_now["since"] and outage_now["waiting"] >= 3, outage_now  # plan, revision, outcome
        clock.tick(60)
        outage(store, False)
        reporter.record(_cycle(3, running))
        assert store.plan_status("p1") == "applied"
        assert _marks(store) == [("approved", ""), ("applied", APPLIED_IN_C1)]
        mark = next(e for e in store.history(env="prod") if e.kind == "plan-status" and e.data["status"] == "applied")
        assert mark.at == sent_at
        executed = [e for e in store.history(env="prod") if e.kind == "plan" and e.data["cycle_id"] == "c1"]
        assert [(e.data["status"], e.at) for e in executed] == [("applied", sent_at)]
        outage_now = reporter.status()["store_outage"]
        assert outage_now["since"] is None and outage_now["waiting"] == 0 and outage_now["dropped"] == 0, outage_now
    finally:
        store.close()


def an_outcome_waits_behind_its_cycles_plan(database: str | Path) -> None:
    """Only the cycle's plan refused (its actions): the plan's mark is not written before it, though the
    database would take the mark; both go in, in order, once the plan does."""
    clock = Clock()
    store = Store.open(database, clock=clock)
    try:
        running = _approved(store)
        reporter = Reporter(ControllerMetrics(), store, lambda: SOURCE, lambda: running)
        refuse_rows(database)
        reporter.record(_cycle(1, running, actions=(CREATED,)))
        assert store.plan_status("p1") == "approved"  # not marked before the record of the writes that applied it
        refuse_rows(database, mend=True)
        reporter.record(_cycle(2, running))
        assert _marks(store)[-1] == ("applied", APPLIED_IN_C1)
        assert [e.data["cycle_id"] for e in store.history(env="prod") if e.kind == "plan"] == ["c0", "c1"]
    finally:
        store.close()


def a_refused_outcome_is_dropped_after_its_tries_and_the_outage_ends(
    database: str | Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The database refuses every applied mark (a trigger): the mark of cycle c1 waits TRIES cycles, is dropped
    (ERROR log, metric, /status), and the outage ends; the later cycles' same mark is not queued again, so the
    outage stays over. The cycle's plan went in; plan p1 stays approved."""
    store = Store.open(database)
    try:
        running = _approved(store)
        reporter = Reporter(ControllerMetrics(), store, lambda: SOURCE, lambda: running)
        refuse_rows(database, table="plan_events", when="NEW.status = 'applied'")
        with caplog.at_level(logging.INFO, logger="reconciler.controller"):
            reporter.record(_cycle(1, running, actions=(CREATED,)))
            for number in range(2, TRIES):
                reporter.record(_cycle(number, running))
            outage = reporter.status()["store_outage"]
            assert outage["since"] and outage["waiting"] == 1 and outage["dropped"] == 0, outage
            for number in range(TRIES, TRIES + 3):
                reporter.record(_cycle(number, running))
                outage = reporter.status()["store_outage"]
                assert outage["since"] is None and outage["waiting"] == 0 and outage["dropped"] == 1, outage
        dropped = outage["last_dropped"]
        assert dropped["record"] == "approval outcome applied of prod at revision r1", dropped
        assert dropped["cycle"] == "c1" and dropped["reason"] == "refused" and "disk gone" in dropped["error"]
        logged = [r for r in caplog.records if "event=store-record-dropped" in r.getMessage()]
        assert [r.levelname for r in logged] == ["ERROR"] and dropped["record"] in logged[0].getMessage()
        assert 'reconciler_errors_total{kind="store-record-dropped"} 1.0' in reporter.metrics.exposition().decode()
        assert reporter.store_problem == "" and reporter.store_alerts() == ()
        assert store.plan_status("p1") == "approved"
        assert [e.data["cycle_id"] for e in store.history(env="prod") if e.kind == "plan"] == ["c0", "c1"]
    finally:
        store.close()


def _scaling(at: float) -> AppScaling:
    inputs = {"policy": {"min": 1, "max": 4}, "instances": 2, "at": at, "history": None, "tasks": [],
              "external": {}}
    return AppScaling("/prod/web", "prod", current=2, instances=2, reason="within tolerance", inputs=inputs)


def samples_taken_during_an_outage_arrive_with_their_own_times(database: str | Path, outage: Outage) -> None:
    """Cycles c1, c2 and c3 take their samples 60 s apart while the store is out of reach, with samples kept
    100 s: c1's leave the waiting records unwritten at c3 (older than that), c2's at c4, once the store is
    back; c3's and c4's go in at their own times."""
    clock = Clock()
    store = Store.open(database, clock=clock)
    try:
        running = _approved(store)
        reporter = Reporter(ControllerMetrics(), store, lambda: SOURCE, lambda: running, samples_keep=100)
        start = clock()
        outage(store, True)
        for number in (1, 2, 3):
            reporter.record(_cycle(number, running, autoscale=(_scaling(60.0 * number),)))
            clock.tick(60)
        outage_now = reporter.status()["store_outage"]
        # c1's revision, outcome and autoscale decision; c2's and c3's samples (c1's expired)
        assert outage_now["since"] and outage_now["waiting"] == 5 and outage_now["dropped"] == 0, outage_now
        outage(store, False)
        reporter.record(_cycle(4, running, autoscale=(_scaling(240.0),)))
        rows = store.autoscale_samples("/prod/web")
        assert [(r.cycle_id, r.at) for r in rows] == [("c3", start + timedelta(seconds=120)),
                                                     ("c4", start + timedelta(seconds=180))]
        assert '"at":180.0' in rows[0].document
        assert reporter.status()["store_outage"]["waiting"] == 0
    finally:
        store.close()


def the_mark_and_the_samples_waiting_at_stop_are_written(
    database: str | Path, outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    """The store is back when the controller stops, before another cycle: the stop's last try marks the plan
    applied by the cycle that sent its writes, and writes that cycle's samples at its time."""
    clock = Clock()
    store = Store.open(database, clock=clock)
    try:
        running = _approved(store)
        reporter = Reporter(ControllerMetrics(), store, lambda: SOURCE, lambda: running)
        outage(store, True)
        reporter.record(_cycle(1, running, actions=(CREATED,), autoscale=(_scaling(60.0),)))
        sent_at = clock()
        outage_now = reporter.status()["store_outage"]
        assert outage_now["waiting"] == 5, outage_now  # plan, revision, outcome, autoscale decision, samples
        clock.tick(30)
        outage(store, False)
        with caplog.at_level(logging.INFO, logger="reconciler.controller"):
            assert asyncio.run(reporter.write_waiting(30)) == 0
        assert "event=store-records-written-at-stop written=5" in caplog.text
        assert _marks(store)[-1] == ("applied", APPLIED_IN_C1) and store.plan_status("p1") == "applied"
        assert [(r.cycle_id, r.at) for r in store.autoscale_samples("/prod/web")] == [("c1", sent_at)]
    finally:
        store.close()
