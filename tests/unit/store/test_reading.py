"""Read-only commands on a SQLite file (tests/unit/store/reading.py; tests/e2e/test_store_postgres.py runs
the same on PostgreSQL, tests/e2e/test_cli_store_faults.py the commands themselves)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from reconciler.store import Store, StoreError
from tests.unit.store.reading import (
    newer_and_empty_are_refused,
    older_schema_is_refused_under_its_writer,
    previous_schema_is_read_as_it_is,
    reader_writes_nothing,
)


def test_a_reader_refuses_an_older_schema_an_older_controller_still_writes(tmp_path: Path) -> None:
    older_schema_is_refused_under_its_writer(tmp_path / "history.db")


def test_a_reader_reads_the_previous_schema_as_it_is(tmp_path: Path) -> None:
    previous_schema_is_read_as_it_is(tmp_path / "history.db")


def test_a_reader_writes_nothing(tmp_path: Path) -> None:
    reader_writes_nothing(tmp_path / "history.db")


def test_a_reader_refuses_an_empty_or_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    sqlite3.connect(path).close()  # a file SQLite made, nothing in it
    newer_and_empty_are_refused(path)


def test_a_reader_leaves_the_file_byte_for_byte_and_creates_none(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    store = Store.open(path)
    store.record_revision("shop", "abc123", "d1")
    store.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    reader = Store.open_for_reading(path)
    try:
        assert [e.kind for e in reader.history()] == ["revision"]
    finally:
        reader.close()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.db"]
    with pytest.raises(StoreError, match="no history database at"):
        Store.open_for_reading(tmp_path / "missing.db")
    assert not (tmp_path / "missing.db").exists()
