"""The controller while Marathon or Consul fails (in process, against the sandbox, its HTTP server on
loopback): `/status` and `/metrics` keep telling what the last observation saw and say since when,
instead of reporting every app missing; the failed cycles' duration and errors are what happened; a
write Marathon refuses is logged as a warning; a cycle that could not read Consul says so and is retried
soon, so registrations and heals resume within seconds of Consul's return, not at the next resync.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.consul.client import ConsulClient
from reconciler.core.plan import PlanOptions
from reconciler.engine.controller import Controller, ControllerOptions, TriggerSource
from reconciler.engine.cycle import CycleOptions, CycleResult, Reconciler
from reconciler.engine.reporting import Reporter
from reconciler.engine.telemetry import ControllerMetrics
from reconciler.engine.triggers import consul_health_changes, marathon_events
from reconciler.marathon import MarathonClient
from reconciler.sandbox.consul import ConsulSandboxConfig
from reconciler.sandbox.marathon import MarathonSandbox
from reconciler.sandbox.stack import Sandbox, SandboxConfig
from reconciler.spec import load_desired
from reconciler.web.server import HttpServer, Readiness, ServerHooks
from tests.sandbox.marathon.fixtures import fast_config, until

pytestmark = pytest.mark.slow

SPEC = """
apiVersion: reconciler/v1
kind: Environment
name: shop
apps:
  web: {cmd: serve, instances: 2, cpus: 0.1, mem: 32}
  cart: {cmd: serve, instances: 1, cpus: 0.1, mem: 32}
