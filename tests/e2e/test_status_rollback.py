"""`reconciler status`, `rollback` and `resume` end to end: a controller subprocess follows a real git
repository against a sandbox on the test's loop (so it outlives the controller), the one-off commands
run as subprocesses too.

Rollback to v1 while v2 is in the specs: Marathon runs v1's definition and the controller keeps it over
several cycles; resume brings v2 back. A controller restarted on the same store and commit sends no
write and records nothing twice. Status answers from the controller, or without one from the store
and a fresh observation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.cli.sandbox import embedded_sandbox
from reconciler.core.hashing import env_digest
from reconciler.spec import load_desired
from reconciler.store import Store
from tests.e2e.cli import PROJECT, run_cli, serving_controller
from tests.e2e.gitrepo import Repo

pytestmark = pytest.mark.slow
NOBODY = "http://127.0.0.1:9"  # the discard port: no controller answers there
STATUS_DOC = PROJECT / "docs" / "status.md"
DOC_REVISION = "3f2a9c1e"  # the revision docs/status.md's rollback example names


def documented(verb: str, **replacements: str) -> list[str]:
    """The arguments of docs/status.md's example `$ reconciler VERB ...`, with words replaced."""
    line = next(line for line in STATUS_DOC.read_text().splitlines() if line.startswith(f"$ reconciler {verb} "))
    return [replacements.get(word, word) for word in shlex.split(line)[2:]]


def shop(cmd: str, instances: int, *, ports: bool = False) -> str:
    """Without `ports` the app asks for none: its simulated tasks open no listener, so no port that
    something else on the machine holds can fail their launch."""
    extra = "" if ports else ", ports: []"
    return ("apiVersion: reconciler/v1\nkind: Environment\nname: shop\napps:\n"
            f"  web: {{cmd: '{cmd}', instances: {instances}, cpus: 0.1, mem: 32{extra}}}\n")


@dataclass
class Controller:
    process: asyncio.subprocess.Process
    server: str


@contextlib.asynccontextmanager
async def controller(tmp_path: Path, repo: Repo, marathon: str, consul: str | None = None, *,
                     extra: tuple[str, ...] = ()) -> AsyncIterator[Controller]:
    """A controller following `repo`; with `consul`, registering in it (and electing itself leader); `extra`:
    more flags of `run`."""
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb", XDG_CACHE_HOME=str(tmp_path / "cache"))
    consul_flags = ["--consul", consul] if consul else []
    async with serving_controller(
        "--log-level", "WARNING", "--marathon", marathon, *consul_flags, "run",
        "--source", repo.url, *([] if consul else ["--no-consul"]), "--listen", "127.0.0.1:0",
        "--database", str(tmp_path / "history.db"), "--poll-interval", "1", "--resync", "1", *extra, env=env,
    ) as (process, server):
        yield Controller(process, server)


MARATHON: list[str] = []  # the sandbox of the running test, for the diagnosis of a failed wait


