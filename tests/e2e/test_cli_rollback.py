"""`reconciler rollback` and `resume` as an operator meets them when things go wrong, end to end: the real
CLI in a subprocess on a real SQLite store holding recorded revisions, against the Marathon sandbox over
loopback HTTP. A prefix naming several revisions names them; an unknown one lists the recent ones (exit
2, nothing recorded). A rollback whose writes cannot go out says that the environment stays paused and
what to do; a rollback killed while its deployment runs leaves the pause recorded, and running it again
(or resuming) works (docs/status.md)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest

from reconciler.core.hashing import env_digest
from reconciler.sandbox.marathon import MarathonSandbox
from reconciler.spec import load_desired
from reconciler.store import Store
from tests.e2e.cli import PROJECT, run_cli
from tests.e2e.test_status_rollback import shop
from tests.sandbox.marathon.fixtures import fast_config, until

pytestmark = pytest.mark.slow
NOBODY = "http://127.0.0.1:9"  # the discard port: no Marathon answers there
REVISIONS = ("abc1110" + "0" * 33, "abc1119" + "0" * 33, "ffe3330" + "0" * 33)  # oldest first


def recorded(tmp_path: Path) -> Path:
    """A store holding three synced revisions of shop (two sharing the prefix abc111), each with its
    desired state, as a controller records them."""
    db = tmp_path / "history.db"
    store = Store.open(db)
    try:
        for number, revision in enumerate(REVISIONS, start=1):
            specs = tmp_path / f"specs-{number}"
            specs.mkdir()
            (specs / "shop.yaml").write_text(shop(f"serve v{number}", 1))
            desired = load_desired(specs, revision=revision)
            digest = env_digest(desired, "shop")
            store.record_desired_state("shop", revision, digest, desired)
            store.record_revision("shop", revision, digest)
    finally:
        store.close()
    return db


def pause_events(db: Path) -> list[tuple[str, str]]:
    store = Store.open(db, must_exist=True)
    try:
        return [(e.data["kind"], e.data["revision"][:12]) for e in store.history(env="shop") if e.kind == "env-event"]
    finally:
        store.close()


async def test_a_prefix_of_several_revisions_or_of_none_is_a_usage_error_naming_them(tmp_path: Path) -> None:
    db = str(recorded(tmp_path))
    several = await run_cli("rollback", "shop", "--to", "abc111", "--database", db, "--no-consul", marathon=NOBODY)
    assert several.code == 2, several.output
    assert several.stderr.strip() == ("error: --to: 'abc111' matches 2 revisions of shop: abc111900000, abc111000000"
                                      " (hint: give more of the sha, enough to name one of them)"), several.output
    unknown = await run_cli("rollback", "shop", "--to", "0000", "--database", db, "--no-consul", marathon=NOBODY)
    assert unknown.code == 2, unknown.output
    assert unknown.stderr.strip() == ("error: --to: '0000' is not a recorded revision of shop (hint: recent revisions"
                                      " of shop, newest first: ffe333000000, abc111900000, abc111000000)"), \
        unknown.output
    other = await run_cli("rollback", "shp", "--to", "abc", "--database", db, "--no-consul", marathon=NOBODY)
    assert other.code == 2 and "no environment 'shp' in the store" in other.stderr, other.output
    assert "the environments are: shop" in other.stderr, other.output
    assert pause_events(Path(db)) == []  # nothing recorded: not paused


async def test_a_rollback_whose_writes_cannot_go_out_says_the_environment_stays_paused(tmp_path: Path) -> None:
    db = recorded(tmp_path)
    failed = await run_cli("rollback", "shop", "--to", "abc1110", "--database", str(db), "--no-consul",
                           marathon=NOBODY)
    assert failed.code == 1, failed.output
    assert failed.stderr.strip().endswith(
        "shop stays paused at abc111000000: a controller on this store applies that state from its next cycle;"
        " run the rollback again, or undo it with `reconciler resume shop`)"), failed.output
    assert pause_events(db) == [("paused", "abc111000000"), ("rolled-back", "abc111000000")]
    resumed = await run_cli("resume", "shop", "--database", str(db), marathon=NOBODY)
    assert resumed.code == 0 and "shop resumed" in resumed.stdout, resumed.output


async def test_a_rollback_killed_while_its_deployment_runs_is_run_again(tmp_path: Path) -> None:
    db = recorded(tmp_path)
    async with MarathonSandbox(fast_config(agents=0, keep_event_history=False)) as sandbox:
        env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb")
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "reconciler", "--marathon", sandbox.url, "rollback", "shop", "--to", "abc1110",
            "--database", str(db), "--no-consul", "--deadline", "120",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, cwd=PROJECT, env=env,
        )
        try:
            async def sent() -> bool:
                return bool(sandbox.writes.writes())

            await until(sent, "the rollback's write in Marathon (its deployment waits for an agent)", 60)
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGKILL)
            await process.wait()
        assert process.returncode == -signal.SIGKILL
        assert pause_events(db) == [("paused", "abc111000000"), ("rolled-back", "abc111000000")]

        sandbox.add_agent()
        again = await run_cli("rollback", "shop", "--to", "abc1110", "--database", str(db), "--no-consul",
                              "--deadline", "120", marathon=sandbox.url, timeout=180)
        assert again.code == 0, again.output
        assert "rolled back: " in again.stdout and "shop stays paused until `reconciler resume shop`" in again.stdout
        async with httpx.AsyncClient(timeout=10) as http:
            app = (await http.get(f"{sandbox.url}/v2/apps/shop/web")).json()["app"]
        assert (app["cmd"], app["instances"], app["tasksRunning"]) == ("serve v1", 1, 1)
        resumed = await run_cli("resume", "shop", "--database", str(db), marathon=sandbox.url)
        assert resumed.code == 0, resumed.output
        assert f"(it was paused at {REVISIONS[0][:12]} by " in resumed.stdout, resumed.output