"""


@dataclass
class Running:
    sandbox: MarathonSandbox
    base: str  # the controller's HTTP server
    results: list[CycleResult] = field(default_factory=list)
    controller: Controller | None = None

    async def get(self, path: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.base) as http:
            return await http.get(path)

    async def status(self) -> dict[str, Any]:
        answer: dict[str, Any] = (await self.get("/status")).json()
        return answer

    async def metric(self, name: str, **labels: str) -> float | None:
        text = (await self.get("/metrics")).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    return float(sample.value)
        return None


@contextlib.asynccontextmanager
async def controlled(
    sandbox: MarathonSandbox, consul_url: str | None, specs: Path, options: ControllerOptions
) -> AsyncIterator[Running]:
    """The controller of `run` in process (Reporter, HTTP server on loopback, the trigger sources)."""
    async with contextlib.AsyncExitStack() as stack:
        marathon = await stack.enter_async_context(MarathonClient(sandbox.url, backoff_seconds=0.05))
        consul = await stack.enter_async_context(ConsulClient(consul_url, retries=0, timeout=2.0)) \
            if consul_url else None
        desired = load_desired(specs)
        reporter = Reporter(ControllerMetrics(), None, lambda: {"source": str(specs)}, lambda: desired)
        hooks = ServerHooks(status=reporter.status, readiness=lambda: Readiness(reporter.ready, "ready"),
                            on_git_push=lambda _: None, metrics=reporter.metrics)
        server = HttpServer(hooks, "127.0.0.1", 0)
        host, port = await server.start()
        stack.push_async_callback(server.stop)
        state = Running(sandbox, f"http://{host}:{port}")
        sources: list[TriggerSource] = [lambda: marathon_events(marathon)]
        if consul is not None:
            sources.append(lambda: consul_health_changes(consul, wait="2s"))
        reconciler = Reconciler(lambda: desired, marathon, consul, CycleOptions(plan=PlanOptions()))
        controller = state.controller = Controller(reporter.recording(reconciler.cycle), options,
                                                   sources=tuple(sources), on_cycle=state.results.append)
        loop_task = asyncio.create_task(controller.run())
        try:
            yield state
        finally:
            controller.stop()
            await asyncio.wait_for(loop_task, 30)


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    (tmp_path / "shop.yaml").write_text(SPEC)
    options = ControllerOptions(resync_seconds=0.5, retry_seconds=0.2, max_retry_seconds=0.5)
    async with MarathonSandbox(fast_config(keep_event_history=False)) as sandbox, \
            controlled(sandbox, None, tmp_path, options) as state:
        yield state


@pytest.fixture
async def with_consul(tmp_path: Path) -> AsyncIterator[tuple[Running, Sandbox]]:
    """The shop with Consul: registrations through the agents, a resync far away (30 s)."""
    (tmp_path / "shop.yaml").write_text(SPEC)
    config = SandboxConfig(marathon=fast_config(keep_event_history=False), consul=ConsulSandboxConfig())
    options = ControllerOptions(resync_seconds=30, retry_seconds=0.5, max_retry_seconds=2.0)
    async with Sandbox(config) as sandbox, \
            controlled(sandbox.marathon, sandbox.consul_url, tmp_path, options) as state:
        yield state, sandbox


def rows(status: dict[str, Any]) -> tuple[Any, ...]:
    return status["environments"]["shop"]["health"], status["environments"]["shop"]["sync"], status["apps"]


async def test_status_and_metrics_keep_the_last_observation_while_marathon_fails(running: Running) -> None:
    async def healthy() -> bool:
        status = await running.status()
        return bool(status["environments"]) and rows(status)[:2] == ("Healthy", "Synced")

    await until(healthy, "the shop converged", timeout=30)
    # A change by hand that the controller cannot undo yet (the deployment holds the app): drift is 1.
    running.sandbox.freeze_deployments()
    async with httpx.AsyncClient(base_url=running.sandbox.url) as http:
        assert (await http.put("/v2/apps/shop/web", json={"instances": 3})).status_code == 200
    await until(lambda: running.metric("reconciler_drifted_apps", env="shop"), "the drift seen", timeout=30)
    seen = await running.status()
    observed = seen["observed"]
    assert observed["cycle"] == seen["last_cycle"]["id"] and seen["apps"]["/shop/web"]["desired"] == 3

    running.sandbox.fail_every(1, 503)  # every answer, the event stream's too
    before = len(running.results)
    await until(lambda: any(r.error for r in running.results[before + 1:]), "a cycle failed whole", timeout=30)
    status = await running.status()
    assert status["last_cycle"]["ok"] is False and "503" in status["last_cycle"]["error"]
    # Three reads retried after 0.05, 0.1 and 0.2 s: the failed cycle took that long, and says so.
    assert status["last_cycle"]["seconds"] >= 0.3
    # What the last observation saw, not "every app Missing and OutOfSync": nothing was observed since.
    assert rows(status) == rows(seen)
    last_seen = [r for r in running.results if r.actual is not None][-1]
    assert status["observed"]["cycle"] == last_seen.cycle_id and status["last_cycle"]["id"] != last_seen.cycle_id
    observed = status["observed"]
    assert "503" in status["environments"]["shop"]["last_error"]["message"]
    assert await running.metric("reconciler_drifted_apps", env="shop") == 1
    failed = await running.metric("reconciler_cycles_total", result="failed")
    assert failed is not None and failed >= 1
    durations = await running.metric("reconciler_cycle_duration_seconds_sum")
    assert durations is not None and durations >= 0.3
    assert (await running.get("/healthz")).status_code == 200

    running.sandbox.reset_faults()  # Marathon answers again, and its deployment ends

    async def recovered() -> bool:
        now = await running.status()
        return now["observed"]["cycle"] != observed["cycle"] and rows(now)[:2] == ("Healthy", "Synced")

    await until(recovered, "the controller observed again and converged by itself", timeout=30)
    assert (await running.status())["apps"]["/shop/web"]["desired"] == 2


async def test_a_write_marathon_refuses_is_a_warning(running: Running, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="reconciler.engine")
    await until(lambda: running.results and running.results[-1].ok, "a first cycle", timeout=30)
    running.sandbox.fail_every(2, 503)  # reads are retried past it; a write is not, when its turn fails

    def creates() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.getMessage().startswith("cycle=") and " create /shop/cart " in
                r.getMessage() and " outcome=planned " not in r.getMessage()]

    async with httpx.AsyncClient(base_url=running.sandbox.url) as http:
        for _ in range(12):  # whether the create lands on a failing turn depends on the requests around it
            seen = len(creates())
            for _attempt in range(10):  # every other answer is a 503: the delete goes through in two
                if (await http.delete("/v2/apps/shop/cart")).status_code != 503:
                    break
            await until(lambda: len(creates()) > seen, "the controller's create", timeout=30)  # noqa: B023
            if any(" outcome=failed " in r.getMessage() for r in creates()):
                break
    running.sandbox.reset_faults()
    failed = [r for r in creates() if " outcome=failed " in r.getMessage()]
    assert failed and all(r.levelno == logging.WARNING for r in failed), [(r.levelname, r.msg) for r in failed]
    assert all(r.levelno == logging.INFO for r in creates() if " outcome=succeeded " in r.getMessage())


async def test_a_cycle_without_consul_says_so_and_is_retried_until_consul_answers(
    with_consul: tuple[Running, Sandbox],
) -> None:
    running, sandbox = with_consul
    assert sandbox.consul is not None and running.controller is not None

    async def registered() -> bool:
        status = await running.status()
        return bool(status["apps"]) and all(a["passing"] == a["desired"] for a in status["apps"].values())

    await until(registered, "the shop registered and passing in Consul", timeout=30)
    await sandbox.consul.stop_http()
    before = len(running.results)
    running.controller.trigger("test")  # Consul's own watch cannot ask: it is down too
    await until(lambda: len(running.results) > before, "a cycle while Consul is down", timeout=30)
    status = await running.status()
    assert any("Consul" in p for p in status["last_cycle"]["problems"]), status["last_cycle"]
    assert all(a["passing"] is None for a in status["apps"].values())  # unknown, not zero
    assert (await running.metric("reconciler_errors_total", kind="observation-incomplete") or 0) >= 1

    # A task ends while Consul is away: its replacement needs registering once Consul is back.
    web = next(t for t in running.sandbox.state.all_tasks() if t.app_id == "/shop/web")
    running.sandbox.kill_task(web.id)

    def replaced() -> bool:  # the cycles Marathon's events asked for have seen the replacement, without Consul
        last = running.results[-1]
        app = last.actual.apps.get("/shop/web") if last.actual else None
        running_ids = {t.task_id for t in app.tasks if t.state == "TASK_RUNNING"} if app else set()
        return len(running_ids) == 2 and web.id not in running_ids and bool(last.problems)

    await until(replaced, "a cycle saw the replacement while Consul was down", timeout=30)
    # Counted before the listeners open: `start_http` opens them one agent at a time, and a retry may run a
    # whole cycle between two of them, before `start_http` returns.
    came_back = len(running.results)
    await sandbox.consul.start_http()

    async def back() -> bool:  # /status is updated before the cycle's result is handed to `results`
        return any(not r.problems for r in running.results[came_back:]) and await registered()

    await until(back, "the replacement registered after Consul came back", timeout=90)
    # Asked for by a retry (0.5 s to 2 s), by Consul's health watch once it reads again, or by an event,
    # not left to the resync 30 s away. Read from the cycles' triggers rather than from a short deadline,
    # which a loaded machine missed.
    first_whole = next(r for r in running.results[came_back:] if not r.problems)
    assert first_whole.trigger != "resync", [r.trigger for r in running.results[came_back:]]
    assert (await running.status())["last_cycle"]["problems"] == []
