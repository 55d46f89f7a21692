"""Versioned schema migrations of the store (layer 3 adapter, store).

Each step is frozen DDL for one version: once released, a step never changes; a new column or table
is a new step. Opening a store applies the missing steps in order inside one transaction (under the
database's write lock on SQLite, an advisory lock on PostgreSQL, so two controllers starting together
do not race), and records each version in `schema_version`. Rows are never dropped by a step: an
upgrade keeps all history (autoscale samples, measurements rather than history, are pruned by age by
the controller).

Only a reconciler that writes migrates. A command that only reads (`history`, `status`, `autoscale
simulate --from-history`) takes the schema as it is (`check_readable`): from READS_FROM, the oldest
version with every column and table this one reads (a step that only adds an index leaves it alone, one
that adds a column or a table moves it to its own version), to LATEST; any other is refused, naming it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reconciler.errors import ReconcilerError

Step = Callable[[Connection], None]
_ADVISORY_LOCK_KEY = 0x6D72_6563  # any fixed number: it only has to be the same for every reconciler


class StoreError(ReconcilerError):
    code = "store-error"


def _version_1(conn: Connection) -> None:
    meta = sa.MetaData()
    when = sa.DateTime(timezone=True)
    sa.Table("schema_version", meta, sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("applied_at", when, nullable=False))
    sa.Table("revisions", meta, _id(), _str("env", index=True), _str("revision"), _str("digest"),
             sa.Column("at", when, nullable=False, index=True))
    sa.Table("plans", meta, sa.Column("id", sa.String, primary_key=True), _str("env", index=True),
             _str("revision"), _str("digest"), _str("status"), sa.Column("at", when, nullable=False, index=True),
             _str("cycle_id"))
    sa.Table("plan_events", meta, _id(), _str("plan_id", index=True), _str("status"),
             sa.Column("at", when, nullable=False), _str("detail"))
    sa.Table("actions", meta, _id(), _str("plan_id", index=True), sa.Column("seq", sa.Integer, nullable=False),
             _str("env", index=True), _str("app", index=True), _str("kind"), _str("reason"), _str("outcome"),
             _str("detail"), sa.Column("at", when, nullable=False, index=True))
    sa.Table("heal_events", meta, _id(), _str("env", index=True), _str("app", index=True), _str("task_id"),
             _str("reason"), _str("outcome"), sa.Column("at", when, nullable=False, index=True))
    sa.Table("approvals", meta, _id(), _str("plan_id", index=True), _str("env", index=True), _str("digest"),
             _str("decision"), _str("by"), sa.Column("at", when, nullable=False, index=True), _str("note"))
    meta.create_all(conn)


def _version_2(conn: Connection) -> None:
    """Revisions remember their source; autoscale decisions get their table."""
    conn.execute(sa.text("ALTER TABLE revisions ADD COLUMN source VARCHAR NOT NULL DEFAULT ''"))
    meta = sa.MetaData()
    sa.Table("autoscale_decisions", meta, _id(), _str("env", index=True), _str("app", index=True),
             sa.Column("current", sa.Integer, nullable=False), sa.Column("desired", sa.Integer, nullable=False),
             _str("reason"), sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True))
    meta.create_all(conn)


def _version_3(conn: Connection) -> None:
    """Desired states kept per revision (rollback, approvals) and environment events (pause, resume)."""
    meta = sa.MetaData()
    when = sa.DateTime(timezone=True)
    sa.Table("desired_states", meta, _id(), _str("env", index=True), _str("revision"), _str("digest", index=True),
             sa.Column("document", sa.Text, nullable=False), sa.Column("at", when, nullable=False, index=True))
    sa.Table("env_events", meta, _id(), _str("env", index=True), _str("kind"), _str("revision"), _str("digest"),
             _str("by"), _str("detail"), sa.Column("at", when, nullable=False, index=True))
    meta.create_all(conn)


def _version_4(conn: Connection) -> None:
    """An autoscale decision keeps its cycle, the rule that limited it, its recommendation and metrics."""
    for column in ("cycle_id VARCHAR NOT NULL DEFAULT ''", "limited_by VARCHAR NOT NULL DEFAULT ''",
                   "recommendation INTEGER", "metrics TEXT NOT NULL DEFAULT '[]'"):
        conn.execute(sa.text(f"ALTER TABLE autoscale_decisions ADD COLUMN {column}"))


def _version_5(conn: Connection) -> None:
    """What each autoscale decision was made from (its samples), kept for a bounded time for replays."""
    meta = sa.MetaData()
    sa.Table("autoscale_samples", meta, _id(), _str("env"), _str("app", index=True), _str("cycle_id"),
             sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
             sa.Column("instances", sa.Integer, nullable=False), _str("policy_digest"),
             sa.Column("document", sa.Text, nullable=False))
    meta.create_all(conn)


def _version_6(conn: Connection) -> None:
    """A plan keeps its latest status in `state`, the column a compare-and-set moves: each plan gets it
    from its latest event, else the status it was recorded with."""
    conn.execute(sa.text("ALTER TABLE plans ADD COLUMN state VARCHAR NOT NULL DEFAULT ''"))
    conn.execute(sa.text(
        "UPDATE plans SET state = COALESCE((SELECT e.status FROM plan_events e WHERE e.plan_id = plans.id"
        " ORDER BY e.at DESC, e.id DESC LIMIT 1), status)"
    ))


def _version_7(conn: Connection) -> None:
    """The plans of an environment recorded with one status, newest first (`plans_still`, `awaiting_approval`,
    the approval gate's transaction), through one index: with `env`'s alone, SQLite walked every plan by
    `at` and PostgreSQL fetched every plan of the environment. An index only: a reconciler of version 6
    reads and writes a store at 7 as it is (docs/performance.md, tests/bench/bench_store.py)."""
    conn.execute(sa.text("CREATE INDEX ix_plans_env_status_at ON plans (env, status, at)"))


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)


def _str(name: str, *, index: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String, nullable=False, index=index)


MIGRATIONS: tuple[Step, ...] = (
    _version_1, _version_2, _version_3, _version_4, _version_5, _version_6, _version_7,
)
LATEST = len(MIGRATIONS)
READS_FROM = 6  # the oldest version holding every column and table of tables.py (7 added an index only)
_READING_HINT = "reading never upgrades a store"


def current_version(conn: Connection) -> int:
    """The highest version recorded, 0 for an empty database."""
    if not sa.inspect(conn).has_table("schema_version"):
        return 0
    found = conn.execute(sa.text("SELECT MAX(version) FROM schema_version")).scalar()
    return int(found or 0)


def migrate(engine: sa.Engine, steps: Sequence[Step] = MIGRATIONS) -> int:
    """Applies the steps the database lacks, in order; returns the version it is at afterwards. A database
    already at the version is only read; otherwise the steps run in one transaction holding the write lock
    from its first statement (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock), which reads the
    version again: of reconcilers opening one store at once, one applies them and the others find them."""
    with engine.connect() as conn:
        version = current_version(conn)
    if version > len(steps):
        raise _newer(version, len(steps), "an older one must not write to a newer schema")
    if version == len(steps):
        return version
    with engine.begin() as conn:
        _lock(conn)
        version = current_version(conn)
        if version > len(steps):
            raise _newer(version, len(steps), "an older one must not write to a newer schema")
        for number, step in enumerate(steps[version:], start=version + 1):
            step(conn)
            conn.execute(
                sa.text("INSERT INTO schema_version (version, applied_at) VALUES (:v, :at)"),
                {"v": number, "at": datetime.now(UTC)},
            )
        return max(version, len(steps))


def _lock(conn: Connection) -> None:
    """The migrations' lock, held to the end of `conn`'s transaction. SQLite: without BEGIN IMMEDIATE,
    pysqlite would run the steps' DDL outside any transaction, and two reconcilers would both apply them."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def check_readable(conn: Connection) -> int:
    """The version of the database behind `conn` when this reconciler reads it as it is (READS_FROM to
    LATEST); a StoreError naming the version and what to do otherwise. Writes nothing."""
    version = current_version(conn)
    if version > LATEST:
        raise _newer(version, LATEST, "an older one cannot read what a newer one recorded")
    if version == 0:
        raise StoreError("the database holds no reconciler history (no schema_version table)",
                         hint="point --database at the store `reconciler run` writes")
    if version < READS_FROM:
        raise StoreError(
            f"the database's schema is at version {version}, older than this reconciler reads"
            f" ({READS_FROM} to {LATEST}); {_READING_HINT}",
            hint="a reconciler of this version upgrades it when it opens it to write: `reconciler run` with the"
                 " same --database (once the reconcilers writing to it are upgraded); until then read it with the"
                 " version that writes it",
        )
    return version


def _newer(version: int, known: int, why: str) -> StoreError:
    return StoreError(f"the database's schema is at version {version}, newer than this reconciler knows ({known})",
                      hint=f"upgrade the reconciler; {why}")
