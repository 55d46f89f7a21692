"""The controller's history when the store fails in the middle of a cycle's record (shared by the SQLite and
the PostgreSQL tests): the database refuses the rows of one table (a trigger), so the row of the same record
before them went in alone. A cycle's plan is recorded whole or not at all, a synced revision with its
desired state or not at all, and what was not waits for the store: the next cycle records it, at its own
time, once; /readyz's reason, /status and the alerts say the store failed meanwhile. A record the database
goes on refusing is dropped after its tries, named in an ERROR log, and the records behind it go in; the
records still waiting at stop get one last try; an autoscale decision keeps its cycle's time."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
import sqlalchemy as sa

from reconciler.core.model import Action, ActionKind, Outcome
from reconciler.engine import store_backlog
from reconciler.engine.autoscaling import AppScaling
from reconciler.engine.cycle import CycleResult
from reconciler.engine.execute import Execution
from reconciler.engine.reporting import Reporter
from reconciler.engine.telemetry import ControllerMetrics
from reconciler.store import Store, database_url
from tests.unit.engine.test_reporting_status import RUNNING, V1
from tests.unit.store.clocked import Clock


def _refusing(table: str, dialect: str, when: str) -> tuple[str, ...]:
    """DDL making the database refuse every row inserted into `table` (those matching the SQL condition `when`
    on NEW, if given): an error the database answers with."""
    if dialect == "sqlite":
        return (f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table}{f' WHEN {when}' if when else ''}"
                " BEGIN SELECT RAISE(ABORT, 'disk gone'); END",)
    return (f"CREATE FUNCTION refuse_{table}() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk gone'; END $$"
            " LANGUAGE plpgsql",
            f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} FOR EACH ROW{f' WHEN ({when})' if when else ''}"
            f" EXECUTE FUNCTION refuse_{table}()")


def _mended(table: str, dialect: str) -> tuple[str, ...]:
    if dialect == "sqlite":
        return (f"DROP TRIGGER refuse_{table}",)
    return (f"DROP TRIGGER refuse_{table} ON {table}", f"DROP FUNCTION refuse_{table}()")


TRIES = 3  # store_backlog.MAX_TRIES: refusals of one record before it is dropped
CREATED = Action(ActionKind.CREATE, "/shop/web", "not in Marathon", env="shop", outcome=Outcome.SUCCEEDED)


def refuse_rows(database: str | Path, *, mend: bool = False, table: str = "actions", when: str = "") -> None:
    engine = sa.create_engine(database_url(database))
    try:
        with engine.begin() as conn:
            dialect = conn.dialect.name
            for statement in _mended(table, dialect) if mend else _refusing(table, dialect, when):
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def a_plan_is_recorded_whole_once_the_store_takes_it(database: str | Path) -> None:
    store = Store.open(database)
    try:
        reporter = Reporter(ControllerMetrics(), store, lambda: {"revision": "rev1", "latest": "rev1"}, lambda: V1)
        refuse_rows(database)
        reporter.record(CycleResult("c1", "start", execution=Execution((CREATED,)), actual=RUNNING))
        assert [e.kind for e in store.history() if e.kind in ("plan", "action")] == []  # not half of it
        outage = reporter.status()["store_outage"]
        assert outage["since"] and outage["waiting"] >= 1 and "disk gone" in outage["error"], outage
        assert "the history store fails since" in reporter.store_problem
        assert [a.kind for a in reporter.store_alerts()] == ["store-unavailable"]
        refuse_rows(database, mend=True)
        reporter.record(CycleResult("c2", "resync", actual=RUNNING))
        plans = [e for e in store.history() if e.kind == "plan"]
        assert [(p.data["cycle_id"], p.data["status"]) for p in plans] == [("c1", "applied")]
        assert [(a.kind, a.app, a.outcome) for a in store.actions_of(plans[0].data["id"])] == \
               [("create", "/shop/web", "succeeded")]
        revision = next(e for e in store.history() if e.kind == "revision")
        assert plans[0].at <= revision.at  # the plan at its cycle's time, before the sync c2 recorded
        outage = reporter.status()["store_outage"]
        assert outage["since"] is None and outage["waiting"] == 0 and outage["last"]["recorded_late"] >= 1, outage
        assert reporter.store_problem == "" and reporter.store_alerts() == ()
    finally:
        store.close()


def _reporter(store: Store) -> Reporter:
    return Reporter(ControllerMetrics(), store, lambda: {"revision": "rev1", "latest": "rev1"}, lambda: V1)


def a_synced_revision_is_recorded_once_with_its_desired_state(database: str | Path) -> None:
    """The desired state refused after the revision's row: neither is in, and once the store takes them the
    revision is in once, with its desired state (its retry does not record it a second time)."""
    store = Store.open(database)
    try:
        reporter = _reporter(store)
        refuse_rows(database, table="desired_states")
        reporter.record(CycleResult("c1", "start", actual=RUNNING))
        assert store.revisions("shop") == []  # not the revision without its desired state
        assert reporter.status()["store_outage"]["waiting"] == 1
        refuse_rows(database, table="desired_states", mend=True)
        reporter.record(CycleResult("c2", "resync", actual=RUNNING))
        assert [r.revision for r in store.revisions("shop")] == ["rev1"]
        assert store.desired_state("shop", revision="rev1") == V1
        assert reporter.status()["store_outage"]["waiting"] == 0
    finally:
        store.close()


def a_record_the_database_refuses_is_dropped_after_its_tries(database: str | Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """The plan's actions refused at every try (not an outage: the database answers): the plan waits for
    TRIES cycles, then is dropped with an ERROR naming it (plan id, revision) and the error, counted, and
    the synced revision behind it goes in; the outage ends."""
    store = Store.open(database)
    try:
        reporter = _reporter(store)
        refuse_rows(database)
        with caplog.at_level(logging.INFO, logger="reconciler.controller"):
            reporter.record(CycleResult("c1", "start", execution=Execution((CREATED,)), actual=RUNNING))
            for number in range(2, TRIES):
                reporter.record(CycleResult(f"c{number}", "resync", actual=RUNNING))
            outage = reporter.status()["store_outage"]
            assert outage["since"] and outage["waiting"] == 2 and outage["dropped"] == 0, outage
            assert [a.kind for a in reporter.store_alerts()] == ["store-unavailable"]
            assert store.revisions("shop") == []  # behind the plan, in order
            reporter.record(CycleResult(f"c{TRIES}", "resync", actual=RUNNING))
        assert [e.kind for e in store.history() if e.kind in ("plan", "action")] == []
        assert [r.revision for r in store.revisions("shop")] == ["rev1"]
        outage = reporter.status()["store_outage"]
        assert outage["since"] is None and outage["waiting"] == 0 and outage["dropped"] == 1, outage
        dropped = outage["last_dropped"]
        assert dropped["record"].startswith("plan ") and dropped["record"].endswith(" of shop at revision rev1")
        assert dropped["cycle"] == "c1" and dropped["reason"] == "refused" and "disk gone" in dropped["error"], dropped
        logged = [r for r in caplog.records if "event=store-record-dropped" in r.getMessage()]
        assert [r.levelname for r in logged] == ["ERROR"]
        assert dropped["record"] in logged[0].getMessage() and "disk gone" in logged[0].getMessage()
        password = sa.make_url(str(database)).password if "://" in str(database) else None
        assert not password or password not in caplog.text
        assert 'reconciler_errors_total{kind="store-record-dropped"} 1.0' in reporter.metrics.exposition().decode()
        assert reporter.store_problem == "" and reporter.store_alerts() == ()
        assert store_backlog.MAX_TRIES == TRIES
    finally:
        store.close()


def a_decision_is_recorded_at_its_cycles_time(database: str | Path) -> None:
    """A cycle's plan refused: the autoscale decision of that cycle waits with it, and is recorded later with
    its own cycle and time, as the plan is."""
    clock = Clock()
    store = Store.open(database, clock=clock)
    try:
        reporter = _reporter(store)
        refuse_rows(database)
        scaling = AppScaling("/shop/web", "shop", current=1, instances=2, reason="cpu 90% over 50%")
        reporter.record(CycleResult("c1", "resync", execution=Execution((CREATED,)), actual=RUNNING,
                                    autoscale=(scaling,)))
        first = clock()
        clock.tick(60)
        refuse_rows(database, mend=True)
        reporter.record(CycleResult("c2", "resync", actual=RUNNING, autoscale=(scaling,)))
        decisions = [e for e in store.history() if e.kind == "autoscale"]
        assert [(d.data["cycle_id"], d.at) for d in decisions] == [("c1", first)]
        assert [(p.data["cycle_id"], p.at) for p in store.history() if p.kind == "plan"] == [("c1", first)]
    finally:
        store.close()


def waiting_records_are_written_at_stop(database: str | Path, caplog: pytest.LogCaptureFixture) -> None:
    """Records waiting when the controller stops get one last try: a store back by then takes them."""
    store = Store.open(database)
    try:
        reporter = _reporter(store)
        refuse_rows(database)
        reporter.record(CycleResult("c1", "start", execution=Execution((CREATED,)), actual=RUNNING))
        assert reporter.status()["store_outage"]["waiting"] == 2  # the plan, the synced revision behind it
        refuse_rows(database, mend=True)
        with caplog.at_level(logging.INFO, logger="reconciler.controller"):
            assert asyncio.run(reporter.write_waiting(30)) == 0
        assert [(p.data["cycle_id"], p.data["status"]) for p in store.history() if p.kind == "plan"] == \
               [("c1", "applied")]
        assert [r.revision for r in store.revisions("shop")] == ["rev1"]
        assert "event=store-records-written-at-stop written=2" in caplog.text
    finally:
        store.close()
