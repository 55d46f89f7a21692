"""The kill budget of an app healing with `backoff: 0`: a kill sent and not yet seen gone still takes its
share of `maxUnavailable`. The Marathon + Consul sandbox over loopback HTTP, two syncs as two controller
cycles one after the other (no backoff holds the second back).

Marathon answers `POST /v2/tasks/delete` once it handed the kill to its kill service (TasksResource.killTasks,
TaskKiller.kill), before Mesos reports the task TASK_KILLING, and the task stays listed TASK_KILLING
for as long as its executor's grace period lasts: the next observation may show the killed task
running still, or killing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from reconciler.consul.client import ConsulClient
from reconciler.core.heal import HealMemory
from reconciler.core.model import Action, ActionKind, Desired, Outcome, TaskState
from reconciler.core.plan import PlanOptions
from reconciler.engine.execute import ExecuteOptions
from reconciler.engine.sync import SyncRequest, SyncResult, sync
from reconciler.marathon import MarathonClient
from reconciler.sandbox.consul import ConsulSandboxConfig
from reconciler.sandbox.stack import Sandbox
from reconciler.spec import load_desired
from tests.e2e.healing_shop import converged, fast_sandbox, passing_tasks, running_tasks, shop_spec
from tests.sandbox.marathon.fixtures import until

pytestmark = pytest.mark.slow

KILL_DELAY_MS = 30_000  # far longer than a test: the killed task stays TASK_KILLING throughout


@dataclass
class Shop:
    sandbox: Sandbox
    consul: ConsulClient
    desired: Desired


@contextlib.asynccontextmanager
async def shop_of(tmp_path: Path, kill_delay_ms: int, check_scale: float | None = None) -> AsyncIterator[Shop]:
    """Three web tasks healing after 1 s critical, one at a time (`maxUnavailable: 1`), with no backoff.
    `check_scale`: Consul's checks, and its reaper, at that fraction of their nominal pace."""
    (tmp_path / "shop.yaml").write_text(shop_spec("v1", instances=3).replace("backoff: 0.3", "backoff: 0"))
    config = fast_sandbox()
    config = replace(config, marathon=replace(config.marathon, kill_delay_ms=kill_delay_ms))
    if check_scale is not None:
        config = replace(config, consul=ConsulSandboxConfig(check_interval_scale=check_scale))
    async with contextlib.AsyncExitStack() as stack:
        sandbox = await stack.enter_async_context(Sandbox(config))
        marathon = await stack.enter_async_context(MarathonClient(sandbox.marathon_url))
        consul = await stack.enter_async_context(ConsulClient(str(sandbox.consul_url), retries=1, timeout=5.0))
        shop = Shop(sandbox, consul, load_desired(tmp_path))
        deploy = SyncRequest(shop.desired, PlanOptions(), ExecuteOptions(wait=True, timeout=60.0, poll_interval=0.05),
                             strict=False)
        await sync(deploy, marathon, consul)
        await until(lambda: converged(sandbox, 3), "the shop runs three tasks passing in Consul", 30)
        yield shop


async def critical(shop: Shop, *tasks: str) -> None:
    for task in tasks:
        await shop.sandbox.marathon.set_task_health(task, False)
    await until(lambda: _none_passing(shop, tasks), f"{', '.join(tasks)} critical in Consul", 15)


async def _none_passing(shop: Shop, tasks: tuple[str, ...]) -> bool:
    return not set(tasks) & await passing_tasks(shop.sandbox)


async def cycle(shop: Shop, marathon: MarathonClient, memory: HealMemory, now: float) -> SyncResult:
    """One controller cycle at `now`, carrying the heal memory of the one before."""
    request = SyncRequest(shop.desired, PlanOptions(), ExecuteOptions(wait=False), memory=memory, clock=lambda: now)
    return await sync(request, marathon, shop.consul)


def kills(result: SyncResult) -> dict[str, Action]:
    actions = result.execution.actions if result.execution is not None else result.plan.actions
    return {a.target: a for a in actions if a.kind == ActionKind.KILL_TASK}


async def listed(shop: Shop) -> dict[str, str]:
    """Every task of web Marathon lists, with its state."""
    async with httpx.AsyncClient(base_url=shop.sandbox.marathon_url) as client:
        tasks = (await client.get("/v2/apps/shop/web/tasks")).json()["tasks"]
    return {t["id"]: t["state"] for t in tasks}


