"""`reconciler run` sends alert notifications to a real HTTP receiver on loopback (an aiohttp server).

An invalid commit of a real git repository is notified once across many cycles (sha, file:line) and
resolved by the next good commit; a receiver that answers 500 or hangs never holds a cycle back; a
heal budget used up and a deployment past its deadline arrive as Slack-compatible text; the webhook's
token appears in no output, log or status.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.e2e.cli import PROJECT, read_until, run_cli
from tests.e2e.test_run_gitops import eventually, specs_repo

pytestmark = pytest.mark.slow
TOKEN = "T0KEN-s3cr3t-9f8e7d"


@dataclass
class Receiver:
    """Collects every POST; answers `status`, or holds the request open while `hang` is set."""

    bodies: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    hang: bool = False
    open_requests: int = 0
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        assert request.match_info["token"] == TOKEN
        self.bodies.append(await request.json())
        self.open_requests += 1
        try:
            while self.hang:
                await asyncio.sleep(0.05)
            return web.Response(status=self.status)
        finally:
            self.open_requests -= 1

    def of(self, key: str, status: str = "firing") -> list[dict[str, Any]]:
        return [b for b in self.bodies if b.get("key") == key and b.get("status") == status]


@contextlib.asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()
    app = web.Application()
    app.router.add_post("/hooks/{token}", state.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}/hooks/{TOKEN}"
    try:
        yield state
    finally:
        state.hang = False
        await runner.cleanup()


@dataclass
class Controller:
    server: str
    marathon: str
    consul: str  # '' without Consul

    async def metric(self, http: httpx.AsyncClient, name: str) -> float:
        text = (await http.get(f"{self.server}/metrics")).text
        return sum(float(m.group(1)) for m in re.finditer(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.M))


@contextlib.asynccontextmanager
async def controller(tmp_path: Path, url: str, *args: str) -> AsyncIterator[Controller]:
    """`reconciler run ARGS --sandbox` with the webhook URL in a file; its output drained and checked."""
    url_file = tmp_path / "notify-url"
    url_file.write_text(url + "\n")
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb", XDG_CACHE_HOME=str(tmp_path / "cache"))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reconciler", "--log-level", "INFO", "run", *args, "--sandbox", "--listen", "127.0.0.1:0",
        "--database", str(tmp_path / "history.db"), "--notify-url-file", str(url_file),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=PROJECT, env=env,
    )
    assert process.stdout is not None and process.stderr is not None
    seen: list[str] = []
    logs: list[str] = []
    drains = [asyncio.create_task(_drain(process.stderr, logs))]
    try:
        await read_until(process.stdout, "alert notifications go to", seen, 90)
        server = next(re.search(r"on (http://127\.0\.0\.1:\d+)", line) for line in seen if "POST /hooks/git" in line)
        marathon = next(re.search(r"(http://127\.0\.0\.1:\d+)", line) for line in seen if "sandbox Marathon" in line)
        assert server and marathon
        port = httpx.URL(url).port
        assert f"alert notifications go to http://127.0.0.1:{port}/… (" in seen[-1]
        drains.append(asyncio.create_task(_drain(process.stdout, seen)))
        consul = [m.group(1) for line in seen if "sandbox Consul" in line
                  for m in [re.search(r"(http://127\.0\.0\.1:\d+)", line)] if m]
        yield Controller(server.group(1), marathon.group(1), consul[0] if consul else "")
    finally:
        await _stop(process)
        await asyncio.wait_for(asyncio.gather(*drains, return_exceptions=True), 30)
    assert TOKEN not in "".join(seen + logs), "the webhook token leaked into the output"
    assert "event=notification-sent" in "".join(logs)


async def _stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, while the drains keep reading its output; SIGKILL after 30 s."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _drain(stream: asyncio.StreamReader, into: list[str]) -> None:
    while line := await stream.readline():
        into.append(line.decode())


BROKEN = """apiVersion: reconciler/v1
kind: Environment
name: integration
apps:
  web:
    cmd: serve
    cpus: lots
