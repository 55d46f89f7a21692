"""Benchmark: the plan reads of the approval gate and `status` on a big history store (figures, not assertions).

Run with `.venv/bin/python -m tests.bench.bench_store [PLANS] [--postgres URL]` from the project root
(under `flock /work/wt/bench.lock` beside other benchmarks). It fills a store with PLANS plans (default
22,000) of one environment, as a controller leaves them after months: nine in ten recorded `applied` by
sync cycles, one in ten recorded `awaiting-approval` then approved and applied or superseded (two events
each), and one still awaiting; and 2,000 plans of another environment. Then it times, median of 50 calls
in milliseconds, `plans_still(env, awaiting-approval)`, `awaiting_approval(env)` and `plans_now(env,
awaiting-approval, (approved,))`, at schema version 6 (the `env` index alone) and at the latest (v7 adds
the `(env, status)` index), on a SQLite file and, with `--postgres URL` (a server database the benchmark
may create databases in), on PostgreSQL; and how the database runs `plans_still` (the query plan's scan of
`plans`; on PostgreSQL with its own execution time, without the Python and pool around the call). It also
times `history --since 1h` (the last hour of plans), with and without `--env`, and shows how the database
reads `plan_events` for it. `--versions 8,9` picks the schema versions measured.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from reconciler.store import LATEST, Store, database_url
from reconciler.store.migrations import MIGRATIONS

ENV, OTHER = "prod", "staging"
AWAITING, APPROVED, APPLIED, SUPERSEDED = "awaiting-approval", "approved", "applied", "superseded"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
CALLS = 50


def fill(database: str | Path, plans: int) -> None:
    """The plans and their events, written in bulk through SQLAlchemy Core."""
    plan_rows: list[dict[str, object]] = []
    event_rows: list[dict[str, object]] = []
    for n in range(plans + 2000):
        env = ENV if n < plans else OTHER
        at = T0 + timedelta(minutes=n)
        gated = n % 10 == 0 or n == plans - 1
        status = AWAITING if gated else APPLIED
        state = AWAITING if n == plans - 1 else (SUPERSEDED if n % 20 == 0 else APPLIED) if gated else APPLIED
        plan_rows.append({"id": f"p{n:06d}", "env": env, "revision": f"r{n}", "digest": f"d{n}", "status": status,
                          "at": at, "cycle_id": "", "state": state})
        if gated and state != AWAITING:
            first = APPROVED if state == APPLIED else SUPERSEDED
            event_rows.append({"plan_id": f"p{n:06d}", "status": first, "at": at + timedelta(seconds=10),
                               "detail": ""})
            if state == APPLIED:
                event_rows.append({"plan_id": f"p{n:06d}", "status": APPLIED, "at": at + timedelta(seconds=20),
                                   "detail": ""})
    engine = sa.create_engine(database_url(database))
    try:
        with engine.begin() as conn:
            conn.execute(sa.table("plans", *(sa.column(k) for k in plan_rows[0])).insert(), plan_rows)
            conn.execute(sa.table("plan_events", *(sa.column(k) for k in event_rows[0])).insert(), event_rows)
            conn.execute(sa.text("ANALYZE"))  # the planner's statistics, as a store in use has them
    finally:
        engine.dispose()


def median_ms(call: Callable[[], object]) -> float:
    call()  # warm: connections, statement caches
    times = []
    for _ in range(CALLS):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def plan_of_plans_still(database: str | Path) -> str:
    """How the database runs `plans_still`'s statement: SQLite's query plan of `plans`, PostgreSQL's scan of
    `plans` and the execution time it measured (EXPLAIN ANALYZE), apart from the call's Python and pool."""
    from sqlmodel import col, select

    from reconciler.store.plans import _may_move, _state_now
    from reconciler.store.tables import PlanRecord

    statement = (select(PlanRecord, _state_now())
                 .where(PlanRecord.env == ENV, PlanRecord.status == AWAITING,
                        col(PlanRecord.state).in_([AWAITING]) | _may_move(moved_on=False))
                 .order_by(col(PlanRecord.at).desc(), col(PlanRecord.id).desc()))
    engine = sa.create_engine(database_url(database))
    try:
        sql = str(statement.compile(engine, compile_kwargs={"literal_binds": True}))
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                lines = [str(row[3]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
                return next(line for line in lines if " plans " in f"{line} ")
            lines = [str(row[0]).strip() for row in conn.exec_driver_sql("EXPLAIN ANALYZE " + sql)]
            scan = next(line for line in lines if "on plans" in line and "Scan" in line)
            return f"{scan.split('(')[0].strip('-> ')}; {lines[-1]}"
    finally:
        engine.dispose()


def last_hour(plans: int) -> datetime:
    """`history --since 1h` at the time of the last plan recorded."""
    return T0 + timedelta(minutes=plans + 2000 - 60)


def plan_of_history(database: str | Path, env: str | None, since: datetime) -> str:
    """How the database reads `plan_events` for `history --since` (with `--env` when `env` is given): SQLite's
    query plan of `plan_events`, PostgreSQL's scan of it and its own execution time (EXPLAIN ANALYZE)."""
    from reconciler.store.history import _plan_events

    engine = sa.create_engine(database_url(database))
    try:
        sql = str(_plan_events(env, since).compile(engine, compile_kwargs={"literal_binds": True}))
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                lines = [str(row[3]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
                return "; ".join(lines)
            lines = [str(row[0]).strip() for row in conn.exec_driver_sql("EXPLAIN ANALYZE " + sql)]
            scans = [line.split("(")[0].strip("-> ") for line in lines if "Scan" in line]
            return f"{'; '.join(scans)}; {lines[-1]}"
    finally:
        engine.dispose()


def measure(database: str | Path, version: int, plans: int) -> dict[str, float]:
    Store.open(database, steps=MIGRATIONS[:version]).close()
    fill(database, plans)
    store = Store.open(database, steps=MIGRATIONS[:version])  # at `version` still (runs on earlier code too)
    try:
        assert [p.id for p in store.plans_still(ENV, AWAITING)] == [f"p{plans - 1:06d}"]
        since = last_hour(plans)
        assert len(store.history(since=since)) == len(store.history(env=OTHER, since=since)) > 0
        return {
            "plans_still": median_ms(lambda: store.plans_still(ENV, AWAITING)),
            "awaiting_approval": median_ms(lambda: store.awaiting_approval(ENV)),
            "plans_now": median_ms(lambda: store.plans_now(ENV, AWAITING, (APPROVED,))),
            "history_since": median_ms(lambda: store.history(since=since)),
            "history_env_since": median_ms(lambda: store.history(env=ENV, since=since)),
        }
    finally:
        store.close()


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        yield str(Path(folder) / "history.db")


@contextmanager
def postgres_database(server: str) -> Iterator[str]:
    url = make_url(server)
    name = f"reconciler_bench_{uuid.uuid4().hex[:12]}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str]) -> None:
    plans = int(argv[0]) if argv and not argv[0].startswith("--") else 22_000
    backends: list[tuple[str, Callable[[], AbstractContextManager[str]]]] = [("sqlite", sqlite_database)]
    if "--postgres" in argv:
        server = argv[argv.index("--postgres") + 1]
        backends.append(("postgresql", lambda: postgres_database(server)))
    print(f"{plans} plans of {ENV} ({plans // 10 + 1} recorded awaiting approval), 2000 of {OTHER}; median of"
          f" {CALLS} calls, ms")
    versions = sorted({6, LATEST})
    if "--versions" in argv:
        versions = [int(v) for v in argv[argv.index("--versions") + 1].split(",")]
    for backend, make in backends:
        for version in versions:
            with make() as database:
                figures = measure(database, version, plans)
                how = plan_of_plans_still(database)
                history = [plan_of_history(database, env, last_hour(plans)) for env in (None, ENV)]
            print(f"{backend:10} v{version}  " + "  ".join(f"{k} {v:7.2f}" for k, v in figures.items()))
            print(f"{'':10} v{version}  plans_still runs as: {how}")
            print(f"{'':10} v{version}  history --since reads plan_events as: {history[0]}")
            print(f"{'':10} v{version}  history --env --since reads plan_events as: {history[1]}")


if __name__ == "__main__":
    main(sys.argv[1:])