async def test_a_task_killing_still_holds_the_kill_budget(tmp_path: Path) -> None:
    """The first cycle kills A (the budget: one); A stays TASK_KILLING. The second cycle, right after it,
    must not kill B while Marathon still lists A, whether or not a task already runs in A's place."""
    async with shop_of(tmp_path, KILL_DELAY_MS) as shop, MarathonClient(shop.sandbox.marathon_url) as marathon:
        a, b, _ = await running_tasks(shop.sandbox)
        await critical(shop, a, b)
        now = time.monotonic()
        first = await cycle(shop, marathon, HealMemory(critical_since={a: now - 60, b: now - 59}), now)
        assert kills(first)[a].outcome == Outcome.SUCCEEDED, kills(first)[a].detail
        assert kills(first)[b].outcome == Outcome.REFUSED
        # Marathon has settled what it does with A's instance meanwhile: nothing staging, nothing queued.
        await until(lambda: _settled_while_killing(shop, a), "A killing, nothing waiting to launch", 15)

        second = await cycle(shop, marathon, first.memory, now + 0.5)

        assert (await listed(shop))[a] == TaskState.KILLING
        kill = kills(second)[b]
        assert kill.outcome == Outcome.REFUSED, kill.detail
        assert "kill budget of the app used up" in kill.reason and "still listed by Marathon" in kill.reason
        assert a not in kills(second)  # a task being killed is not killed again
        assert b in await running_tasks(shop.sandbox)
        assert second.memory.heals == {"/shop/web": (now,)}


async def _settled_while_killing(shop: Shop, task: str) -> bool:
    tasks = await listed(shop)
    async with httpx.AsyncClient(base_url=shop.sandbox.marathon_url) as client:
        queue = (await client.get("/v2/queue")).json()["queue"]
    return tasks.get(task) == TaskState.KILLING and TaskState.STAGING not in tasks.values() and not queue


class KillsLandLate(httpx.AsyncBaseTransport):
    """Loopback HTTP, but a `POST /v2/tasks/delete` is answered at once and reaches Marathon only at
    `land()`: Marathon answered the kill and has not reported the task killing yet."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.held: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/v2/tasks/delete":
            await request.aread()
            self.held.append(request)
            return httpx.Response(200, json={"tasks": []}, request=request)
        return await self._inner.handle_async_request(request)

    async def land(self) -> None:
        for request in self.held:
            response = await self._inner.handle_async_request(request)
            await response.aread()
            await response.aclose()
        self.held.clear()

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_a_kill_not_yet_seen_holds_the_kill_budget(tmp_path: Path) -> None:
    """The first cycle kills A; Marathon still lists A running (the kill not seen yet), and A even passes
    its checks again meanwhile. The second cycle must not kill B: A's kill takes the one instance the
    budget allows, until Marathon no longer lists A."""
    late = KillsLandLate()
    async with shop_of(tmp_path, 0) as shop, MarathonClient(shop.sandbox.marathon_url, transport=late) as marathon:
        a, b, c = await running_tasks(shop.sandbox)
        await critical(shop, a, b)
        now = time.monotonic()
        first = await cycle(shop, marathon, HealMemory(critical_since={a: now - 60, b: now - 59}), now)
        assert kills(first)[a].outcome == Outcome.SUCCEEDED and len(late.held) == 1
        await shop.sandbox.marathon.set_task_health(a, True)
        await until(lambda: _passing(shop, a), "A passing again in Consul", 15)

        second = await cycle(shop, marathon, first.memory, now + 0.5)

        kill = kills(second)[b]
        assert kill.outcome == Outcome.REFUSED, kill.detail
        assert "still listed by Marathon" in kill.reason
        assert len(late.held) == 1  # nothing more sent
        assert sorted(await running_tasks(shop.sandbox)) == sorted([a, b, c])
        await late.land()
        await until(lambda: _gone(shop, a), "A killed once its kill lands", 15)
        third = await cycle(shop, marathon, second.memory, now + 1.0)
        assert a not in third.memory.killed  # seen gone: its share of the budget is free again


async def _passing(shop: Shop, task: str) -> bool:
    return task in await passing_tasks(shop.sandbox)


async def _gone(shop: Shop, task: str) -> bool:
    return task not in await listed(shop)
