"""The SQLite history file is readable by its owner alone (store layer): it keeps every applied definition
whole, with the secrets written in the specs (docs/plan-apply.md, "Secrets in a plan")."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.store import Store


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most systems give (022), under which a file is created readable by everyone."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("as_url", [False, True], ids=["path", "sqlite-url"])
def test_a_new_history_file_is_private(tmp_path: Path, usual_umask: None, as_url: bool) -> None:
    path = tmp_path / "state" / "history.db"
    path.parent.mkdir()
    store = Store.open(f"sqlite:///{path}" if as_url else path)
    try:
        store.record_revision("shop", "r1", "d1")
    finally:
        store.close()
    assert mode_of(path) == 0o600
    reader = Store.open(path, must_exist=True)
    try:
        assert reader.history(env="shop")  # its owner reads it as before
    finally:
        reader.close()


def test_an_existing_file_keeps_its_mode(tmp_path: Path, usual_umask: None) -> None:
    path = tmp_path / "history.db"
    Store.open(path).close()
    path.chmod(0o640)  # the operator's own choice (a group of readers)
    Store.open(path).close()
    assert mode_of(path) == 0o640