async def eventually(probe: Callable[[], Awaitable[bool]], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await probe():
            return
        await asyncio.sleep(0.2)
    if MARATHON:
        async with httpx.AsyncClient(timeout=10) as http:
            for path in ("/v2/queue", "/v2/deployments", "/v2/apps/shop/web?embed=apps.lastTaskFailure"):
                print(path, (await http.get(f"{MARATHON[-1]}{path}")).text)
    raise AssertionError(f"{what}: not within {timeout}s")


async def web_app(http: httpx.AsyncClient, marathon: str) -> dict[str, Any]:
    answer = await http.get(f"{marathon}/v2/apps/shop/web")
    return dict(answer.json()["app"]) if answer.status_code == 200 else {}


def runs(http: httpx.AsyncClient, marathon: str, cmd: str, instances: int) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        app = await web_app(http, marathon)
        return app.get("cmd") == cmd and app.get("instances") == instances and app.get("tasksRunning") == instances

    return probe


async def status_of(http: httpx.AsyncClient, server: str) -> dict[str, Any]:
    return dict((await http.get(f"{server}/status")).json())


def env_is(http: httpx.AsyncClient, server: str, **expected: object) -> Callable[[], Awaitable[bool]]:
    """A probe of the controller's status of shop; the last block it saw is printed when it fails."""
    async def probe() -> bool:
        block = (await status_of(http, server))["environments"].get("shop", {})
        if all(block.get(k) == v for k, v in expected.items()):
            return True
        print(f"shop's status: {block}")
        return False

    return probe


async def cycles_pass(http: httpx.AsyncClient, server: str, count: int) -> None:
    start = (await status_of(http, server))["cycles"]

    async def done() -> bool:
        return bool((await status_of(http, server))["cycles"] >= start + count)

    await eventually(done, f"{count} more cycles")


async def test_rollback_holds_against_the_controller_until_resume(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    v1 = repo.commit({"shop.yaml": shop("serve v1", 1)}, "v1")
    db = str(tmp_path / "history.db")
    async with embedded_sandbox(with_consul=False) as sandbox, httpx.AsyncClient(timeout=10) as http:
        marathon = sandbox.marathon_url
        MARATHON.append(marathon)
        async with controller(tmp_path, repo, marathon) as run:
            await eventually(env_is(http, run.server, synced_revision=v1, sync="Synced", health="Healthy"), "v1 synced")
            v2 = repo.commit({"shop.yaml": shop("serve v2", 2)}, "v2")
            await eventually(env_is(http, run.server, synced_revision=v2, sync="Synced", health="Healthy"), "v2 synced")

            unknown = await run_cli("rollback", "shop", "--to", "0000000", "--database", db, "--no-consul",
                                    marathon=marathon)
            assert unknown.code == 2 and v2[:12] in unknown.stderr and v1[:12] in unknown.stderr, unknown.output
            rolled = await run_cli(*documented("rollback", **{DOC_REVISION: v1[:8]}), "--database", db, "--no-consul",
                                   marathon=marathon)
            assert rolled.code == 0, rolled.output
            assert f"shop paused at {v1[:12]}" in rolled.stdout
            await eventually(runs(http, marathon, "serve v1", 1), "v1 rolled back")

            await eventually(env_is(http, run.server, sync="Paused"), "status shows the pause")
            await cycles_pass(http, run.server, 3)
            assert await runs(http, marathon, "serve v1", 1)()  # the controller did not undo the rollback
            shown = (await status_of(http, run.server))["environments"]["shop"]
            assert shown["pause"]["revision"] == v1 and "@" in shown["pause"]["by"]
            # What the pause holds back, as `status SPECS` without a controller shows it too.
            held_back = env_digest(load_desired(repo.work), "shop")
            assert shown["pending"] == {"revision": v2, "reason": "paused", "detail": "", "plan_id": "",
                                        "digest": held_back}
            assert shown["synced_revision"] == v1 and shown["health"] == "Healthy"
            alone = await run_cli("status", str(repo.work), "--controller", NOBODY, "--database", db, "--no-consul",
                                  "-o", "json", marathon=marathon)
            assert alone.code == 0, alone.output
            assert json.loads(alone.stdout)["environments"]["shop"]["pending"]["digest"] == held_back

            text = await run_cli(*documented("status"), "--controller", run.server, marathon=marathon)
            assert text.code == 0, text.output
            assert f"controller at {run.server}" in text.stdout
            assert re.search(r"│ shop\s+│ Paused\s+│ Healthy", text.stdout), text.stdout
            assert f"paused by {shown['pause']['by']} at {v1[:12]}" in text.stdout
            assert f"{v2[:12]} pending (paused, digest {held_back})" in text.stdout

            resumed = await run_cli(*documented("resume"), "--database", db, marathon=marathon)
            assert resumed.code == 0 and "shop resumed" in resumed.stdout, resumed.output
            await eventually(runs(http, marathon, "serve v2", 2), "v2 back after resume")
            await eventually(env_is(http, run.server, sync="Synced", synced_revision=v2, pause=None), "v2 in force")

    store = Store.open(db)
    try:
        events = [(e.data["kind"], e.data["revision"]) for e in store.history(env="shop") if e.kind == "env-event"]
        synced = [e.data["revision"] for e in store.history(env="shop") if e.kind == "revision"]
    finally:
        store.close()
    assert events == [("paused", v1), ("rolled-back", v1), ("resumed", v1)]
    assert synced == [v1, v2, v1, v2]


async def test_a_restarted_controller_repeats_nothing(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    v1 = repo.commit({"shop.yaml": shop("serve v1", 2)}, "v1")
    async with embedded_sandbox(with_consul=False) as sandbox, httpx.AsyncClient(timeout=10) as http:
        MARATHON.append(sandbox.marathon_url)
        async with controller(tmp_path, repo, sandbox.marathon_url) as run:
            await eventually(env_is(http, run.server, synced_revision=v1, sync="Synced", health="Healthy"), "synced")
            await cycles_pass(http, run.server, 2)
        before = recorded(tmp_path / "history.db")
        version = (await web_app(http, sandbox.marathon_url))["version"]
        async with controller(tmp_path, repo, sandbox.marathon_url) as run:
            await cycles_pass(http, run.server, 4)
            shown = (await status_of(http, run.server))["environments"]["shop"]
        assert (await web_app(http, sandbox.marathon_url))["version"] == version  # no write reached Marathon
    assert shown["synced_revision"] == v1 and shown["sync"] == "Synced"
    after = recorded(tmp_path / "history.db")
    assert after == before and before["revision"] == 1 and before["desired-state"] == 1 and before["action"] >= 1


def recorded(db: Path) -> Counter[str]:
    """How many records of each kind the store holds, desired states included."""
    store = Store.open(db)
    try:
        counts = Counter(e.kind for e in store.history())
    finally:
        store.close()
    with contextlib.closing(sqlite3.connect(db)) as connection:
        counts["desired-state"] = connection.execute("SELECT count(*) FROM desired_states").fetchone()[0]
    return counts


async def test_status_without_a_controller_reads_the_store_and_observes(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    v1 = repo.commit({"shop.yaml": shop("serve v1", 1, ports=True)}, "v1")  # Consul registers its port
    db = str(tmp_path / "history.db")
    async with embedded_sandbox(with_consul=True) as sandbox, httpx.AsyncClient(timeout=10) as http:
        marathon, consul = sandbox.marathon_url, sandbox.consul_url
        async with controller(tmp_path, repo, marathon, consul) as run:
            await eventually(env_is(http, run.server, synced_revision=v1, sync="Synced", health="Healthy"), "synced")
            broken = repo.commit({"shop.yaml": "apiVersion: reconciler/v1\nkind: Environment\nname: shop\n"
                                  "apps: {web: {chart: nope}}\n"}, "broken")

            async def reported() -> bool:
                block = (await status_of(http, run.server))["environments"]["shop"]
                return (block["pending"] or {}).get("revision") == broken and block["last_error"] is not None

            await eventually(reported, "the broken commit pending, with its error")

        stored = await run_cli("status", "--controller", NOBODY, "--database", db, "-o", "json", marathon=marathon,
                               consul=consul)
        assert stored.code == 0, stored.output
        document = json.loads(stored.stdout)
        assert document["from"].startswith("store at ") and "Marathon and Consul" in document["from"]
        shop_env = document["environments"]["shop"]
        assert (shop_env["sync"], shop_env["health"], shop_env["synced_revision"]) == ("Synced", "Healthy", v1)
        assert shop_env["pending"]["revision"] == broken and shop_env["pending"]["reason"] == "invalid"
        assert broken[:12] in shop_env["last_error"]["message"] and "nope" in shop_env["last_error"]["message"]
        web = document["apps"]["/shop/web"]
        assert (web["desired"], web["running"], web["sync"], web["health"]) == (1, 1, "Synced", "Healthy")

        scaled = await http.put(f"{marathon}/v2/apps/shop/web", json={"instances": 3})
        assert scaled.status_code in (200, 201)
        drifted = json.loads((await run_cli("status", "--controller", NOBODY, "--database", db, "-o", "json",
                                            "--no-consul", marathon=marathon)).stdout)
        assert drifted["environments"]["shop"]["sync"] in ("OutOfSync", "Progressing")
        assert drifted["apps"]["/shop/web"]["passing"] is None  # Consul left out

        assert (await http.delete(f"{marathon}/v2/apps/shop/web?force=true")).status_code == 200
        text = await run_cli("status", "--controller", NOBODY, "--database", db, "--no-consul", marathon=marathon)
        assert text.code == 0, text.output
        assert "status from the store at" in text.stdout and "no controller answered at" in text.stdout
        assert re.search(r"│ shop\s+│ web\s+│ OutOfSync\s+│ Missing", text.stdout), text.stdout

        unknown = await run_cli("status", "--env", "nope", "--controller", NOBODY, "--database", db, "--no-consul",
                                marathon=marathon)
        assert unknown.code == 2 and "shop" in unknown.stderr and "nope" in unknown.stderr, unknown.output
