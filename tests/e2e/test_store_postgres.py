"""The store against a real PostgreSQL server (started by scripts/ensure-postgres; a skip fails in CI).

Each test gets a database of its own on that server, dropped afterwards.
"""

from __future__ import annotations

import os
import re
import shlex
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from reconciler.core.model import Action, ActionKind, Outcome
from reconciler.engine.cycle import CycleResult
from reconciler.engine.execute import Execution
from reconciler.engine.reporting import Reporter
from reconciler.engine.telemetry import ControllerMetrics
from reconciler.store import LATEST, Store
from reconciler.store.migrations import MIGRATIONS
from tests.bench import bench_store
from tests.unit.engine.store_outage import (
    CREATED,
    TRIES,
    a_decision_is_recorded_at_its_cycles_time,
    a_plan_is_recorded_whole_once_the_store_takes_it,
    a_record_the_database_refuses_is_dropped_after_its_tries,
    a_synced_revision_is_recorded_once_with_its_desired_state,
    waiting_records_are_written_at_stop,
)
from tests.unit.engine.test_reporting_status import RUNNING, V1
from tests.unit.store.compatible import (
    a_newer_index_only_store_is_used_as_it_is,
    a_newer_store_that_raised_it_is_refused,
    an_upgrade_records_each_version_compatible_from,
)
from tests.unit.store.old_awaiting import OLD_DATA, OldData, one_awaits_on_old_data
from tests.unit.store.old_writer import (
    applied_stays_applied,
    approve_moves_the_old_leaders_plan,
    hold_finds_the_old_leaders_plan,
    later_event_wins_whatever_the_clocks,
    old_decision_stands,
    old_leader_moves_on_a_superseded_plan,
)
from tests.unit.store.plan_races import approve_beside_the_gate, one_approval_wins, one_mark_wins, one_plan_awaits
from tests.unit.store.reading import (
    newer_and_empty_are_refused,
    older_schema_is_refused_under_its_writer,
    previous_schema_is_read_as_it_is,
    reader_writes_nothing,
)

pytestmark = pytest.mark.postgres
URL_FILE = Path(os.environ.get("TMPDIR", "/tmp")) / "reconciler-postgres.url"


def server_url() -> str:
    url = os.environ.get("RECONCILER_TEST_POSTGRES_URL") or (URL_FILE.read_text().strip() if URL_FILE.is_file() else "")
    if not url:
        pytest.skip(f"no PostgreSQL: run scripts/ensure-postgres (it writes {URL_FILE})")
    return url


@pytest.fixture
def database() -> Iterator[str]:
    server = make_url(server_url())
    name = f"reconciler_test_{uuid.uuid4().hex[:12]}"
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL at {server.render_as_string()} does not answer: {exc}")
    yield server.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_records_and_history_on_postgresql(database: str) -> None:
    store = Store.open(database)
    try:
        store.record_revision("integration", "c" * 40, "digest-1", source="file:///repo")
        store.record_plan("p1", "integration", "c" * 40, "digest-1", "planned", cycle_id="c00007")
        store.record_actions(
            "p1",
            [
                Action(
                    kind=ActionKind.CREATE,
                    target="/integration/redis",
                    env="integration",
                    reason="not in Marathon",
                    outcome=Outcome.SUCCEEDED,
                )
            ],
        )
        store.record_heal("integration", "/integration/redis", "redis.t1", "critical for 40s", "succeeded")
        history = store.history(env="integration")
        assert [e.kind for e in history] == ["revision", "plan", "action", "heal"]
        assert history[0].at.tzinfo is not None
        assert store.last_revision("integration").revision == "c" * 40  # type: ignore[union-attr]
        assert [e.kind for e in store.history(env="integration", app="redis")] == ["action", "heal"]
    finally:
        store.close()


