"""An autoscaled app in an approval environment: `reconciler run SPECS --sandbox` in a subprocess with a
real SQLite store, the autoscaler scaling the app on the sandbox agents' cpu while a change of its
definition awaits approval. The autoscaler's count is not a spec change: the plan the approver looks
at is not superseded by a scaling, `reconciler approve` applies it, and the count stays the
autoscaler's (docs/approvals.md, "Autoscaled apps")."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from reconciler.store import Store
from reconciler.store.tables import PlanRecord
from tests.e2e.cli import PROJECT, read_until, run_cli, stop_process
from tests.e2e.test_run_gitops import eventually

pytestmark = pytest.mark.slow

SHOP = """apiVersion: reconciler/v1
kind: Environment
name: shop
approval: required
apps:
  web:
    cmd: serve
    cpus: 1.0
    mem: {mem}
    autoscale:
      min: 1
      max: 3
      metrics: [{{cpu: 50%}}]
"""
APP = "/shop/web"


@dataclass
class Running:
    process: asyncio.subprocess.Process
    server: str
    marathon: str


@contextlib.asynccontextmanager
async def controller(tmp_path: Path, specs: Path, db: Path) -> AsyncIterator[Running]:
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb", XDG_CACHE_HOME=str(tmp_path / "cache"))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reconciler", "--log-level", "WARNING", "run", str(specs), "--sandbox", "--no-consul",
        "--listen", "127.0.0.1:0", "--database", str(db), "--resync", "1", "--poll-interval", "1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=PROJECT, env=env,
    )
    assert process.stdout is not None
    seen: list[str] = []
    drain: asyncio.Task[None] | None = None
    try:
        await read_until(process.stdout, "POST /hooks/git on http://", seen, 60)
        server = re.search(r"on (http://127\.0\.0\.1:\d+)", seen[-1])
        marathon = next(re.search(r"(http://127\.0\.0\.1:\d+)", line) for line in seen if "sandbox Marathon" in line)
        assert server and marathon
        drain = asyncio.create_task(_drain(process.stdout))  # a full pipe would stall the controller
        yield Running(process, server.group(1), marathon.group(1))
    finally:
        if drain is not None:
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain
        await stop_process(process)


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


def plans(db: Path, status: str) -> list[PlanRecord]:
    if not db.exists():
        return []
    store = Store.open(db, must_exist=True)
    try:
        return store.plans_still("shop", status)
    finally:
        store.close()


def waiting(db: Path) -> list[PlanRecord]:
    return plans(db, "awaiting-approval")


async def web(http: httpx.AsyncClient, marathon: str) -> dict[str, object]:
    answer = await http.get(f"{marathon}/v2/apps{APP}")
    return dict(answer.json()["app"]) if answer.status_code == 200 else {}


async def test_a_scaling_by_the_autoscaler_leaves_the_plan_awaiting_approval_approvable(tmp_path: Path) -> None:
    specs, db = tmp_path / "specs", tmp_path / "history.db"
    specs.mkdir()
    (specs / "shop.yaml").write_text(SHOP.format(mem=64))
    async with controller(tmp_path, specs, db) as run, httpx.AsyncClient(timeout=10) as http:
        await eventually(one_waiting(db), "shop's first plan awaiting approval", 90)
        [first] = waiting(db)
        approved = await run_cli("approve", "shop", first.id, "--database", str(db), "--deadline", "120",
                                 marathon=run.marathon, timeout=180)
        assert approved.code == 0, approved.output

        async def running_one() -> bool:
            app = await web(http, run.marathon)
            return app.get("tasksRunning") == 1 and not app.get("deployments")

        await eventually(running_one, "shop/web running its one task", 60)

        (specs / "shop.yaml").write_text(SHOP.format(mem=96))
        await eventually(one_waiting(db), "the mem change awaiting approval", 60)
        [change] = waiting(db)
        # The load makes the autoscaler scale the app up while the change waits.
        loaded = await http.put(f"{run.marathon}/_sandbox/load", json={"app": APP, "cpu": 0.9, "mem": 20})
        assert loaded.status_code == 200, loaded.text

        async def scaled() -> bool:
            app = await web(http, run.marathon)
            return int(str(app.get("instances", 0))) >= 2 and app.get("tasksRunning") == app.get("instances") \
                and not app.get("deployments")

        await eventually(scaled, "the autoscaler scaling shop/web up", 120)
        cycles = (await http.get(f"{run.server}/status")).json()["cycles"]

        async def two_more_cycles() -> bool:
            return bool((await http.get(f"{run.server}/status")).json()["cycles"] >= cycles + 2)

        await eventually(two_more_cycles, "two more cycles after the scaling", 60)
        assert [p.id for p in waiting(db)] == [change.id]  # the scaling superseded nothing
        assert plans(db, "superseded") == []

        count = int(str((await web(http, run.marathon))["instances"]))
        approved = await run_cli("approve", "shop", change.id, "--database", str(db), "--deadline", "120",
                                 marathon=run.marathon, timeout=180)
        assert approved.code == 0, approved.output
        app = await web(http, run.marathon)
        assert app["mem"] == 96
        # The write kept the autoscaler's count: the approval did not scale the app back to the spec's 1.
        assert int(str(app["instances"])) >= min(count, 2), (count, app["instances"])


def one_waiting(db: Path) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return len(waiting(db)) == 1
    return probe
