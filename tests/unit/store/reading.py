"""A command that only reads (`history`, `status`, `autoscale simulate --from-history`) opens the store with
Store.open_for_reading: it never upgrades a schema (an older controller may still write to it), reads the
oldest one it can as it is, refuses the others naming their version, and its connections cannot write.
Shared by the SQLite and the PostgreSQL tests (a path or a URL)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from reconciler.engine.approvals import AWAITING
from reconciler.store import LATEST, Store, StoreError, database_url
from reconciler.store.migrations import MIGRATIONS, READS_FROM
from tests.unit.store.clocked import T0
from tests.unit.store.old_awaiting import ENV
from tests.unit.store.old_writer import old_plan


def schema_version(database: str | Path) -> int:
    engine = sa.create_engine(database_url(database))
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT MAX(version) FROM schema_version")).scalar() or 0)
    finally:
        engine.dispose()


def older_schema_is_refused_under_its_writer(database: str | Path) -> None:
    """A v5 controller writes; a reader of this version is refused, naming version 5 and `reconciler run`, and
    the store stays at 5 for that controller, which goes on writing."""
    Store.open(database, steps=MIGRATIONS[:5]).close()
    old_plan(database, "old1", "1.0", T0)
    with pytest.raises(StoreError, match=f"schema is at version 5, older than this reconciler reads \\({READS_FROM}"
                                         f" to {LATEST}\\); reading never upgrades a store") as refused:
        Store.open_for_reading(database)
    assert "`reconciler run` with the same --database" in (refused.value.hint or "")
    assert schema_version(database) == 5
    old_plan(database, "old2", "2.0", T0)  # through the columns v5 knows, as before


def previous_schema_is_read_as_it_is(database: str | Path) -> None:
    """A store at READS_FROM (the previous version's controller writes it) is read without a migration."""
    writer = Store.open(database, steps=MIGRATIONS[:READS_FROM])
    try:
        writer.record_revision(ENV, "abc123", "d1")
        writer.record_plan("p1", ENV, "abc123", "d1", AWAITING)
    finally:
        writer.close()
    reader = Store.open_for_reading(database)
    try:
        assert [e.kind for e in reader.history(env=ENV)] == ["revision", "plan"]
        assert [p.id for p in reader.plans_still(ENV, AWAITING)] == ["p1"]
        assert getattr(reader.awaiting_approval(ENV), "id", None) == "p1"
    finally:
        reader.close()
    assert schema_version(database) == READS_FROM


def reader_writes_nothing(database: str | Path) -> None:
    """The database refuses a reader's write, whatever the code calls."""
    Store.open(database).close()
    reader = Store.open_for_reading(database)
    try:
        with pytest.raises(StoreError, match=r"read-?only"):
            reader.record_revision(ENV, "abc123", "d1")
        assert reader.history() == []
    finally:
        reader.close()


def newer_and_empty_are_refused(database: str | Path) -> None:
    """No schema at all (a database nothing wrote), then one newer than this version knows."""
    with pytest.raises(StoreError, match="holds no reconciler history"):
        Store.open_for_reading(database)
    Store.open(database).close()
    engine = sa.create_engine(database_url(database))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO schema_version (version, applied_at) VALUES (:v, :at)"),
                         {"v": LATEST + 1, "at": T0})
    finally:
        engine.dispose()
    with pytest.raises(StoreError, match=f"version {LATEST + 1}, newer than this reconciler knows \\({LATEST}\\)"):
        Store.open_for_reading(database)
