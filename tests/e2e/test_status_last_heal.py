"""Status's "last heal" is the last kill that was sent, never a heal skipped at the moment of the kill: the
controller in process (its reporter over a SQLite store, its HTTP server on loopback) against the
Marathon + Consul sandbox, and `reconciler status` as a subprocess, asking the controller's `/status`
and, without a controller, reading the store.

A heal is skipped when Marathon, read again right before the kill, no longer runs the task (here:
someone kills it themselves in that moment, docs/healing.md "Still running at the kill").
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.consul.client import ConsulClient
from reconciler.core.model import Action, ActionKind, Outcome
from reconciler.core.plan import PlanOptions
from reconciler.engine.controller import Controller, ControllerOptions
from reconciler.engine.cycle import CycleOptions, CycleResult, Reconciler
from reconciler.engine.reporting import Reporter
from reconciler.engine.telemetry import ControllerMetrics
from reconciler.engine.triggers import consul_health_changes, marathon_events
from reconciler.marathon import MarathonClient
from reconciler.sandbox.stack import Sandbox
from reconciler.spec import load_desired
from reconciler.store import Store
from reconciler.web.server import HttpServer, Readiness, ServerHooks
from tests.e2e.cli import run_cli
from tests.e2e.healing_shop import converged, fast_sandbox, running_tasks, shop_spec
from tests.sandbox.marathon.fixtures import until

pytestmark = pytest.mark.slow
NOBODY = "http://127.0.0.1:9"  # the discard port: no controller answers there
REREADS = ("/v2/apps/shop/web", "/v2/apps/shop/web/tasks")


class KilledByHandBeforeTheReread(httpx.AsyncBaseTransport):
    """Loopback HTTP; once armed with a task, the executor's read of the app right before its heals
    (`GET /v2/apps/shop/web`, or of its tasks: nothing else of a cycle asks for either) first lets someone
    kill that task by hand, as an operator might in that very moment."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.armed: str | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.armed and request.method == "GET" and request.url.path in REREADS:
            task, self.armed = self.armed, None
            kill = httpx.Request("DELETE", request.url.copy_with(path=f"/v2/apps/shop/web/tasks/{task}",
                                                                 params={"scale": "false"}))
            answer = await self._inner.handle_async_request(kill)
            await answer.aread()
            await answer.aclose()
            assert answer.status_code == 200, answer.status_code
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass
class Running:
    sandbox: Sandbox
    store_path: Path
    server: str
    hand: KilledByHandBeforeTheReread
    executed: list[Action] = field(default_factory=list)

    def record(self, result: CycleResult) -> None:
        self.executed.extend(result.execution.actions if result.execution else ())

    def heal_of(self, task: str, outcome: Outcome) -> bool:
        return any(a.kind == ActionKind.KILL_TASK and a.target == task and a.outcome == outcome
                   for a in self.executed)


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "shop.yaml").write_text(shop_spec("v1", instances=2))
    hand = KilledByHandBeforeTheReread()
    async with contextlib.AsyncExitStack() as stack:
        sandbox = await stack.enter_async_context(Sandbox(fast_sandbox()))
        marathon = await stack.enter_async_context(MarathonClient(sandbox.marathon_url, transport=hand))
        consul = await stack.enter_async_context(ConsulClient(str(sandbox.consul_url), retries=1, timeout=2.0))
        store = Store.open(tmp_path / "history.db")
        stack.callback(store.close)
        desired = load_desired(tmp_path / "specs")
        reconciler = Reconciler(lambda: desired, marathon, consul, CycleOptions(plan=PlanOptions()))
        reporter = Reporter(ControllerMetrics(), store, lambda: {"revision": "r1", "latest": "r1"}, lambda: desired)
        server = HttpServer(ServerHooks(status=reporter.status, readiness=lambda: Readiness(True, "ready"),
                                        on_git_push=lambda reason: None, metrics=reporter.metrics), "127.0.0.1", 0)
        host, port = await server.start()
        stack.push_async_callback(server.stop)
        state = Running(sandbox, tmp_path / "history.db", f"http://{host}:{port}", hand)
        controller = Controller(
            reporter.recording(reconciler.cycle), ControllerOptions(resync_seconds=0.5, retry_seconds=0.2),
            sources=(lambda: marathon_events(marathon), lambda: consul_health_changes(consul, wait="2s")),
            on_cycle=state.record,
        )
        loop_task = asyncio.create_task(controller.run())
        try:
            await until(lambda: converged(sandbox, 2), "the shop runs two tasks passing in Consul", 60)
            yield state
        finally:
            controller.stop()
            await asyncio.wait_for(loop_task, 30)


async def last_heal(running: Running) -> dict[str, Any] | None:
    async with httpx.AsyncClient() as http:
        document = (await http.get(f"{running.server}/status")).json()
    heal: dict[str, Any] | None = document["environments"]["shop"]["last_heal"]
    return heal


async def test_status_shows_the_last_heal_sent_not_one_skipped_at_the_kill(running: Running) -> None:
    healed, spared = await running_tasks(running.sandbox)
    await running.sandbox.marathon.set_task_health(healed, False)
    await until(lambda: running.heal_of(healed, Outcome.SUCCEEDED), "the critical task healed", 30)
    await until(lambda: converged(running.sandbox, 2), "its replacement runs and passes", 60)
    assert (await last_heal(running) or {}).get("task") == healed

    running.hand.armed = spared  # its heal will find it killed by hand already
    await running.sandbox.marathon.set_task_health(spared, False)
    await until(lambda: running.heal_of(spared, Outcome.SKIPPED), "the second heal skipped at the kill", 30)

    heal = await last_heal(running)
    assert heal is not None and (heal["task"], heal["outcome"]) == (healed, "succeeded"), heal
    answered = await run_cli("status", "--controller", running.server, marathon=running.sandbox.marathon_url,
                             consul=str(running.sandbox.consul_url))
    assert answered.code == 0, answered.stderr
    assert healed in answered.stdout and spared not in answered.stdout, answered.stdout

    recorded = await run_cli("status", "--controller", NOBODY, "--database", str(running.store_path),
                             marathon=running.sandbox.marathon_url, consul=str(running.sandbox.consul_url))
    assert recorded.code == 0, recorded.stderr
    assert healed in recorded.stdout and spared not in recorded.stdout, recorded.stdout

