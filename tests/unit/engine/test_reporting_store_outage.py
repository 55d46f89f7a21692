"""A store failing in the middle of a cycle's record, on a SQLite file (tests/unit/engine/store_outage.py;
tests/e2e/test_store_postgres.py runs the same on PostgreSQL), and on a SQLite file another process holds
locked: an outage, which never drops a record however long it lasts, and which a stop does not wait on."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import pytest

from reconciler.engine.cycle import CycleResult
from reconciler.engine.execute import Execution
from reconciler.engine.reporting import Reporter
from reconciler.engine.store_backlog import Backlog
from reconciler.engine.telemetry import ControllerMetrics
from reconciler.store import Store, StoreError
from tests.sandbox.marathon.fixtures import until
from tests.unit.engine.store_outage import (
    CREATED,
    TRIES,
    a_decision_is_recorded_at_its_cycles_time,
    a_plan_is_recorded_whole_once_the_store_takes_it,
    a_record_the_database_refuses_is_dropped_after_its_tries,
    a_synced_revision_is_recorded_once_with_its_desired_state,
    refuse_rows,
    waiting_records_are_written_at_stop,
)
from tests.unit.engine.test_reporting_status import RUNNING, V1


def test_a_plan_is_recorded_whole_once_the_store_takes_it(tmp_path: Path) -> None:
    a_plan_is_recorded_whole_once_the_store_takes_it(tmp_path / "history.db")


def test_a_synced_revision_is_recorded_once_with_its_desired_state(tmp_path: Path) -> None:
    a_synced_revision_is_recorded_once_with_its_desired_state(tmp_path / "history.db")


def test_a_record_the_database_refuses_is_dropped_after_its_tries(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    a_record_the_database_refuses_is_dropped_after_its_tries(tmp_path / "history.db", caplog)


def test_a_decision_is_recorded_at_its_cycles_time(tmp_path: Path) -> None:
    a_decision_is_recorded_at_its_cycles_time(tmp_path / "history.db")


def test_waiting_records_are_written_at_stop(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    waiting_records_are_written_at_stop(tmp_path / "history.db", caplog)


def _locked(path: Path) -> sqlite3.Connection:
    """Another process's connection holding the file's write lock (readers and writers wait on it)."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


def test_an_outage_longer_than_the_tries_drops_no_record(tmp_path: Path) -> None:
    """SQLite's `database is locked` is an outage (OperationalError), not a refusal: the plan waits through
    more cycles than store_backlog.MAX_TRIES and goes in once the lock is gone."""
    path = tmp_path / "history.db"
    store = Store.open(f"sqlite:///{path}?timeout=0.05")
    try:
        reporter = Reporter(ControllerMetrics(), store, lambda: {"revision": "rev1", "latest": "rev1"}, lambda: V1)
        holder = _locked(path)
        try:
            reporter.record(CycleResult("c1", "start", execution=Execution((CREATED,)), actual=RUNNING))
            for number in range(2, TRIES + 3):
                reporter.record(CycleResult(f"c{number}", "resync", actual=RUNNING))
            outage = reporter.status()["store_outage"]
            assert outage["since"] and outage["waiting"] == 2 and outage["dropped"] == 0, outage
            assert "database is locked" in outage["error"]
        finally:
            holder.rollback()
            holder.close()
        reporter.record(CycleResult("c9", "resync", actual=RUNNING))
        assert [p.data["cycle_id"] for p in store.history() if p.kind == "plan"] == ["c1"]
        assert reporter.status()["store_outage"]["waiting"] == 0
    finally:
        store.close()


