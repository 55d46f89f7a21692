"""`reconciler run` on a PostgreSQL store that restarts under it (a private cluster, tests/e2e/private_postgres.py;
the shared server of scripts/ensure-postgres is never stopped). Between cycles and in the middle of one: the
controller keeps reconciling, a cycle that executed while the database was down is recorded once it is back
(its plan whole, with its actions, never a plan without them), /readyz, /status and the alert webhook say
the store failed and since when, and every wait is bounded."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from reconciler.sandbox.marathon import MarathonSandbox
from reconciler.store import Store, StoreError
from tests.e2e.cli import PROJECT
from tests.e2e.private_postgres import PrivateCluster, private_cluster
from tests.e2e.test_run_leader import wait_until
from tests.sandbox.marathon.fixtures import fast_config

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SPEC = ("apiVersion: reconciler/v1\nkind: Environment\nname: shop\napps:\n"
        "  web: {cmd: serve, instances: 1, cpus: 0.01, mem: 8}\n")
APP = "/shop/web"
BOUND_S = 60.0
CONNECT_BOUND_S = 60.0  # six times the store's connect timeout


def creates_recorded(url: str) -> list[tuple[str, int]]:
    """Each recorded plan that created the app, with how many actions it has (a whole plan has at least one)."""
    try:
        reader = Store.open_for_reading(url)
    except Exception:  # not migrated yet, or the database is down: nothing readable
        return []
    try:
        plans = [e.data["id"] for e in reader.history(env="shop") if e.kind == "plan"]
        found = [(plan, [(a.kind, a.app) for a in reader.actions_of(plan)]) for plan in plans]
    finally:
        reader.close()
    return [(plan, len(actions)) for plan, actions in found if ("create", APP) in actions or not actions]


class Webhook:
    """The alert webhook: what the controller posted."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    async def receive(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        return web.Response(text="ok")

    def seen(self, kind: str, status: str) -> bool:
        return any(b.get("kind") == kind and b.get("status") == status for b in self.bodies)


@asynccontextmanager
async def webhook() -> AsyncIterator[tuple[Webhook, str]]:
    hook = Webhook()
    app = web.Application()
    app.router.add_post("/alerts", hook.receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield hook, f"http://127.0.0.1:{port}/alerts"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def controller(tmp_path: Path, marathon: str, database: str, hook: str) -> AsyncIterator[str]:
    """`reconciler run` in a subprocess, its output in files; the URL of its server."""
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "shop.yaml").write_text(SPEC)
    out, err = (tmp_path / "run.out").open("w"), (tmp_path / "run.err").open("w")
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb", RECONCILER_NOTIFY_URL=hook)
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "--marathon", marathon, "--log-format", "json", "run", str(specs),
         "--no-consul", "--listen", "127.0.0.1:0", "--database", database, "--resync", "1"],
        stdout=out, stderr=err, cwd=PROJECT, env=env)
    try:
        async def listening() -> bool:
            assert process.poll() is None, (tmp_path / "run.err").read_text()
            return bool(re.search(r"on http://127\.0\.0\.1:\d+", (tmp_path / "run.out").read_text()))

        await wait_until(listening, "the controller listens", BOUND_S)
        found = re.search(r"on (http://127\.0\.0\.1:\d+)", (tmp_path / "run.out").read_text())
        assert found
        yield found.group(1)
        assert process.poll() is None, "the controller ended: " + (tmp_path / "run.err").read_text()[-3000:]
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        out.close()
        err.close()


@pytest.mark.timeout(300)  # its bounded waits in a row, each generous for a loaded machine
async def test_postgresql_restarting_under_a_running_controller(tmp_path: Path) -> None:
    with private_cluster() as pg:
        async with MarathonSandbox(fast_config(keep_event_history=False)) as marathon, webhook() as (hook, hook_url), \
                httpx.AsyncClient(timeout=10) as http, controller(tmp_path, marathon.url, pg.url, hook_url) as server:
            await between_cycles(pg, marathon.url, server, http, hook, tmp_path)
            await mid_cycle(pg, marathon, server, http, tmp_path)


async def recorded(url: str, count: int) -> bool:
    found = await asyncio.to_thread(creates_recorded, url)
    assert all(actions > 0 for _, actions in found), f"a plan recorded without its actions: {found}"
    return len(found) >= count


