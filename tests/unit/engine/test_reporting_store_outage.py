"""A store failing in the middle of a cycle's record, on a SQLite file (tests/unit/engine/store_outage.py;
tests/e2e/test_store_postgres.py runs the same on PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from tests.unit.engine.store_outage import a_plan_is_recorded_whole_once_the_store_takes_it


def test_a_plan_is_recorded_whole_once_the_store_takes_it(tmp_path: Path) -> None:
    a_plan_is_recorded_whole_once_the_store_takes_it(tmp_path / "history.db")