def test_a_stop_does_not_wait_on_a_store_that_does_not_answer(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The file locked by another process for longer than SQLite would wait (60 s): the stop's last try gives
    up at its deadline, with the count of records not written in an ERROR log; no record is begun after it.
    The one begun goes on in its thread once the lock is gone, and goes in: the log counted it unfinished
    (named), not unwritten, and says when it went in."""
    path = tmp_path / "history.db"
    store = Store.open(f"sqlite:///{path}?timeout=60")
    try:
        reporter = Reporter(ControllerMetrics(), store, lambda: {"revision": "rev1", "latest": "rev1"}, lambda: V1)
        refuse_rows(path)
        reporter.record(CycleResult("c1", "start", execution=Execution((CREATED,)), actual=RUNNING))
        assert reporter.status()["store_outage"]["waiting"] == 2
        refuse_rows(path, mend=True)
        holder = _locked(path)
        try:
            with caplog.at_level(logging.INFO, logger="reconciler.controller"):
                left = asyncio.run(reporter.write_waiting(0.5))  # returns while the lock is still held
            assert left == 2
            assert "event=store-records-unwritten-at-stop unwritten=1 written=0 unfinished=1" in caplog.text
            assert "unfinished_record='plan " in caplog.text
            assert [r.levelname for r in caplog.records if "unwritten-at-stop" in r.getMessage()] == ["ERROR"]
        finally:
            holder.rollback()
            holder.close()
        with caplog.at_level(logging.INFO, logger="reconciler.controller"):
            asyncio.run(until(lambda: "event=store-record-written-after-stop-deadline record='plan " in caplog.text,
                              "the begun record written, and logged", 60))
        assert reporter.status()["store_outage"]["waiting"] == 1
        assert [p.data["cycle_id"] for p in store.history() if p.kind == "plan"] == ["c1"]
        assert [r.revision for r in store.revisions("shop")] == []  # not begun after the deadline
    finally:
        store.close()


def test_a_record_that_crashes_is_dropped_after_its_tries_and_the_next_goes_in(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in a record (it raises something other than a StoreError) fails the same way at every try: it is
    logged with its traceback, dropped after its tries, and the record behind it goes in."""
    store = Store.open(tmp_path / "history.db")
    try:
        backlog = Backlog(store)

        def crashes(_store: Store) -> None:
            raise RuntimeError("a bug in the record")

        backlog.add("c1", "plan p1 of shop at revision rev1", crashes)
        backlog.add("c1", "revision rev1 of shop", lambda s: s.record_synced("shop", "rev1", "d1"))
        with caplog.at_level(logging.INFO, logger="reconciler.controller"):
            for number in range(1, TRIES):
                with pytest.raises(StoreError, match="recording plan p1 of shop at revision rev1 failed: "
                                                     "RuntimeError"):
                    backlog.write(f"c{number}")
            backlog.write(f"c{TRIES}")
        assert backlog.waiting == 0 and backlog.dropped == 1
        assert [r.revision for r in store.revisions("shop")] == ["rev1"]
        assert "event=store-record-crashed" in caplog.text and "Traceback" in caplog.text
        assert "event=store-record-dropped record='plan p1 of shop at revision rev1' reason=refused" in caplog.text
    finally:
        store.close()


def test_a_record_refused_at_stop_is_counted_as_not_written(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """At stop a record the database refuses is dropped at once, the next one still goes in, and the log counts
    the refused one among those not written."""
    store = Store.open(tmp_path / "history.db")
    try:
        reporter = Reporter(ControllerMetrics(), store, lambda: {"revision": "rev1", "latest": "rev1"}, lambda: V1)
        refuse_rows(tmp_path / "history.db")
        reporter.record(CycleResult("c1", "start", execution=Execution((CREATED,)), actual=RUNNING))
        with caplog.at_level(logging.INFO, logger="reconciler.controller"):
            assert asyncio.run(reporter.write_waiting(30)) == 1
        assert "event=store-records-unwritten-at-stop unwritten=1 written=1" in caplog.text
        assert [r.revision for r in store.revisions("shop")] == ["rev1"]
        assert reporter.status()["store_outage"]["dropped"] == 1
    finally:
        store.close()


def test_an_invalid_revision_seen_during_an_outage_is_recorded_once_the_store_answers(tmp_path: Path) -> None:
    """The invalid revision's event waits with the cycle's other records: it was marked recorded before its
    write, so one seen while the store was locked was never written."""
    path = tmp_path / "history.db"
    store = Store.open(f"sqlite:///{path}?timeout=0.05")
    source = {"source": "/specs", "revision": "rev1", "latest": "rev1", "error": ""}
    try:
        reporter = Reporter(ControllerMetrics(), store, lambda: source, lambda: V1)
        reporter.record(CycleResult("c1", "start", actual=RUNNING))
        error = "revision bad2bad2bad2 is invalid: shop.yaml:3: apps.web.chart: unknown chart"
        source.update(latest="bad2bad2bad2ff", error=error)
        holder = _locked(path)
        try:
            for number in (2, 3):
                reporter.record(CycleResult(f"c{number}", "resync", actual=RUNNING))
            assert reporter.status()["store_outage"]["waiting"] == 1
        finally:
            holder.rollback()
            holder.close()
        reporter.record(CycleResult("c4", "resync", actual=RUNNING))
        reporter.record(CycleResult("c5", "resync", actual=RUNNING))
        events = [e for e in store.history() if e.kind == "env-event"]
        assert [(e.data["kind"], e.data["revision"]) for e in events] == [("invalid", "bad2bad2bad2ff")]
        assert events[0].data["detail"] == "shop.yaml:3: apps.web.chart: unknown chart"
        assert reporter.status()["store_outage"]["waiting"] == 0
        assert reporter.status()["environments"]["shop"]["last_error"]["message"] == error
    finally:
        store.close()
