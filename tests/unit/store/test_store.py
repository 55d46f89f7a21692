"""The store on SQLite files: creation, append-only records, history filters, migrations, errors."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from reconciler.core.autoscale_policy import AutoscalePolicy, MetricKind, MetricTarget
from reconciler.core.model import (
    Action,
    ActionKind,
    Desired,
    DesiredApp,
    DesiredEnvironment,
    HealPolicy,
    Outcome,
)
from reconciler.store import LATEST, Store, StoreError
from reconciler.store.desired import environment_only
from reconciler.store.migrations import MIGRATIONS, READS_FROM
from reconciler.store.sessions import LOCKED_HINT
from tests.unit.store.clocked import T0, Clock


def test_open_creates_the_file_and_its_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "history.db"
    store = Store.open(path)
    store.close()
    assert path.is_file()
    with sa.create_engine(f"sqlite:///{path}").connect() as conn:
        versions = [row[0] for row in conn.execute(sa.text("SELECT version FROM schema_version ORDER BY version"))]
    assert versions == list(range(1, LATEST + 1))
    Store.open(path).close()  # opening again applies nothing and keeps the versions


def test_records_read_back_as_history_in_time_order(store: Store, clock: Clock) -> None:
    store.record_revision("integration", "a" * 40, "d1", source="file:///repo")
    clock.tick()
    plan = store.record_plan("p1", "integration", "a" * 40, "d1", "awaiting-approval", cycle_id="c00001")
    clock.tick()
    assert store.approve_plan(plan, "awaiting-approval", "approved", by="alice", event="approved").moved
    clock.tick()
    store.record_actions(
        "p1",
        [
            Action(
                kind=ActionKind.CREATE,
                target="/integration/redis",
                env="integration",
                reason="not in Marathon",
                outcome=Outcome.SUCCEEDED,
            ),
            Action(
                kind=ActionKind.SCALE,
                target="/integration/web",
                env="integration",
                reason="2 -> 3",
                outcome=Outcome.FAILED,
                detail="409",
            ),
        ],
    )
    clock.tick()
    store.move_plan("p1", "approved", "applied")
    clock.tick()
    store.record_heal("integration", "/integration/web", "web.t1", "critical for 31s", "succeeded")
    store.record_autoscale("integration", "/integration/web", 3, 5, "cpu 140% of target")
    store.record_revision("func-1", "b" * 40, "d2")

    kinds = [e.kind for e in store.history(env="integration")]
    assert kinds == ["revision", "plan", "plan-status", "approval", "env-event", "action", "action", "plan-status",
                     "heal", "autoscale"]
    [approval] = [e for e in store.history(env="integration") if e.kind == "approval"]
    assert (approval.summary, approval.data["digest"]) == ("plan p1 approved by alice", "d1")
    assert store.last_revision("integration").revision == "a" * 40  # type: ignore[union-attr]
    assert store.last_revision("nowhere") is None
    assert store.plan_status("p1") == "applied"
    assert [a.kind for a in store.actions_of("p1")] == ["create", "scale"]
    assert store.actions_of("p1")[1].detail == "409"
    entry = store.history(env="integration")[0]
    assert entry.at == T0 and entry.data["source"] == "file:///repo"
    assert "synced to " + "a" * 40 in entry.summary


def test_history_filters_by_app_and_since(store: Store, clock: Clock) -> None:
    store.record_actions(
        "p1",
        [
            Action(
                kind=ActionKind.CREATE,
                target="/integration/redis",
                env="integration",
                reason="new",
                outcome=Outcome.SUCCEEDED,
            )
        ],
    )
    clock.tick(60)
    store.record_actions(
        "p2",
        [
            Action(
                kind=ActionKind.UPDATE,
                target="/integration/web",
                env="integration",
                reason="image",
                outcome=Outcome.SUCCEEDED,
            ),
            Action(
                kind=ActionKind.UPDATE, target="/func-1/web", env="func-1", reason="image", outcome=Outcome.SUCCEEDED
            ),
        ],
    )
    store.record_heal("integration", "/integration/web", "web.t9", "critical", "succeeded")

    web = store.history(env="integration", app="web")
    assert [(e.kind, e.app) for e in web] == [("action", "/integration/web"), ("heal", "/integration/web")]
    assert {e.env for e in store.history(app="web")} == {"integration", "func-1"}
    recent = store.history(since=T0 + timedelta(seconds=30))
    assert all(e.at >= T0 + timedelta(seconds=30) for e in recent) and len(recent) == 3
    assert store.history(env="integration", since=T0 + timedelta(hours=1)) == []


def test_an_upgrade_from_version_1_keeps_every_row(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "old.db"
    old = Store.open(path, steps=MIGRATIONS[:1])
    old.close()
    with sa.create_engine(f"sqlite:///{path}").begin() as conn:  # what a version-1 reconciler wrote
        conn.execute(
            sa.text("INSERT INTO revisions (env, revision, digest, at) VALUES ('int', 'abc', 'd', :at)"),
            {"at": T0.replace(tzinfo=None)},
        )
        conn.execute(
            sa.text(
                "INSERT INTO plans (id, env, revision, digest, status, at, cycle_id)"
                " VALUES ('p1', 'int', 'abc', 'd', 'applied', :at, 'c1')"
            ),
            {"at": T0.replace(tzinfo=None)},
        )
        conn.execute(
            sa.text(
                "INSERT INTO actions (plan_id, seq, env, app, kind, reason, outcome, detail, at)"
                " VALUES ('p1', 0, 'int', '/int/web', 'create', 'new', 'succeeded', '', :at)"
            ),
            {"at": T0.replace(tzinfo=None)},
        )

    upgraded = Store.open(path, clock=clock)
    try:
        revision = upgraded.last_revision("int")
        assert revision is not None and (revision.revision, revision.source) == ("abc", "")
        assert [e.kind for e in upgraded.history(env="int")] == ["revision", "plan", "action"]
        upgraded.record_autoscale("int", "/int/web", 1, 2, "cpu")  # the version-2 table works
        upgraded.record_revision("int", "def", "d2", source="git")
        assert upgraded.last_revision("int").source == "git"  # type: ignore[union-attr]
    finally:
        upgraded.close()


def test_the_migrations_build_exactly_the_tables_the_models_declare(store: Store, tmp_path: Path) -> None:
    inspector = sa.inspect(sa.create_engine(f"sqlite:///{tmp_path / 'history.db'}"))
    for name, table in SQLModel.metadata.tables.items():
        if name not in {
            "schema_version",
            "revisions",
            "plans",
            "plan_events",
            "actions",
            "heal_events",
            "approvals",
            "autoscale_decisions",
            "desired_states",
            "env_events",
        }:
            continue  # another package's model
        columns = {c["name"]: c["nullable"] for c in inspector.get_columns(name)}
        assert set(columns) == {c.name for c in table.columns}, name
        assert {c.name for c in table.columns if not c.nullable and not c.primary_key} <= {
            n for n, nullable in columns.items() if not nullable
        }, name
        indexed = {tuple(i["column_names"]) for i in inspector.get_indexes(name)}
        assert {tuple(c.name for c in i.columns) for i in table.indexes} <= indexed, name


def test_the_schema_readers_take_as_it_is_has_every_column_and_table_the_models_declare(tmp_path: Path) -> None:
    """READS_FROM moves with any step that adds a column or a table: a reader opens the store without a
    migration (Store.open_for_reading) and selects every column of the models."""
    Store.open(tmp_path / "oldest.db", steps=MIGRATIONS[:READS_FROM]).close()
    Store.open(tmp_path / "latest.db").close()

    def columns(path: Path) -> dict[str, set[str]]:
        inspector = sa.inspect(sa.create_engine(f"sqlite:///{path}"))
        found = {name: {c["name"] for c in inspector.get_columns(name)} for name in inspector.get_table_names()}
        found["schema_version"].discard("compatible_from")  # since v8; a store without it is read as before
        return found

    assert columns(tmp_path / "oldest.db") == columns(tmp_path / "latest.db")


@pytest.mark.parametrize("start", [0, 5], ids=["new-file", "version-5"])
def test_reconcilers_opening_one_sqlite_file_at_once_apply_each_step_once(tmp_path: Path, start: int) -> None:
    """Two controllers starting together (or a controller and `approve`) on one file that needs steps: one
    applies them under the write lock and the others find them (they failed with "duplicate column name",
    "table already exists" or a UNIQUE constraint on schema_version: the DDL ran outside a transaction)."""
    for attempt in range(5):
        path = tmp_path / f"history-{attempt}.db"
        if start:
            Store.open(path, steps=MIGRATIONS[:start]).close()
        assert _open_at_once(path, 3) == []
        with sa.create_engine(f"sqlite:///{path}").connect() as conn:
            versions = [r[0] for r in conn.execute(sa.text("SELECT version FROM schema_version ORDER BY version"))]
        assert versions == list(range(1, LATEST + 1))


def _open_at_once(path: Path, count: int) -> list[BaseException]:
    """`count` threads opening the store at `path` together; what they raised."""
    barrier = threading.Barrier(count, timeout=60)
    errors: list[BaseException] = []

    def open_and_close() -> None:
        barrier.wait()
        try:
            Store.open(path).close()
        except BaseException as exc:  # collected and returned
            errors.append(exc)

    threads = [threading.Thread(target=open_and_close) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    Store.open(path).close()
    with sa.create_engine(f"sqlite:///{path}").begin() as conn:
        conn.execute(
            sa.text("INSERT INTO schema_version (version, applied_at) VALUES (:v, :at)"),
            {"v": LATEST + 1, "at": T0.replace(tzinfo=None)},
        )
    with pytest.raises(StoreError, match=f"version {LATEST + 1}, newer"):
        Store.open(path)


def test_an_unusable_path_or_url_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot create the store's folder"):
        Store.open(blocker / "sub" / "history.db")
    with pytest.raises(StoreError, match="--database"):
        Store.open("://nothing")
    with pytest.raises(StoreError, match="cannot open the store at nope://x"):
        Store.open("nope://x")


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql+psycopg://reconciler:s3cret-pw@127.0.0.1:1/history?connect_timeout=5",
     "cannot open the store at postgresql+psycopg://reconciler:***@127.0.0.1:1/history?connect_timeout=5: "
     "OperationalError"),
    # libpq takes the password (and the client key's) from the query too
    ("postgresql+psycopg://reconciler@127.0.0.1:1/history?password=s3cret-pw&connect_timeout=5",
     "cannot open the store at postgresql+psycopg://reconciler@127.0.0.1:1/history?connect_timeout=5&password=***:"),
    ("postgresql+psycopg://reconciler@127.0.0.1:1/history?sslpassword=s3cret-pw&connect_timeout=5",
     "history?connect_timeout=5&sslpassword=***:"),
    # SQLAlchemy reads the port with int(): a ValueError, not its ArgumentError
    ("postgresql+psycopg://reconciler:s3cret-pw@127.0.0.1:port/history", "--database: the URL's port is not a number"),
])
def test_a_database_password_never_appears_in_errors(url: str, shown: str) -> None:
    with pytest.raises(StoreError) as caught:
        Store.open(url)
    assert "s3cret-pw" not in str(caught.value) and shown in str(caught.value)


def test_a_sqlite_file_another_process_holds_locked_names_the_lock(tmp_path: Path) -> None:
    """A writer waits out SQLite's busy timeout (5 s), then is told another process holds the file; so is an
    open that must upgrade the schema. Reads go on beside the lock (the holder has not committed yet)."""
    old, current = tmp_path / "old.db", tmp_path / "current.db"
    Store.open(old, steps=MIGRATIONS[:5]).close()
    store = Store.open(current)
    store.record_revision("shop", "r1", "d1")
    holders = [sqlite3.connect(path, isolation_level=None) for path in (old, current)]
    try:
        for holder in holders:
            holder.execute("BEGIN IMMEDIATE")  # `approve`'s transaction, say, not yet committed
        assert store.last_revision("shop") is not None
        with pytest.raises(StoreError, match="failed: OperationalError: database is locked") as writing:
            store.record_revision("shop", "r2", "d2")
        with pytest.raises(StoreError, match=f"cannot open the store at sqlite:///{old}: OperationalError: database"
                                             " is locked") as opening:
            Store.open(old, must_exist=True)
    finally:
        for holder in holders:
            holder.close()
        store.close()
    assert writing.value.hint == opening.value.hint == LOCKED_HINT


def test_a_desired_state_reads_back_equal_per_environment_and_revision(store: Store, clock: Clock) -> None:
    desired = _two_environments()
    store.record_desired_state("integration", "a" * 40, "d1", desired)
    clock.tick()
    store.record_desired_state("integration", "b" * 40, "d2", replace(desired, revision="b" * 40))
    assert store.desired_state("integration", revision="aaaaaaa") == environment_only(desired, "integration")
    latest = store.desired_state("integration")
    assert latest is not None and latest.revision == "b" * 40
    assert set(latest.apps) == {"/int/api"}  # the other environment's apps are not kept with it
    assert store.desired_state("integration", digest="d1") == environment_only(desired, "integration")
    assert store.desired_state("integration", revision="c") is None
    assert store.desired_state("functional") is None


def test_the_latest_environment_event_of_the_kinds_asked(store: Store, clock: Clock) -> None:
    assert store.last_env_event("integration", ["paused", "resumed"]) is None
    store.record_env_event("integration", "paused", revision="a" * 40, by="alice", detail="rollback")
    clock.tick()
    store.record_env_event("functional", "resumed")
    found = store.last_env_event("integration", ["paused", "resumed"])
    assert found is not None and (found.kind, found.by, found.revision) == ("paused", "alice", "a" * 40)
    clock.tick()
    store.record_env_event("integration", "resumed", by="bob")
    found = store.last_env_event("integration", ["paused", "resumed"])
    assert found is not None and found.kind == "resumed"


def _two_environments() -> Desired:
    environments = {
        "integration": DesiredEnvironment(name="integration", group="/int"),
        "functional": DesiredEnvironment(name="functional", group="/fn", base="integration", approval_required=True),
    }
    policy = AutoscalePolicy(min_instances=1, max_instances=4, metrics=(MetricTarget(MetricKind.CPU, 0.7),))
    apps = {
        "/int/api": DesiredApp(app_id="/int/api", env="integration", name="api", instances=2,
                               definition={"id": "/int/api", "cmd": "serve", "labels": {"a": "b"}},
                               heal=HealPolicy(), autoscale=policy, source="specs/int.yaml:3"),
        "/fn/api": DesiredApp(app_id="/fn/api", env="functional", name="api", instances=1,
                              definition={"id": "/fn/api", "cmd": "serve"}),
    }
    return Desired(environments=environments, apps=apps, revision="a" * 40)


def test_an_in_memory_store_is_one_database_from_every_thread() -> None:
    """The controller's approval gate uses the store from a worker thread: an in-memory store (`sqlite://`)
    is the same database there as on the event loop's thread, not an empty one of that thread's own."""
    store = Store.open("sqlite://")
    try:
        store.record_revision("prod", "r1", "d1")

        def in_a_thread(number: int) -> list[str]:
            store.record_env_event("prod", "paused", revision=f"r{number}")
            return [r.revision for r in store.revisions("prod")]

        with ThreadPoolExecutor(max_workers=3) as pool:
            seen = list(pool.map(in_a_thread, range(2, 8)))
        assert seen == [["r1"]] * 6
        assert sorted(e.data["revision"] for e in store.history(env="prod") if e.kind == "env-event") == [
            f"r{n}" for n in range(2, 8)]
    finally:
        store.close()
