"""The store's commands (history, approve, rollback) on a store they cannot use as it is, end to end (the real
CLI in a subprocess): a URL with a password they cannot open, a SQLite file another process holds locked, a
schema older or newer than theirs. Each is one error line (no traceback) with the right exit code, and a
password never shows."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from reconciler.errors import ExitCode
from reconciler.store import LATEST, Store
from reconciler.store.migrations import MIGRATIONS
from reconciler.store.sessions import LOCKED_HINT

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-pw"
COMMANDS = [("history",), ("approve", "prod", "p1", "--no-consul"), ("rollback", "prod", "--to", "abc123")]


def reconciler(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="300", NO_COLOR="1", TERM="dumb")
    return subprocess.run([sys.executable, "-m", "reconciler", "--marathon", "http://127.0.0.1:1", *args],
                          capture_output=True, text=True, env=env, cwd=PROJECT, timeout=120, check=False)


def one_error(result: subprocess.CompletedProcess[str], code: int, starts: str) -> str:
    assert (result.returncode, result.stdout) == (code, ""), result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(starts), result.stderr
    assert SECRET not in result.stderr and "Traceback" not in result.stderr
    return result.stderr


BAD_PORT = (f"postgresql+psycopg://ops:{SECRET}@127.0.0.1:port/history",
            "error: --database: the URL's port is not a number")
# libpq takes the password from the query too; the CLI masks the URL's userinfo besides
IN_QUERY = (f"postgresql+psycopg://ops@127.0.0.1:1/history?password={SECRET}",
            "error: cannot open the store at postgresql+psycopg://***@127.0.0.1:1/history?password=***:"
            " OperationalError")


@pytest.mark.parametrize(("command", "url", "starts"), [
    (COMMANDS[0], *BAD_PORT), (COMMANDS[1], *BAD_PORT), (COMMANDS[2], *BAD_PORT), (COMMANDS[1], *IN_QUERY),
], ids=["history-port", "approve-port", "rollback-port", "approve-password-in-query"])
def test_a_store_url_that_cannot_be_used_is_one_line_without_its_password(
    command: tuple[str, ...], url: str, starts: str
) -> None:
    one_error(reconciler(*command, "--database", url), ExitCode.ERROR, starts)


@pytest.fixture
def locked_old_store(tmp_path: Path) -> Iterator[Path]:
    """A store at schema version 5 (opening it upgrades it) whose write lock another process holds."""
    path = tmp_path / "history.db"
    Store.open(path, steps=MIGRATIONS[:5]).close()
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield path
    finally:
        holder.close()


def test_a_store_another_process_holds_locked_says_so(locked_old_store: Path) -> None:
    """(history reads the same open: tests/unit/store/test_store.py)"""
    shown = one_error(reconciler(*COMMANDS[1], "--database", str(locked_old_store)), ExitCode.ERROR,
                      f"error: cannot open the store at sqlite:///{locked_old_store}: OperationalError: database is"
                      " locked")
    assert shown.rstrip("\n").endswith(f"(hint: {LOCKED_HINT})")


def test_an_older_store_is_upgraded_and_read_and_a_newer_one_refused(tmp_path: Path) -> None:
    old, new = tmp_path / "old.db", tmp_path / "new.db"
    store = Store.open(old, steps=MIGRATIONS[:1])
    store.close()
    with sa.create_engine(f"sqlite:///{old}").begin() as conn:  # what a version-1 reconciler wrote
        conn.execute(sa.text("INSERT INTO revisions (env, revision, digest, at) VALUES ('shop', 'abc123', 'd1',"
                             " '2026-03-01 12:00:00.000000')"))
    shown = reconciler("history", "--database", str(old))
    assert shown.returncode == ExitCode.OK and "revision env=shop app=- synced to abc123 (digest d1)" in shown.stdout
    with sa.create_engine(f"sqlite:///{old}").connect() as conn:
        assert conn.execute(sa.text("SELECT MAX(version) FROM schema_version")).scalar() == LATEST
    Store.open(new).close()
    with sa.create_engine(f"sqlite:///{new}").begin() as conn:
        conn.execute(sa.text("INSERT INTO schema_version (version, applied_at) VALUES (:v, '2026-03-01')"),
                     {"v": LATEST + 1})
    for command in COMMANDS[1:]:
        one_error(reconciler(*command, "--database", str(new)), ExitCode.ERROR,
                  f"error: the database's schema is at version {LATEST + 1}, newer than this reconciler knows")