def test_an_upgrade_on_postgresql_keeps_the_rows(database: str) -> None:
    Store.open(database, steps=MIGRATIONS[:1]).close()
    engine = sa.create_engine(database)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO revisions (env, revision, digest, at) VALUES ('int', 'abc', 'd', now())"))
    engine.dispose()
    store = Store.open(database)
    try:
        assert store.last_revision("int").revision == "abc"  # type: ignore[union-attr]
        store.record_autoscale("int", "/int/web", 2, 4, "cpu")
        assert [e.kind for e in store.history(env="int")] == ["revision", "autoscale"]
    finally:
        store.close()


def test_two_controllers_opening_one_new_database_at_once_both_succeed(database: str) -> None:
    errors: list[BaseException] = []

    def open_and_close() -> None:
        try:
            Store.open(database).close()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_and_close) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    engine = sa.create_engine(database)
    with engine.connect() as conn:
        versions = [r[0] for r in conn.execute(sa.text("SELECT version FROM schema_version ORDER BY version"))]
    engine.dispose()
    assert versions == list(range(1, LATEST + 1))


def test_of_three_marks_of_an_approved_plan_at_once_one_is_recorded_on_postgresql(database: str) -> None:
    """The compare-and-set of a plan's state (store/plans.py) under PostgreSQL's row locks."""
    one_mark_wins(database, rounds=5)


def test_of_four_approvals_of_one_plan_at_once_one_is_recorded_on_postgresql(database: str) -> None:
    one_approval_wins(database, contenders=4)


def test_an_upgrade_on_postgresql_takes_each_plans_state_from_its_latest_status(database: str) -> None:
    Store.open(database, steps=MIGRATIONS[:5]).close()
    engine = sa.create_engine(database)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO plans (id, env, revision, digest, status, at, cycle_id)"
                             " VALUES ('p1', 'prod', 'r', 'd', 'awaiting-approval', now() - interval '1 minute', ''),"
                             " ('p2', 'prod', 'r', 'd', 'awaiting-approval', now(), '')"))
        conn.execute(sa.text("INSERT INTO plan_events (plan_id, status, at, detail) VALUES"
                             " ('p1', 'approved', now() - interval '30 seconds', ''), ('p1', 'applied', now(), '')"))
    engine.dispose()
    store = Store.open(database)
    try:
        assert [store.plan_status(p) for p in ("p1", "p2")] == ["applied", "awaiting-approval"]
        assert [p.id for p in store.plans_still("prod", "awaiting-approval")] == ["p2"]
    finally:
        store.close()


def test_of_reconcilers_recording_one_plan_at_once_one_does_and_the_others_find_it_on_postgresql(
    database: str,
) -> None:
    """ApprovalGate.hold's check and record in one transaction under the environment's advisory lock."""
    one_plan_awaits(database, rounds=3)


def test_threads_sharing_one_store_record_one_plan_at_once_on_postgresql(database: str) -> None:
    one_plan_awaits(database, rounds=3, shared=True)


def test_approve_replacing_a_plan_beside_the_gate_recording_the_same_one_records_it_once_on_postgresql(
    database: str,
) -> None:
    approve_beside_the_gate(database, rounds=3)


@pytest.mark.parametrize("case", OLD_DATA)
def test_two_plans_awaiting_on_old_data_leave_one_awaiting_after_a_hold_or_a_replace_on_postgresql(
    database: str, case: OldData
) -> None:
    one_awaits_on_old_data(database, case)


@pytest.mark.parametrize("tag", ["1.0", "2.0"], ids=["same-plan", "another-plan"])
def test_the_gate_finds_the_old_leaders_awaiting_plan_and_records_no_second_one_on_postgresql(
    database: str, tag: str
) -> None:
    """A v5 reconciler still writing beside the migrated store (tests/unit/store/old_writer.py)."""
    hold_finds_the_old_leaders_plan(database, tag)


@pytest.mark.parametrize("decided", [("superseded",), ("approved", "applied"), ("approved",)],
                         ids=["superseded", "applied", "approved"])
def test_a_plan_the_old_leader_decided_reads_as_its_decision_and_is_not_approvable_on_postgresql(
    database: str, decided: tuple[str, ...]
) -> None:
    old_decision_stands(database, decided)


