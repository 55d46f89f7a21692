"""Store unit tests' fixtures: a store on a SQLite file in the test's folder, on a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.store import Store
from tests.unit.store.clocked import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[Store]:
    opened = Store.open(tmp_path / "history.db", clock=clock)
    yield opened
    opened.close()
