"""Versioned schema migrations of the store (layer 3 adapter, store).

Each step is frozen DDL for one version: once released, a step never changes; a new column or table
is a new step. Opening a store applies the missing steps in order inside one transaction (under the
database's write lock on SQLite, an advisory lock on PostgreSQL, so two controllers starting together
do not race), and records each version in `schema_version`. Rows are never dropped by a step: an
upgrade keeps all history (autoscale samples, measurements rather than history, are pruned by age by
the controller).

Each step also says from which version a reconciler may still read and write a store at it
(`compatible_from`): a step that only adds an index keeps the previous step's, a step that changes what a
writer must write or a reader finds (a column, a table) raises it to its own version. Since version 8 the
store records it beside each version (`schema_version.compatible_from`), so a reconciler meeting a store
newer than it knows (an old replica restarting in a rolling upgrade, a rolled-back deployment) uses it as
it is when the store's marker is at or below its own latest version, and refuses it otherwise, naming
both versions. Reconcilers before version 8 do not read the marker: they refuse any newer store.

Only a reconciler that writes migrates. A command that only reads (`history`, `status`, `autoscale
simulate --from-history`) takes the schema as it is (`check_readable`): from READS_FROM, the latest
step's `compatible_from` (the oldest version with every column and table this one reads), to LATEST, or a
newer one compatible from LATEST or before; any other is refused, naming it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reconciler.errors import ReconcilerError

DDL = Callable[[Connection], None]
_ADVISORY_LOCK_KEY = 0x6D72_6563  # any fixed number: it only has to be the same for every reconciler


class StoreError(ReconcilerError):
    """A store that failed. `lasting`: the database answered and refused this write or read (a constraint, a
    value a column refuses, a statement it rejects), so the same one fails again; otherwise the database
    could not be reached or used for now (down, restarting, locked, a connection lost) and a retry may pass
    (sessions.py's `is_lasting`)."""

    code = "store-error"
    lasting = False


@dataclass(frozen=True)
class Step:
    """One schema version: its frozen DDL, and the oldest version whose reconciler may still read and write a
    store at this one (an index-only step keeps the previous step's, any other raises it to its own)."""

    apply: DDL
    compatible_from: int


@dataclass(frozen=True)
class Schema:
    """A store's schema: its version and, recorded with it since version 8, the oldest version whose
    reconciler may use it (before 8, the version itself: nothing older was told otherwise)."""

    version: int
    compatible_from: int


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
    `at` and PostgreSQL fetched every plan of the environment. An index only, compatible from 6
    (docs/performance.md, tests/bench/bench_store.py); reconcilers of 6 and 7 do not read that marker."""
    conn.execute(sa.text("CREATE INDEX ix_plans_env_status_at ON plans (env, status, at)"))


def _version_8(conn: Connection) -> None:
    """Each schema version records from which version a reconciler may still use the store (its step's
    `compatible_from`); the versions before get theirs (7 added an index only, so 6; the others their own)."""
    conn.execute(sa.text("ALTER TABLE schema_version ADD COLUMN compatible_from INTEGER"))
    conn.execute(sa.text("UPDATE schema_version SET compatible_from = CASE WHEN version = 7 THEN 6 ELSE version END"))


def _version_9(conn: Connection) -> None:
    """The plans' later statuses by time (`history --since`): without it, SQLite and PostgreSQL read every
    `plan_events` row to keep the recent ones. An index only, compatible from 6 as 8 (docs/performance.md,
    tests/bench/bench_store.py)."""
    conn.execute(sa.text("CREATE INDEX ix_plan_events_at ON plan_events (at)"))


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)


def _str(name: str, *, index: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String, nullable=False, index=index)


MIGRATIONS: tuple[Step, ...] = (
    Step(_version_1, 1), Step(_version_2, 2), Step(_version_3, 3), Step(_version_4, 4), Step(_version_5, 5),
    Step(_version_6, 6), Step(_version_7, 6),
    # 8 changes only schema_version, which a reconciler writes when it migrates, never a store newer than it.
    Step(_version_8, 6), Step(_version_9, 6),
)
LATEST = len(MIGRATIONS)
# The oldest version holding every column and table of tables.py: what the latest step is compatible from.
READS_FROM = MIGRATIONS[-1].compatible_from
_MARKED_FROM = 8  # the first version recorded with its compatible_from
_READING_HINT = "reading never upgrades a store"


def stored_schema(conn: Connection) -> Schema:
    """The highest version recorded and its compatible_from; version 0 for an empty database."""
    inspector = sa.inspect(conn)
    if not inspector.has_table("schema_version"):
        return Schema(0, 0)
    if "compatible_from" not in {c["name"] for c in inspector.get_columns("schema_version")}:
        version = int(conn.execute(sa.text("SELECT MAX(version) FROM schema_version")).scalar() or 0)
        return Schema(version, version)
    row = conn.execute(sa.text(
        "SELECT version, compatible_from FROM schema_version ORDER BY version DESC LIMIT 1")).first()
    if row is None:
        return Schema(0, 0)
    return Schema(int(row[0]), int(row[1] if row[1] is not None else row[0]))


def current_version(conn: Connection) -> int:
    """The highest version recorded, 0 for an empty database."""
    return stored_schema(conn).version


def migrate(engine: sa.Engine, steps: Sequence[Step] = MIGRATIONS) -> int:
    """Applies the steps the database lacks, in order; returns the version it is at afterwards. A database
    already at the version is only read; otherwise the steps run in one transaction holding the write lock
    from its first statement (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock), which reads the
    version again: of reconcilers opening one store at once, one applies them and the others find them."""
    with engine.connect() as conn:
        schema = stored_schema(conn)
    if schema.version >= len(steps):
        return _usable(schema, len(steps), "an older one must not write to a newer schema")
    with engine.begin() as conn:
        _lock(conn)
        schema = stored_schema(conn)
        if schema.version >= len(steps):
            return _usable(schema, len(steps), "an older one must not write to a newer schema")
        for number, step in enumerate(steps[schema.version:], start=schema.version + 1):
            step.apply(conn)
            _record(conn, number, step)
        return len(steps)


def _record(conn: Connection, number: int, step: Step) -> None:
    at = datetime.now(UTC)
    if number < _MARKED_FROM:
        conn.execute(sa.text("INSERT INTO schema_version (version, applied_at) VALUES (:v, :at)"),
                     {"v": number, "at": at})
    else:
        conn.execute(sa.text("INSERT INTO schema_version (version, applied_at, compatible_from) VALUES (:v, :at, :c)"),
                     {"v": number, "at": at, "c": step.compatible_from})


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
    schema = stored_schema(conn)
    version = schema.version
    if version > LATEST:
        return _usable(schema, LATEST, "an older one cannot read what a newer one recorded")
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


def _usable(schema: Schema, known: int, why: str) -> int:
    """The version of a store at or above `known` that a reconciler knowing up to `known` uses as it is: one
    whose steps past `known` kept compatible_from at or below it (indexes only); a StoreError otherwise."""
    if schema.compatible_from <= known:
        return schema.version
    raise StoreError(
        f"the database's schema is at version {schema.version}, newer than this reconciler knows ({known}),"
        f" and compatible from version {schema.compatible_from} only",
        hint=f"upgrade the reconciler to one that knows schema version {schema.compatible_from} or later: {why}; a"
             f" rollback to a version before {schema.compatible_from} needs the database as it was before that upgrade",
    )