def test_approve_moves_a_plan_the_old_leader_recorded_once_on_postgresql(database: str) -> None:
    approve_moves_the_old_leaders_plan(database)


def test_a_plans_latest_status_is_its_last_event_whatever_the_replicas_clocks_on_postgresql(database: str) -> None:
    later_event_wins_whatever_the_clocks(database)


@pytest.mark.parametrize("late", [("approved",), ("approved", "applied"), ("applied",)],
                         ids=["approved", "approved-applied", "applied"])
def test_a_plan_this_version_superseded_and_the_old_leader_moved_on_is_read_as_it_says_on_postgresql(
    database: str, late: tuple[str, ...]
) -> None:
    old_leader_moves_on_a_superseded_plan(database, late)


def test_a_plan_this_version_applied_stays_applied_whatever_the_old_leader_appends_on_postgresql(database: str) -> None:
    applied_stays_applied(database)


def test_history_of_more_plans_than_a_statement_takes_parameters_on_postgresql(database: str) -> None:
    """70,000 plans, more than the 65,535 parameters PostgreSQL takes in one statement: `history` (with --env,
    --since or neither) read their later statuses through a list of every plan's id, and failed."""
    Store.open(database).close()
    engine = sa.create_engine(database)
    with engine.begin() as conn:
        for table, columns, values in (
            ("plans", "id, env, revision, digest, status, at, cycle_id, state",
             "'p' || g, 'prod', 'r', 'd', 'awaiting-approval', now() - interval '2 days' + g * interval '1 ms', '',"
             " 'superseded'"),
            ("plan_events", "plan_id, status, at, detail",
             "'p' || g, 'superseded', now() - interval '2 days' + g * interval '1 ms', ''"),
        ):
            conn.execute(sa.text(f"INSERT INTO {table} ({columns}) SELECT {values} FROM generate_series(1, 70000) g"))
    engine.dispose()
    store = Store.open(database)
    try:
        store.record_plan("recent", "prod", "r2", "d2", "awaiting-approval")
        assert store.move_plan("recent", "awaiting-approval", "approved", detail="by alice").moved
    finally:
        store.close()
    reader = Store.open_for_reading(database)
    try:
        since = datetime.now(UTC) - timedelta(hours=1)
        for env in ("prod", None):
            assert [(e.kind, e.summary) for e in reader.history(env=env, since=since)] == [
                ("plan", "plan recent awaiting-approval (digest d2, revision r2)"),
                ("plan-status", "plan recent approved: by alice")]
        assert reader.history(env="staging", since=since) == []
    finally:
        reader.close()