"""


async def test_an_invalid_commit_is_notified_once_and_a_failing_or_hanging_receiver_holds_nothing_back(
    tmp_path: Path,
) -> None:
    repo, _ = specs_repo(tmp_path)
    async with (receiver() as hook, controller(tmp_path, hook.url, "--source", repo.url, "--path", "specs",
                                               "--no-consul", "--resync", "0.5", "--poll-interval", "1") as run,
                httpx.AsyncClient(timeout=10) as http):
        await eventually(lambda: _ready(http, run.server), "ready", 60)
        good = (repo.work / "specs" / "integration.yaml").read_text()
        broken = repo.commit({"specs/integration.yaml": BROKEN}, "broken")
        key = f"invalid-commit:{broken}"
        await eventually(_async(lambda: hook.of(key)), "the invalid commit notified", 30)
        (sent,) = hook.of(key)
        assert sent["kind"] == "invalid-commit" and sent["severity"] == "critical" and sent["repeat"] == 0
        assert broken[:12] in sent["summary"] and "stays in force" in sent["summary"]
        # Every problem with file:line, named inside the spec tree of the commit (not where the clone lives).
        assert any(line.startswith("integration.yaml:7: apps.web.cpus: Input should be a valid number")
                   for line in sent["detail"].splitlines())
        assert str(tmp_path) not in sent["detail"]
        cycles = await run.metric(http, "reconciler_cycles_total")
        await eventually(_more_cycles(http, run, cycles + 6), "six more cycles", 30)
        assert len(hook.of(key)) == 1  # de-duplicated across cycles and feed polls
        status = (await http.get(f"{run.server}/status")).json()["notifications"]
        assert status["target"].startswith("http://127.0.0.1:") and TOKEN not in json.dumps(status)
        assert [a["key"] for a in status["active"]] == [key]

        # A receiver failing with 500: retried, then counted as failed; cycles go on.
        hook.status = 500
        second = repo.commit({"specs/integration.yaml": BROKEN + "    mem: many\n"}, "still broken")
        await eventually(_async(lambda: len(hook.of(f"invalid-commit:{second}")) >= 3), "three attempts", 30)
        await eventually(_metric_at_least(http, run, 'reconciler_notifications_total{kind="invalid-commit",'
                                                     'outcome="failed"}', 1), "failure counted", 30)
        # A receiver that hangs: the resolution waits on it, the cycles do not.
        hook.status, hook.hang = 200, True
        repo.commit({"specs/integration.yaml": good}, "fixed")
        await eventually(_async(lambda: hook.open_requests > 0), "the resolution posted and held", 30)
        cycles = await run.metric(http, "reconciler_cycles_total")
        await eventually(_more_cycles(http, run, cycles + 5), "cycles while the receiver hangs", 30)
        assert hook.open_requests > 0
        hook.hang = False
        await eventually(_async(lambda: hook.of(f"invalid-commit:{second}", "resolved")), "resolution", 30)
        await eventually(_metric_at_least(http, run, 'reconciler_notifications_total{kind="invalid-commit",'
                                                     'outcome="sent"}', 2), "sends counted", 30)
    assert len(hook.of(key, "resolved")) == 3  # superseded while the receiver answered 500: every attempt


HEAL_SPECS = """apiVersion: reconciler/v1
kind: Environment
name: shop
apps:
  web:
    cmd: serve
    instances: 2
    cpus: 0.1
    mem: 32
    ports: [{name: http}]
    healthChecks: [{protocol: HTTP, path: /, portIndex: 0, gracePeriodSeconds: 0, intervalSeconds: 1,
                    timeoutSeconds: 1, maxConsecutiveFailures: 0}]
    heal: {criticalFor: 1, backoff: 600, maxUnavailable: 0}
