"""`reconciler run --source <git URL> --sandbox` in a subprocess, against a real git repository.

A commit converges within a poll interval; a broken commit is reported while the last good revision
stays in force; a signed webhook makes a new commit converge at once (the poll being far away); the
HTTP server answers health, readiness, metrics and status; the store holds the synced revisions.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from reconciler.store import Store
from reconciler.web.signature import sign
from tests.e2e.cli import PROJECT, copy_example_tree, read_until, stop_process
from tests.e2e.gitrepo import Repo

pytestmark = pytest.mark.slow
SECRET = "webhook-secret-for-tests"


@dataclass
class Running:
    process: asyncio.subprocess.Process
    server: str
    marathon: str
    seen: list[str]


def specs_repo(tmp_path: Path) -> tuple[Repo, str]:
    tree = tmp_path / "tree"
    copy_example_tree(tree)
    repo = Repo(tmp_path / "repo")
    files = {str(p.relative_to(tree)): p.read_text() for p in tree.rglob("*") if p.is_file()}
    return repo, repo.commit(files, "the example specs")


def set_order_api_instances(repo: Repo, count: int) -> str:
    text = (repo.work / "specs" / "integration.yaml").read_text()
    changed = re.sub(r"(  order-api:\n    chart: java-service\n    instances: )\d+", rf"\g<1>{count}", text)
    assert changed != text
    return repo.commit({"specs/integration.yaml": changed}, f"order-api x{count}")


@contextlib.asynccontextmanager
async def controller(tmp_path: Path, repo: Repo, *extra: str) -> AsyncIterator[Running]:
    secret = tmp_path / "secret"
    secret.write_text(SECRET + "\n")
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb", XDG_CACHE_HOME=str(tmp_path / "cache"))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reconciler", "--log-level", "WARNING", "run", "--source", repo.url, "--path", "specs",
        "--sandbox", "--no-consul", "--listen", "127.0.0.1:0", "--database", str(tmp_path / "history.db"),
        "--webhook-secret-file", str(secret), *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=PROJECT, env=env,
    )
    assert process.stdout is not None
    seen: list[str] = []
    try:
        await read_until(process.stdout, "POST /hooks/git on http://", seen, 60)
        server = re.search(r"on (http://127\.0\.0\.1:\d+)", seen[-1])
        marathon = next(re.search(r"(http://127\.0\.0\.1:\d+)", line) for line in seen if "sandbox Marathon" in line)
        assert server and marathon
        yield Running(process, server.group(1), marathon.group(1), seen)
    finally:
        await stop_process(process)


async def eventually(probe: Callable[[], Awaitable[object]], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")


async def order_api_instances(http: httpx.AsyncClient, marathon: str) -> int:
    answer = await http.get(f"{marathon}/v2/apps/integration/order-api")
    return int(answer.json()["app"]["instances"]) if answer.status_code == 200 else -1


async def test_a_commit_converges_within_a_poll_and_a_broken_one_keeps_the_last_good(tmp_path: Path) -> None:
    repo, first = specs_repo(tmp_path)
    async with controller(tmp_path, repo, "--poll-interval", "2") as run, httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(f"{run.server}/healthz")).status_code == 200

        async def ready() -> bool:
            return (await http.get(f"{run.server}/readyz")).status_code == 200

        await eventually(ready, "ready after the first cycle", 60)
        status = (await http.get(f"{run.server}/status")).json()
        assert status["source"]["revision"] == first
        await eventually(synced(http, run.server, first), "integration synced to the first commit", 60)

        second = set_order_api_instances(repo, 3)
        await eventually(synced(http, run.server, second), "the new commit synced within a poll", 2 * 1.2 + 30)
        assert await order_api_instances(http, run.marathon) == 3

        broken = repo.commit({"specs/integration.yaml": "apiVersion: reconciler/v1\nkind: Environment\n"
                              "name: integration\napps: {web: {chart: nope}}\n"}, "broken")

        async def reported() -> bool:
            source = (await http.get(f"{run.server}/status")).json()["source"]
            return source["latest"] == broken and source["revision"] == second and broken[:12] in source["error"]

        await eventually(reported, "the broken commit reported", 30)
        # Named inside the spec tree (as the notification names them), not in the controller's clone.
        error = (await http.get(f"{run.server}/status")).json()["source"]["error"]
        problems = [line.split(" is invalid: ")[-1] for line in error.splitlines()]
        assert any(p.startswith("integration.yaml:4: apps.web.chart") for p in problems), error
        assert str(tmp_path) not in error and "../charts/nope/Chart.yaml" in error, error
        assert await order_api_instances(http, run.marathon) == 3  # nothing changed because of it
        metrics = (await http.get(f"{run.server}/metrics")).text
        assert f'reconciler_synced_revision_info{{env="integration",revision="{second}"}} 1.0' in metrics
        assert "reconciler_cycles_total" in metrics
        # No election (--no-consul): this replica is the only writer, and the leader gauges say so.
        assert "\nreconciler_leader 1.0\n" in metrics and "\nreconciler_leader_may_write 1.0\n" in metrics

    store = Store.open(tmp_path / "history.db")
    try:
        revisions = [e.data["revision"] for e in store.history(env="integration") if e.kind == "revision"]
        actions = [e for e in store.history(env="integration", app="order-api") if e.kind == "action"]
    finally:
        store.close()
    assert revisions[0] == first and revisions[-1] == second and broken not in revisions
    assert any(e.data["kind"] == "scale" or e.data["kind"] == "update" for e in actions)


def synced(http: httpx.AsyncClient, server: str, revision: str) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        environments = (await http.get(f"{server}/status")).json()["environments"]
        return bool(environments.get("integration", {}).get("synced_revision") == revision)

    return probe


async def test_a_signed_webhook_converges_a_commit_at_once(tmp_path: Path) -> None:
    repo, first = specs_repo(tmp_path)
    async with controller(tmp_path, repo, "--poll-interval", "3600") as run, httpx.AsyncClient(timeout=10) as http:
        await eventually(synced(http, run.server, first), "synced to the first commit", 60)
        second = set_order_api_instances(repo, 4)
        body = b'{"ref": "refs/heads/main"}'
        unsigned = await http.post(f"{run.server}/hooks/git", content=body)
        assert unsigned.status_code == 401
        signed = await http.post(f"{run.server}/hooks/git", content=body,
                                 headers={"X-Hub-Signature-256": sign(SECRET.encode(), body)})
        assert signed.status_code == 202
        started = time.monotonic()
        await eventually(synced(http, run.server, second), "the pushed commit synced", 30)
        took = time.monotonic() - started
        assert await order_api_instances(http, run.marathon) == 4
    print(f"webhook to synced: {took:.2f}s")
