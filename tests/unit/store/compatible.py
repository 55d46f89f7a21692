"""A store newer than the reconciler opening it (an old replica restarting during a rolling upgrade, a
rolled-back deployment): used as it is when the newer steps kept `compatible_from` at or below this
version (indexes only), refused naming both versions otherwise. The newer versions are simulated with a
step past MIGRATIONS, applied by `Store.open(steps=...)` as the newer reconciler would. Shared by the SQLite
and the PostgreSQL tests (a path or a URL)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reconciler.engine.approvals import AWAITING
from reconciler.store import LATEST, Store, StoreError, database_url
from reconciler.store.migrations import MIGRATIONS, READS_FROM, Step

NEXT = LATEST + 1
ENV = "shop"


def _future_index(conn: Connection) -> None:
    conn.execute(sa.text("CREATE INDEX ix_future_actions_kind ON actions (kind)"))


def _future_column(conn: Connection) -> None:
    conn.execute(sa.text("ALTER TABLE actions ADD COLUMN future VARCHAR NOT NULL DEFAULT ''"))


INDEX_ONLY = Step(_future_index, MIGRATIONS[-1].compatible_from)  # keeps the latest step's marker
RAISING = Step(_future_column, NEXT)


def recorded(database: str | Path) -> list[tuple[int, int | None]]:
    """Every (version, compatible_from) of schema_version, in order."""
    engine = sa.create_engine(database_url(database))
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT version, compatible_from FROM schema_version ORDER BY version"))
            return [(int(v), None if c is None else int(c)) for v, c in rows]
    finally:
        engine.dispose()


def an_upgrade_records_each_version_compatible_from(database: str | Path) -> None:
    """A store of version 7 (before the marker) upgraded: every version gets its step's compatible_from."""
    Store.open(database, steps=MIGRATIONS[:7]).close()
    Store.open(database).close()
    assert recorded(database) == [(n, step.compatible_from) for n, step in enumerate(MIGRATIONS, start=1)]


def a_newer_index_only_store_is_used_as_it_is(database: str | Path) -> None:
    """The newer reconciler migrated to NEXT (an index); this one restarts beside it (or after a rollback):
    it writes and reads the store as it is, and leaves it at NEXT; so does a command that only reads."""
    newer = Store.open(database, steps=(*MIGRATIONS, INDEX_ONLY))
    newer.record_revision(ENV, "abc123", "d1")
    newer.close()
    older = Store.open(database)
    try:
        older.record_revision(ENV, "def456", "d2")
        older.record_plan("p1", ENV, "def456", "d2", AWAITING)
        assert [e.summary for e in older.history(env=ENV)][:2] == ["synced to abc123 (digest d1)",
                                                                   "synced to def456 (digest d2)"]
    finally:
        older.close()
    reader = Store.open_for_reading(database)
    try:
        assert [p.id for p in reader.plans_still(ENV, AWAITING)] == ["p1"]
    finally:
        reader.close()
    assert recorded(database)[-1] == (NEXT, INDEX_ONLY.compatible_from)


def a_newer_store_that_raised_it_is_refused(database: str | Path) -> None:
    """NEXT adds a column a writer must fill (compatible from NEXT), then NEXT + 1 an index (keeping NEXT):
    this reconciler, writing or reading, is refused naming both versions and the upgrade; nothing changes."""
    Store.open(database, steps=(*MIGRATIONS, RAISING, Step(_future_index, NEXT))).close()
    before = recorded(database)
    message = (f"the database's schema is at version {NEXT + 1}, newer than this reconciler knows ({LATEST}),"
               f" and compatible from version {NEXT} only")
    for opening in (Store.open, Store.open_for_reading):
        with pytest.raises(StoreError, match=message.replace("(", r"\(").replace(")", r"\)")) as refused:
            opening(database)
        assert f"upgrade the reconciler to one that knows schema version {NEXT} or later" in (refused.value.hint or "")
    assert recorded(database) == before


def reads_from_is_what_the_latest_step_is_compatible_from() -> None:
    """A reader of this version reads as it is every store a writer of READS_FROM may use; the markers never
    go down and never point past their own version."""
    assert MIGRATIONS[-1].compatible_from == READS_FROM
    markers = [step.compatible_from for step in MIGRATIONS]
    assert markers == sorted(markers)
    assert all(1 <= marker <= number for number, marker in enumerate(markers, start=1))
