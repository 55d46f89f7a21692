"""The store's sessions (layer 3 adapter, store): each write one transaction, each read a session of its
own, and every SQLAlchemy error a StoreError that names the database without its password. A store is
safe to use from several threads at once (the controller's event loop and its worker thread): each call
takes a connection of its own from the engine's pool, and a SQLite file's pool lets a connection move
between threads. `serialised` is a transaction that holds a key's write lock from its first statement.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from reconciler.redaction import MASK, redact, secret_forms
from reconciler.store.migrations import StoreError

Clock = Callable[[], datetime]
Row = TypeVar("Row", bound=SQLModel)
# PostgreSQL's advisory locks of `serialised` (two int4 keys: a space apart from the migrations' bigint one).
_LOCK_SPACE = 0x6D72
# libpq's secret connection parameters, which a postgresql:// URL may carry in its query.
_SECRET_PARAMETERS = frozenset({"password", "sslpassword"})
LOCKED_HINT = ("another process holds the SQLite file's write lock (a controller or `reconciler approve` writing,"
               " or a transaction left open): try again once it ends")


def _lock_key(key: str) -> int:
    """`key` as a signed int4, the same in every reconciler (two keys that collide only share a lock)."""
    value = zlib.crc32(key.encode())
    return value - (1 << 32) if value >= 1 << 31 else value


def cause_of(exc: sa.exc.SQLAlchemyError, secrets: Sequence[str] = ()) -> str:
    """The driver's error class and its first line (`secrets` masked): never the connection string, which
    may hold a password."""
    orig = getattr(exc, "orig", None)
    if orig is None:
        return type(exc).__name__
    first = redact(str(orig).strip().splitlines()[0], secrets) if str(orig).strip() else ""
    return f"{type(orig).__name__}: {first}" if first else type(orig).__name__


# What a database that cannot be reached or used for now raises (down, restarting, locked, a connection lost, a
# pool waited out): a retry may pass. Any other error is the database refusing the statement.
_PASSING = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.DisconnectionError, sa.exc.TimeoutError)
# PostgreSQL's read_only_sql_transaction: a server that is a standby for now (a failover under way), which
# psycopg raises as an InternalError.
_PASSING_SQLSTATES = frozenset({"25006"})


def is_lasting(exc: sa.exc.SQLAlchemyError) -> bool:
    """`exc` says the same statement fails again (IntegrityError, DataError, ProgrammingError, a trigger's
    exception, a statement SQLAlchemy cannot build), not that the database is out of reach for now."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return False
    if getattr(getattr(exc, "orig", None), "sqlstate", None) in _PASSING_SQLSTATES:
        return False
    return not isinstance(exc, _PASSING)


def hint_for(exc: sa.exc.SQLAlchemyError, otherwise: str) -> str:
    """LOCKED_HINT when SQLite waited out another process's write lock, else `otherwise`."""
    return LOCKED_HINT if "database is locked" in str(getattr(exc, "orig", "")) else otherwise


def shown_url(url: sa.URL) -> str:
    """`url` as the store names it in errors and /status: its password and secret parameters masked."""
    hidden = {key: MASK for key in url.query if key.lower() in _SECRET_PARAMETERS}
    return url.update_query_dict(hidden).render_as_string(hide_password=True).replace(quote(MASK), MASK)


def secrets_of(url: sa.URL) -> tuple[str, ...]:
    """Every form of the secrets `url` carries, for masking a driver's error that quotes one."""
    values = [url.password or ""]
    for key, value in url.query.items():
        if key.lower() in _SECRET_PARAMETERS:
            values += [value] if isinstance(value, str) else list(value)
    return secret_forms(tokens=values)


def as_utc(at: datetime) -> datetime:
    """Aware UTC; a naive datetime is taken to be UTC already."""
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)


class Sessions:
    """An engine and a clock: what every part of the store writes and reads through."""

    def __init__(self, engine: sa.Engine, *, clock: Clock | None = None) -> None:
        self._engine = engine
        self._clock = clock or (lambda: datetime.now(UTC))
        self._secrets = secrets_of(engine.url)

    @property
    def url(self) -> str:
        return shown_url(self._engine.url)

    def close(self) -> None:
        self._engine.dispose()

    def now(self) -> datetime:
        return as_utc(self._clock())

    def write_failed(self, exc: sa.exc.SQLAlchemyError, hint: str) -> StoreError:
        error = StoreError(f"writing to the store at {self.url} failed: {cause_of(exc, self._secrets)}",
                           hint=hint_for(exc, hint))
        error.lasting = is_lasting(exc)
        return error

    @contextlib.contextmanager
    def serialised(self, key: str) -> Iterator[Session]:
        """A session whose transaction holds `key`'s write lock from its first statement to its end: of two
        such transactions on one key (in any reconciler), the second reads only once the first committed or
        rolled back. SQLite: BEGIN IMMEDIATE, the database's write lock (it serialises every writer);
        PostgreSQL: a transaction-scoped advisory lock on the key. Commit inside; leaving rolls back."""
        with Session(self._engine, expire_on_commit=False) as session:
            connection = session.connection()
            if connection.dialect.name == "sqlite":
                # pysqlite would begin a deferred transaction only at the first write, after the reads.
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            elif connection.dialect.name == "postgresql":
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:space, :key)"),
                                   {"space": _LOCK_SPACE, "key": _lock_key(key)})
            yield session

    def _add(self, rows: Sequence[Row]) -> list[Row]:
        try:
            with Session(self._engine, expire_on_commit=False) as session:
                session.add_all(rows)
                session.commit()
        except sa.exc.SQLAlchemyError as exc:
            raise self.write_failed(exc, "the history of this cycle is incomplete; check the database") from None
        return list(rows)

    def _all(self, statement: Any) -> list[Any]:
        try:
            with Session(self._engine, expire_on_commit=False) as session:
                return list(session.exec(statement).all())
        except sa.exc.SQLAlchemyError as exc:
            error = StoreError(f"reading the store at {self.url} failed: {cause_of(exc, self._secrets)}",
                               hint=hint_for(exc, "check that the database is reachable"))
            error.lasting = is_lasting(exc)
            raise error from None
