"""The controller while Marathon fails (in process, against the Marathon sandbox, its HTTP server on
loopback): `/status` and `/metrics` keep telling what the last observation saw and say since when,
instead of reporting every app missing; the failed cycles' duration and errors are what happened; a
write Marathon refuses is logged as a warning; everything comes back by itself once Marathon answers.
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

from reconciler.core.plan import PlanOptions
from reconciler.engine.controller import Controller, ControllerOptions
from reconciler.engine.cycle import CycleOptions, CycleResult, Reconciler
from reconciler.engine.reporting import Reporter
from reconciler.engine.telemetry import ControllerMetrics
from reconciler.engine.triggers import marathon_events
from reconciler.marathon import MarathonClient
from reconciler.sandbox.marathon import MarathonSandbox
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


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    (tmp_path / "shop.yaml").write_text(SPEC)
    async with contextlib.AsyncExitStack() as stack:
        sandbox = await stack.enter_async_context(MarathonSandbox(fast_config(keep_event_history=False)))
        marathon = await stack.enter_async_context(MarathonClient(sandbox.url, backoff_seconds=0.05))
        desired = load_desired(tmp_path)
        reporter = Reporter(ControllerMetrics(), None, lambda: {"source": str(tmp_path)}, lambda: desired)
        hooks = ServerHooks(status=reporter.status, readiness=lambda: Readiness(reporter.ready, "ready"),
                            on_git_push=lambda _: None, metrics=reporter.metrics)
        server = HttpServer(hooks, "127.0.0.1", 0)
        host, port = await server.start()
        stack.push_async_callback(server.stop)
        state = Running(sandbox, f"http://{host}:{port}")
        reconciler = Reconciler(lambda: desired, marathon, None, CycleOptions(plan=PlanOptions()))
        controller = Controller(reporter.recording(reconciler.cycle),
                                ControllerOptions(resync_seconds=0.5, retry_seconds=0.2, max_retry_seconds=0.5),
                                sources=(lambda: marathon_events(marathon),), on_cycle=state.results.append)
        loop_task = asyncio.create_task(controller.run())
        try:
            yield state
        finally:
            controller.stop()
            await asyncio.wait_for(loop_task, 30)


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
    assert rows(status) == rows(seen) and status["observed"] == observed
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
    running.sandbox.fail_every(2, 503)  # reads are retried past it; the one write is not
    async with httpx.AsyncClient(base_url=running.sandbox.url) as http:
        await http.delete("/v2/apps/shop/cart")
    await until(lambda: any(r.message.startswith("cycle=") and " outcome=failed " in r.message
                            for r in caplog.records), "a refused write", timeout=30)
    running.sandbox.reset_faults()
    failed = [r for r in caplog.records if " outcome=failed " in r.message]
    assert failed and all(r.levelno == logging.WARNING for r in failed), [(r.levelname, r.message) for r in failed]
    assert all(r.levelno == logging.INFO for r in caplog.records if " outcome=succeeded " in r.message)
