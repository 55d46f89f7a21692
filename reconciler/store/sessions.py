"""The store's sessions (layer 3 adapter, store): each write one transaction, each read a session of its
own, and every SQLAlchemy error a StoreError that names the database without its password.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from reconciler.store.migrations import StoreError

Clock = Callable[[], datetime]
Row = TypeVar("Row", bound=SQLModel)


def cause_of(exc: sa.exc.SQLAlchemyError) -> str:
    """The driver's error class and its first line: never the connection string, which may hold a password."""
    orig = getattr(exc, "orig", None)
    if orig is None:
        return type(exc).__name__
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
    return f"{type(orig).__name__}: {first}" if first else type(orig).__name__


def as_utc(at: datetime) -> datetime:
    """Aware UTC; a naive datetime is taken to be UTC already."""
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)


class Sessions:
    """An engine and a clock: what every part of the store writes and reads through."""

    def __init__(self, engine: sa.Engine, *, clock: Clock | None = None) -> None:
        self._engine = engine
        self._clock = clock or (lambda: datetime.now(UTC))

    @property
    def url(self) -> str:
        return self._engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self._engine.dispose()

    def now(self) -> datetime:
        return as_utc(self._clock())

    def write_failed(self, exc: sa.exc.SQLAlchemyError, hint: str) -> StoreError:
        return StoreError(f"writing to the store at {self.url} failed: {cause_of(exc)}", hint=hint)

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
            raise StoreError(f"reading the store at {self.url} failed: {cause_of(exc)}") from None