async def between_cycles(
    pg: PrivateCluster, marathon: str, server: str, http: httpx.AsyncClient, hook: Webhook, tmp_path: Path
) -> None:
    """The database stops; the app is deleted behind the controller's back and recreated by it meanwhile. What
    the controller said while the database was down is checked once the recreate was recorded."""
    await wait_until(lambda: recorded(pg.url, 1), "the first create recorded", BOUND_S)
    await asyncio.to_thread(pg.stop)
    cycles = (await http.get(f"{server}/status")).json()["cycles"]
    logged = len((tmp_path / "run.err").read_text().splitlines())
    assert (await http.delete(f"{marathon}/v2/apps{APP}", params={"force": "true"})).status_code == 200

    async def recreated_and_not_recorded() -> bool:
        apps = (await http.get(f"{marathon}/v2/apps")).json()["apps"]
        failed = '"event": "store-write-failed"' in "".join((tmp_path / "run.err").read_text().splitlines()[logged:])
        return any(a["id"] == APP for a in apps) and failed

    await wait_until(recreated_and_not_recorded, "recreated while the database is down", BOUND_S)
    with contextlib.suppress(AssertionError):  # judged every second: a bounded wait; asserted below
        await wait_until(lambda: said(hook), "the alert fired", 30)
    ready, status = await http.get(f"{server}/readyz"), (await http.get(f"{server}/status")).json()
    await asyncio.to_thread(pg.start)
    await wait_until(lambda: recorded(pg.url, 2), "the recreate recorded once the database is back", BOUND_S)
    assert status["cycles"] > cycles  # cycles went on, none hung on the database
    assert ready.status_code == 200 and "the history store fails since" in ready.text, ready.text
    assert status["store_outage"]["since"] and status["store_outage"]["waiting"] >= 1, status.get("store_outage")
    assert hook.seen("store-unavailable", "firing"), hook.bodies

    async def recovered() -> bool:
        ready = await http.get(f"{server}/readyz")
        return ready.status_code == 200 and ready.text.strip() == "ready" and hook.seen("store-unavailable", "resolved")

    await wait_until(recovered, "ready again, the alert resolved", BOUND_S)
    outage = (await http.get(f"{server}/status")).json()["store_outage"]
    assert outage["since"] is None and outage["waiting"] == 0 and outage["last"]["recorded_late"] >= 1, outage


async def said(hook: Webhook) -> bool:
    return hook.seen("store-unavailable", "firing")


async def mid_cycle(
    pg: PrivateCluster, marathon: MarathonSandbox, server: str, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    """The database restarts while a cycle reads a slow Marathon: the cycle's record finds the pool's
    connections dead (the server ended them) and records through new ones."""
    assert (await http.delete(f"{marathon.url}/v2/apps{APP}", params={"force": "true"})).status_code == 200
    logged = len((tmp_path / "run.err").read_text().splitlines())
    marathon.set_latency(1500)
    try:
        async def cycle_started() -> bool:
            lines = (tmp_path / "run.err").read_text().splitlines()[logged:]
            return any('"event": "cycle-start"' in line for line in lines)

        await wait_until(cycle_started, "a cycle started", BOUND_S)
        await asyncio.to_thread(pg.stop)
        await asyncio.to_thread(pg.start)
    finally:
        marathon.set_latency(0)
    await wait_until(lambda: recorded(pg.url, 3), "the mid-cycle recreate recorded", BOUND_S)
    ready = await http.get(f"{server}/readyz")
    assert ready.status_code == 200, ready.text
    events = [json.loads(line) for line in (tmp_path / "run.err").read_text().splitlines()[logged:]
              if line.startswith("{")]
    assert not [e for e in events if e.get("event") == "store-write-failed"], events


def test_a_postgresql_server_that_never_answers_is_an_error_in_bounded_time(tmp_path: Path) -> None:
    """A port that accepts the connection and says nothing (a server hung, a proxy whose backend is gone): libpq
    would wait as long as TCP does. The store gives up after its connect timeout, naming the database."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"postgresql+psycopg://reconciler:pw@127.0.0.1:{silent.getsockname()[1]}/history"
        outcome: list[BaseException | None] = []

        def open_store() -> None:
            try:
                Store.open(url).close()
                outcome.append(None)
            except BaseException as exc:  # handed to the test's thread
                outcome.append(exc)

        opening = threading.Thread(target=open_store, daemon=True)
        opening.start()
        opening.join(CONNECT_BOUND_S)
        assert outcome, f"Store.open still waits after {CONNECT_BOUND_S:.0f}s"
    assert isinstance(outcome[0], StoreError), outcome
    assert "cannot open the store at postgresql+psycopg://reconciler:***@127.0.0.1" in str(outcome[0])
    assert "pw" not in str(outcome[0]).replace("psycopg", "")
