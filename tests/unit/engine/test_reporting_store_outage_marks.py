"""Approved plans' marks and autoscale samples when the store fails, on a SQLite file another process holds
locked (an outage: tests/unit/engine/store_outage_marks.py; tests/e2e/test_store_postgres_marks.py runs the
same on PostgreSQL)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.store import Store
from tests.unit.engine.store_outage_marks import (
    Outage,
    a_refused_outcome_is_dropped_after_its_tries_and_the_outage_ends,
    an_approved_plan_applied_during_an_outage_is_marked_applied_once,
    an_outcome_waits_behind_its_cycles_plan,
    samples_taken_during_an_outage_arrive_with_their_own_times,
    the_mark_and_the_samples_waiting_at_stop_are_written,
)


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[tuple[str, Outage]]:
    """The store's URL (SQLite waits 50 ms for a lock) and the outage: another connection holding the file's
    write lock (readers and writers wait on it), released at its end."""
    path = tmp_path / "history.db"
    holders: list[sqlite3.Connection] = []

    def outage(_store: Store, on: bool) -> None:
        if on:
            holder = sqlite3.connect(path, isolation_level=None)
            holder.execute("BEGIN EXCLUSIVE")
            holders.append(holder)
        else:
            holders.pop().close()

    yield f"sqlite:///{path}?timeout=0.05", outage
    for holder in holders:
        holder.close()


def test_an_approved_plan_applied_during_an_outage_is_marked_applied_once(locked: tuple[str, Outage]) -> None:
    an_approved_plan_applied_during_an_outage_is_marked_applied_once(*locked)


def test_an_outcome_waits_behind_its_cycles_plan(tmp_path: Path) -> None:
    an_outcome_waits_behind_its_cycles_plan(tmp_path / "history.db")


def test_a_refused_outcome_is_dropped_after_its_tries_and_the_outage_ends(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    a_refused_outcome_is_dropped_after_its_tries_and_the_outage_ends(tmp_path / "history.db", caplog)


def test_samples_taken_during_an_outage_arrive_with_their_own_times(locked: tuple[str, Outage]) -> None:
    samples_taken_during_an_outage_arrive_with_their_own_times(*locked)


def test_the_mark_and_the_samples_waiting_at_stop_are_written(
    locked: tuple[str, Outage], caplog: pytest.LogCaptureFixture
) -> None:
    the_mark_and_the_samples_waiting_at_stop_are_written(*locked, caplog)
