"""A store newer than this reconciler on a SQLite file (tests/unit/store/compatible.py; the PostgreSQL
tests run the same)."""

from __future__ import annotations

from pathlib import Path

from tests.unit.store.compatible import (
    a_newer_index_only_store_is_used_as_it_is,
    a_newer_store_that_raised_it_is_refused,
    an_upgrade_records_each_version_compatible_from,
    reads_from_is_what_the_latest_step_is_compatible_from,
)


def test_an_upgrade_records_each_version_compatible_from(tmp_path: Path) -> None:
    an_upgrade_records_each_version_compatible_from(tmp_path / "history.db")


def test_a_newer_index_only_store_is_written_and_read_as_it_is(tmp_path: Path) -> None:
    a_newer_index_only_store_is_used_as_it_is(tmp_path / "history.db")


def test_a_newer_store_compatible_only_from_a_later_version_is_refused(tmp_path: Path) -> None:
    a_newer_store_that_raised_it_is_refused(tmp_path / "history.db")


def test_reads_from_is_what_the_latest_step_is_compatible_from() -> None:
    reads_from_is_what_the_latest_step_is_compatible_from()
