"""A v5 reconciler (the old leader of a rolling upgrade) writing beside a store migrated to v6, on a real
SQLite file: its plans (`state` left empty) and its later statuses (events only) are read as their latest
status says, by the approval gate's hold, by `approve`, and by every compare-and-set (tests/unit/store/
old_writer.py; tests/e2e/test_store_postgres.py runs the same on PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.store.old_writer import (
    approve_moves_the_old_leaders_plan,
    hold_finds_the_old_leaders_plan,
    old_decision_stands,
)


@pytest.mark.parametrize("tag", ["1.0", "2.0"], ids=["same-plan", "another-plan"])
def test_the_gate_finds_the_old_leaders_awaiting_plan_and_records_no_second_one(tmp_path: Path, tag: str) -> None:
    hold_finds_the_old_leaders_plan(tmp_path / "history.db", tag)


@pytest.mark.parametrize("decided", [("superseded",), ("approved", "applied"), ("approved",)],
                         ids=["superseded", "applied", "approved"])
def test_a_plan_the_old_leader_decided_reads_as_its_decision_and_is_not_approvable(
    tmp_path: Path, decided: tuple[str, ...]
) -> None:
    old_decision_stands(tmp_path / "history.db", decided)


def test_approve_moves_a_plan_the_old_leader_recorded_once(tmp_path: Path) -> None:
    approve_moves_the_old_leaders_plan(tmp_path / "history.db")