@pytest.mark.timeout(480)  # four stores migrated and filled, twice per backend: over 120 s at load 20
def test_the_documented_store_benchmark_runs_on_both_backends(capsys: pytest.CaptureFixture[str]) -> None:
    """docs/performance.md's bench_store command, on 300 plans instead of 22,000 and this server."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "performance.md").read_text()
    commands = re.findall(r"\.venv/bin/python -m tests\.bench\.bench_store ([^`\n]*)", doc)
    assert commands == ["22000 --postgres URL"]
    bench_store.main(["300" if word == "22000" else server_url() if word == "URL" else word
                      for word in shlex.split(commands[0])])
    shown = capsys.readouterr().out
    for backend, version in (("sqlite", 6), ("sqlite", LATEST), ("postgresql", 6), ("postgresql", LATEST)):
        assert re.search(rf"^{backend} +v{version} +plans_still +[0-9.]+ +awaiting_approval", shown, re.M), shown
    assert "SEARCH plans USING INDEX ix_plans_env_status_at" in shown and "Execution Time" in shown
    assert "history --since reads plan_events as: SEARCH plan_events USING INDEX ix_plan_events_at" in shown
    # PostgreSQL's planner scans a table this small whatever the indexes: its plan is shown, with its time
    assert re.search(r"history --since reads plan_events as: .*on plan_events.*Execution Time", shown), shown


def test_a_password_in_the_urls_query_is_never_shown_on_postgresql(database: str) -> None:
    """libpq takes `?password=` as well as the URL's userinfo: /status and every error name the store by
    `store.url`, which masks both."""
    store = Store.open(f"{database}?password=s3cret-pw&application_name=reconciler-test")
    try:
        store.record_revision("int", "abc", "d")
        assert "s3cret-pw" not in store.url and "password=***" in store.url and "application_name" in store.url
    finally:
        store.close()


def test_a_reader_refuses_an_older_schema_an_older_controller_still_writes_on_postgresql(database: str) -> None:
    """Read-only commands never migrate (tests/unit/store/reading.py)."""
    older_schema_is_refused_under_its_writer(database)


def test_a_reader_reads_the_previous_schema_as_it_is_on_postgresql(database: str) -> None:
    previous_schema_is_read_as_it_is(database)


def test_a_reader_writes_nothing_on_postgresql(database: str) -> None:
    reader_writes_nothing(database)


def test_a_reader_refuses_an_empty_or_a_newer_schema_on_postgresql(database: str) -> None:
    newer_and_empty_are_refused(database)


def test_an_upgrade_records_each_version_compatible_from_on_postgresql(database: str) -> None:
    an_upgrade_records_each_version_compatible_from(database)


def test_a_newer_index_only_store_is_written_and_read_as_it_is_on_postgresql(database: str) -> None:
    a_newer_index_only_store_is_used_as_it_is(database)


def test_a_newer_store_compatible_only_from_a_later_version_is_refused_on_postgresql(database: str) -> None:
    a_newer_store_that_raised_it_is_refused(database)


def test_a_plan_is_recorded_whole_once_the_store_takes_it_on_postgresql(database: str) -> None:
    a_plan_is_recorded_whole_once_the_store_takes_it(database)


def test_a_synced_revision_is_recorded_once_with_its_desired_state_on_postgresql(database: str) -> None:
    a_synced_revision_is_recorded_once_with_its_desired_state(database)


def test_a_record_the_database_refuses_is_dropped_after_its_tries_on_postgresql(
    database: str, caplog: pytest.LogCaptureFixture
) -> None:
    a_record_the_database_refuses_is_dropped_after_its_tries(database, caplog)


def test_a_decision_is_recorded_at_its_cycles_time_on_postgresql(database: str) -> None:
    a_decision_is_recorded_at_its_cycles_time(database)


def test_a_read_only_server_is_an_outage_and_drops_no_record_on_postgresql(database: str) -> None:
    """Writes refused as `read-only transaction` (a server that is a standby for now, as in a failover:
    SQLSTATE 25006, psycopg's InternalError) are an outage, not a refusal: the records wait past the tries,
    and go in once the server takes writes again."""
    name = make_url(database).database
    admin = make_url(server_url()).set(drivername="postgresql").render_as_string(hide_password=False)

    def read_only(on: bool) -> None:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {"on" if on else "off"}')

    store = Store.open(database)
    try:
        reporter = Reporter(ControllerMetrics(), store, lambda: {"revision": "rev1", "latest": "rev1"}, lambda: V1)
        read_only(True)
        store.close()  # the pool's connections began read-write: new ones take the setting
        reporter.record(CycleResult("c1", "start", execution=Execution((CREATED,)), actual=RUNNING))
        for number in range(2, TRIES + 3):
            reporter.record(CycleResult(f"c{number}", "resync", actual=RUNNING))
        outage = reporter.status()["store_outage"]
        assert outage["waiting"] == 2 and outage["dropped"] == 0 and "read-only" in outage["error"], outage
        read_only(False)
        store.close()
        reporter.record(CycleResult("c9", "resync", actual=RUNNING))
        assert [p.data["cycle_id"] for p in store.history() if p.kind == "plan"] == ["c1"]
        assert reporter.status()["store_outage"]["waiting"] == 0
    finally:
        store.close()


def test_waiting_records_are_written_at_stop_on_postgresql(database: str, caplog: pytest.LogCaptureFixture) -> None:
    waiting_records_are_written_at_stop(database, caplog)
