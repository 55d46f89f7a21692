"""A v5 reconciler (the old leader of a rolling upgrade) writing beside a store migrated to v6, on a real
SQLite file: its plans (`state` left empty) and its later statuses (events only) are read as their latest
status says, by the approval gate's hold, by `approve`, and by every compare-and-set (tests/unit/store/
old_writer.py; tests/e2e/test_store_postgres.py runs the same on PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.store.old_writer import (
    applied_stays_applied,
    approve_moves_the_old_leaders_plan,
    hold_finds_the_old_leaders_plan,
    later_event_wins_whatever_the_clocks,
    old_decision_stands,
    old_leader_moves_on_a_superseded_plan,
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


def test_a_plans_latest_status_is_its_last_event_whatever_the_replicas_clocks(tmp_path: Path) -> None:
    later_event_wins_whatever_the_clocks(tmp_path / "history.db")


@pytest.mark.parametrize("late", [("approved",), ("approved", "applied"), ("applied",)],
                         ids=["approved", "approved-applied", "applied"])
def test_a_plan_this_version_superseded_and_the_old_leader_moved_on_is_read_as_it_says(
    tmp_path: Path, late: tuple[str, ...]
) -> None:
    old_leader_moves_on_a_superseded_plan(tmp_path / "history.db", late)


def test_a_plan_this_version_applied_stays_applied_whatever_the_old_leader_appends(tmp_path: Path) -> None:
    applied_stays_applied(tmp_path / "history.db")
