"""The store's commands (history, approve, rollback) on a store they cannot use as it is, end to end (the real
CLI in a subprocess): a URL with a password they cannot open, a SQLite file another process holds locked, a
schema older or newer than theirs. Each is one error line (no traceback) with the right exit code, and a
password never shows. A command that only reads never upgrades a store (an older controller may still write
to it)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from reconciler.errors import ExitCode
from reconciler.store import LATEST, Store
from reconciler.store.migrations import MIGRATIONS, READS_FROM
from reconciler.store.sessions import LOCKED_HINT
from tests.unit.store.compatible import INDEX_ONLY, NEXT, RAISING

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[2]
DOCS = PROJECT / "docs" / "controller.md"
SECRET = "s3cret-pw"
COMMANDS = [("history",), ("approve", "prod", "p1", "--no-consul"), ("rollback", "prod", "--to", "abc123")]
# the commands that only read the store: they never migrate it
READERS = [("history",), ("status", "--controller", "http://127.0.0.1:1", "--no-consul"),
           ("autoscale", "simulate", "--from-history", "/shop/web")]


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


def _version_and_bytes(path: Path) -> tuple[int, str]:
    with sa.create_engine(f"sqlite:///{path}").connect() as conn:
        version = conn.execute(sa.text("SELECT MAX(version) FROM schema_version")).scalar()
    return int(version or 0), hashlib.sha256(path.read_bytes()).hexdigest()


def _version_1_store(path: Path) -> None:
    """What a version-1 reconciler wrote: its schema and one revision."""
    Store.open(path, steps=MIGRATIONS[:1]).close()
    with sa.create_engine(f"sqlite:///{path}").begin() as conn:
        conn.execute(sa.text("INSERT INTO revisions (env, revision, digest, at) VALUES ('shop', 'abc123', 'd1',"
                             " '2026-03-01 12:00:00.000000')"))


@pytest.mark.parametrize("reader", READERS, ids=["history", "status", "autoscale-history"])
def test_a_reader_refuses_an_older_store_and_leaves_it_as_it_is(tmp_path: Path, reader: tuple[str, ...]) -> None:
    """A newer CLI's read-only command beside an older controller still writing: the schema is not upgraded
    under that controller; the error names the store's version and the command that upgrades it."""
    old = tmp_path / "old.db"
    _version_1_store(old)
    before = _version_and_bytes(old)
    shown = one_error(reconciler(*reader, "--database", str(old)), ExitCode.ERROR, "error: ")
    assert f"the database's schema is at version 1, older than this reconciler reads ({READS_FROM} to {LATEST});" \
           " reading never upgrades a store" in shown
    assert "`reconciler run` with the same --database" in shown
    assert _version_and_bytes(old) == before


def test_a_writer_upgrades_an_older_store_and_a_reader_reads_it_then(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    _version_1_store(old)
    assert reconciler("resume", "shop", "--database", str(old)).returncode == ExitCode.OK
    assert _version_and_bytes(old)[0] == LATEST
    shown = reconciler("history", "--database", str(old))
    assert shown.returncode == ExitCode.OK and "revision env=shop app=- synced to abc123 (digest d1)" in shown.stdout


def test_a_reader_reads_the_oldest_schema_it_can_as_it_is(tmp_path: Path) -> None:
    """A store at READS_FROM (what the previous version's controller writes): read, not upgraded."""
    path = tmp_path / "history.db"
    store = Store.open(path, steps=MIGRATIONS[:READS_FROM])
    store.record_revision("shop", "abc123", "d1")
    store.close()
    before = _version_and_bytes(path)
    shown = reconciler("history", "--database", str(path), "-o", "json")
    assert shown.returncode == ExitCode.OK, shown.stderr
    assert [e["summary"] for e in json.loads(shown.stdout)["events"]] == ["synced to abc123 (digest d1)"]
    assert _version_and_bytes(path) == before == (READS_FROM, before[1])


def test_a_newer_store_is_refused_by_every_command(tmp_path: Path) -> None:
    new = tmp_path / "new.db"
    Store.open(new).close()
    with sa.create_engine(f"sqlite:///{new}").begin() as conn:
        conn.execute(sa.text("INSERT INTO schema_version (version, applied_at) VALUES (:v, '2026-03-01')"),
                     {"v": LATEST + 1})
    for command in [*COMMANDS, *READERS]:
        shown = one_error(reconciler(*command, "--database", str(new)), ExitCode.ERROR, "error: ")
        assert f"the database's schema is at version {LATEST + 1}, newer than this reconciler knows ({LATEST})" \
               in shown, command


def test_a_newer_store_compatible_with_this_version_is_used_as_it_is(tmp_path: Path) -> None:
    """A rolled-back deployment (or an old replica restarting in a rolling upgrade) on a store the newer version
    moved on by an index only: the writers and readers of this version use it, and it stays at its version."""
    new = tmp_path / "new.db"
    Store.open(new, steps=(*MIGRATIONS, INDEX_ONLY)).record_revision("shop", "abc123", "d1")
    resumed = reconciler("resume", "shop", "--database", str(new))  # a writer: it opens the store to migrate it
    assert resumed.returncode == ExitCode.OK, resumed.stderr
    shown = reconciler("history", "--database", str(new), "-o", "json")
    assert shown.returncode == ExitCode.OK, shown.stderr
    assert [e["kind"] for e in json.loads(shown.stdout)["events"]] == ["revision"]
    assert _version_and_bytes(new)[0] == NEXT


def test_a_newer_store_compatible_from_a_later_version_names_both_and_the_fix(tmp_path: Path) -> None:
    new = tmp_path / "new.db"
    Store.open(new, steps=(*MIGRATIONS, RAISING)).close()
    for command in [("resume", "shop"), ("history",)]:
        shown = one_error(reconciler(*command, "--database", str(new)), ExitCode.ERROR, "error: ")
        assert f"schema is at version {NEXT}, newer than this reconciler knows ({LATEST}), and compatible from" \
               f" version {NEXT} only" in shown, command
        assert f"upgrade the reconciler to one that knows schema version {NEXT} or later" in shown, command
        if command[0] == "resume":  # docs/controller.md's example (its versions are this release's)
            documented = re.search(r"```text\n(error: the database's schema is at version .*)\n```", DOCS.read_text())
            assert documented and shown == documented.group(1) + "\n", shown