"""


async def test_a_used_up_heal_budget_and_a_late_deployment_arrive_as_slack_text(tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "shop.yaml").write_text(HEAL_SPECS)
    async with (receiver() as hook, controller(tmp_path, hook.url, str(tmp_path / "specs"), "--resync", "0.5",
                                               "--no-leader-election", "--notify-format", "slack",
                                               "--notify-deadline", "2") as run,
                httpx.AsyncClient(timeout=10) as http):
        await eventually(lambda: _ready(http, run.server), "ready", 60)
        await eventually(lambda: _passing_in_consul(http, run.consul, 2), "two tasks registered and passing", 60)
        # maxUnavailable 0: no critical task may be killed, the budget is used up by the first one.
        tasks = await _tasks(http, run.marathon)
        await _set_health(http, run.marathon, tasks[:1], healthy=False)
        prefix = "[FIRING critical] heal-budget-exhausted: /shop/web: 1 task critical past the grace window,"
        await eventually(_async(lambda: _texts(hook, prefix)), "the used-up budget notified", 60)
        assert set(hook.bodies[0]) == {"text"}
        (text,) = _texts(hook, prefix)
        assert f"the heal budget allows 0 kills now\ncritical tasks: {tasks[0]}; look at why they fail" in text
        cycles = await run.metric(http, "reconciler_cycles_total")
        await eventually(_more_cycles(http, run, cycles + 6), "six more cycles", 30)
        assert len(_texts(hook, "[FIRING critical] heal-budget-exhausted")) == 1
        await _set_health(http, run.marathon, tasks[:1], healthy=True)
        await eventually(_async(lambda: _texts(hook, "[RESOLVED critical] heal-budget-exhausted: /shop/web")),
                         "resolved once the tasks pass again", 60)
        assert await _tasks(http, run.marathon) == tasks  # nothing was killed

        # A deployment that never ends (the sandbox freezes deployments), started behind the controller's back.
        assert (await http.put(f"{run.marathon}/_sandbox/faults", json={"freezeDeployments": True})).status_code == 200
        scaled = await http.put(f"{run.marathon}/v2/apps/shop/web", json={"instances": 3})
        assert scaled.status_code == 200
        prefix = f"[FIRING warning] deployment-past-deadline: deployment {scaled.json()['deploymentId']} "
        await eventually(_async(lambda: _texts(hook, prefix)), "the late deployment notified", 60)
        (late,) = _texts(hook, prefix)
        assert "of /shop/web running for" in late and "past its deadline of 2s" in late
        await http.put(f"{run.marathon}/_sandbox/faults", json={"freezeDeployments": False})


async def test_notify_flags_without_a_webhook_or_with_a_bad_one_are_refused(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "shop.yaml").write_text(HEAL_SPECS)
    alone = await run_cli("run", str(specs), "--notify-format", "slack", marathon="http://127.0.0.1:9")
    assert alone.code == 2 and "--notify-format without a webhook" in alone.output
    bad = await run_cli("run", str(specs), "--notify-url", f"ftp://example.invalid/{TOKEN}",
                        marathon="http://127.0.0.1:9")
    assert bad.code == 2 and "not an http(s) URL" in bad.output and TOKEN not in bad.output
    url_file = tmp_path / "url"
    url_file.write_text(f"https://hooks.example.invalid/{TOKEN}\n")
    both = await run_cli("run", str(specs), "--notify-url", "https://example.invalid/x", "--notify-url-file",
                         str(url_file), marathon="http://127.0.0.1:9")
    assert both.code == 2 and "give one of them" in both.output and TOKEN not in both.output


async def _set_health(http: httpx.AsyncClient, marathon: str, tasks: list[str], *, healthy: bool) -> None:
    for task in tasks:
        answer = await http.put(f"{marathon}/_sandbox/tasks/{task}/health", json={"healthy": healthy})
        assert answer.status_code == 200


def _texts(hook: Receiver, prefix: str) -> list[str]:
    return [str(b["text"]) for b in hook.bodies if str(b.get("text", "")).startswith(prefix)]


def _async(probe: Any) -> Any:
    async def wrapped() -> object:
        return probe()

    return wrapped


async def _ready(http: httpx.AsyncClient, server: str) -> bool:
    return (await http.get(f"{server}/readyz")).status_code == 200


def _more_cycles(http: httpx.AsyncClient, run: Controller, at_least: float) -> Any:
    async def probe() -> bool:
        return await run.metric(http, "reconciler_cycles_total") >= at_least

    return probe


def _metric_at_least(http: httpx.AsyncClient, run: Controller, series: str, value: float) -> Any:
    async def probe() -> bool:
        text = (await http.get(f"{run.server}/metrics")).text
        found = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
        return bool(found and float(found.group(1)) >= value)

    return probe


async def _tasks(http: httpx.AsyncClient, marathon: str) -> list[str]:
    answer = await http.get(f"{marathon}/v2/apps/shop/web/tasks")
    return [t["id"] for t in answer.json().get("tasks", []) if t["state"] == "TASK_RUNNING"]


async def _passing_in_consul(http: httpx.AsyncClient, consul: str, count: int) -> bool:
    answer = await http.get(f"{consul}/v1/health/service/web", params={"passing": "true"})
    return answer.status_code == 200 and len(answer.json()) == count
