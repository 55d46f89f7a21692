"""A heal decided on one observation and sent after Marathon replaced the task: the Marathon + Consul
sandbox over loopback HTTP, the sync and the executor as the controller runs them.

Marathon kills instances: `POST /v2/tasks/delete` turns each id into its instance
(TasksResource.killTasks: `Task.Id.parse(id).instanceId`), and a replaced task's instance runs on as
its next incarnation (InstanceOpFactoryImpl: `Task.Id.nextIncarnationFor`, `<instance>._app.2`). So a
kill of the task observed critical, sent once its replacement runs, would kill the healthy replacement.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from reconciler.consul.client import ConsulClient
from reconciler.core.heal import HealMemory
from reconciler.core.model import ActionKind, Desired, Outcome, Plan
from reconciler.core.outcomes import LANDED, NOT_SEEN
from reconciler.core.plan import PlanOptions
from reconciler.engine.execute import ExecuteOptions, execute_plan
from reconciler.engine.sync import SyncRequest, sync
from reconciler.marathon import MarathonClient
from reconciler.sandbox.stack import Sandbox
from reconciler.spec import load_desired
from tests.e2e.healing_shop import converged, fast_sandbox, passing_tasks, running_tasks, shop_spec
from tests.sandbox.marathon.fixtures import until

pytestmark = pytest.mark.slow


@dataclass
class Shop:
    sandbox: Sandbox
    marathon: MarathonClient
    consul: ConsulClient
    desired: Desired


@pytest.fixture
async def shop(tmp_path: Path) -> AsyncIterator[Shop]:
    (tmp_path / "shop.yaml").write_text(shop_spec("v1", instances=2))
    async with contextlib.AsyncExitStack() as stack:
        sandbox = await stack.enter_async_context(Sandbox(fast_sandbox()))
        marathon = await stack.enter_async_context(MarathonClient(sandbox.marathon_url))
        consul = await stack.enter_async_context(ConsulClient(str(sandbox.consul_url), retries=1, timeout=5.0))
        state = Shop(sandbox, marathon, consul, load_desired(tmp_path))
        deploy = SyncRequest(state.desired, PlanOptions(), ExecuteOptions(wait=True, timeout=60.0, poll_interval=0.05),
                             strict=False)
        await sync(deploy, marathon, consul)
        await until(lambda: converged(sandbox, 2), "the shop runs two tasks passing in Consul", 30)
        yield state


async def heal_plan(shop: Shop, victim: str) -> Plan:
    """The plan a controller makes of the victim critical in Consul for a minute already: its kill."""
    await shop.sandbox.marathon.set_task_health(victim, False)
    await until(lambda: _not_passing(shop, victim), "the victim critical in Consul", 15)
    now = time.monotonic()
    request = SyncRequest(shop.desired, PlanOptions(), memory=HealMemory(critical_since={victim: now - 60}),
                          clock=lambda: now, dry_run=True)
    plan = (await sync(request, shop.marathon, shop.consul)).plan
    [kill] = [a for a in plan.pending if a.kind == ActionKind.KILL_TASK]
    assert kill.target == victim and kill.body == {"scale": False}
    return plan


async def _not_passing(shop: Shop, task_id: str) -> bool:
    return task_id not in await passing_tasks(shop.sandbox)


def next_incarnation(task_id: str) -> str:
    instance, _, number = task_id.rpartition("._app.")
    return f"{instance}._app.{int(number) + 1}"


async def test_a_heal_of_a_task_replaced_since_the_observation_spares_the_replacement(shop: Shop) -> None:
    victim, bystander = await running_tasks(shop.sandbox)
    plan = await heal_plan(shop, victim)
    # Between the observation and the kill, Marathon replaces the victim (here: someone's kill;
    # Marathon's own health checks do the same) in the same instance, as its next incarnation.
    async with httpx.AsyncClient(base_url=shop.sandbox.marathon_url) as client:
        killed = await client.delete(f"/v2/apps/shop/web/tasks/{victim}", params={"scale": "false"})
        assert killed.status_code == 200
    replacement = next_incarnation(victim)
    await until(lambda: _runs(shop, replacement), "the replacement runs in the victim's instance", 15)

    execution = await execute_plan(plan, shop.marathon, ExecuteOptions(wait=False))

    [kill] = [a for a in execution.actions if a.kind == ActionKind.KILL_TASK]
    assert kill.outcome == Outcome.SKIPPED
    assert "the task is gone" in kill.detail and "not killed" in kill.detail
    assert await running_tasks(shop.sandbox) == sorted([bystander, replacement])


async def test_a_heal_of_a_task_still_running_is_sent(shop: Shop) -> None:
    victim, bystander = await running_tasks(shop.sandbox)
    plan = await heal_plan(shop, victim)

    execution = await execute_plan(plan, shop.marathon, ExecuteOptions(wait=False))

    [kill] = [a for a in execution.actions if a.kind == ActionKind.KILL_TASK]
    assert kill.outcome == Outcome.SUCCEEDED, kill.detail
    await until(lambda: _runs(shop, next_incarnation(victim)), "the victim replaced in its instance", 15)
    assert bystander in await running_tasks(shop.sandbox)


async def test_a_heal_is_not_sent_when_the_app_s_tasks_cannot_be_read_again(shop: Shop) -> None:
    victim, bystander = await running_tasks(shop.sandbox)
    plan = await heal_plan(shop, victim)
    shop.sandbox.marathon.fail_every(1, 500)  # Marathon answers 500 from now on
    try:
        execution = await execute_plan(plan, shop.marathon, ExecuteOptions(wait=False))
    finally:
        shop.sandbox.marathon.reset_faults()

    [kill] = [a for a in execution.actions if a.kind == ActionKind.KILL_TASK]
    assert kill.outcome == Outcome.SKIPPED
    assert "could not be read again" in kill.detail
    assert await running_tasks(shop.sandbox) == sorted([victim, bystander])


async def _runs(shop: Shop, task_id: str) -> bool:
    return task_id in await running_tasks(shop.sandbox)


async def test_a_heal_is_not_sent_into_a_deployment_of_its_app_started_since_the_observation(
    shop: Shop, tmp_path: Path
) -> None:
    """The observation showed no deployment of the app, so the heal was planned beside the app's update;
    the update's deployment (here the same plan's) replaces tasks by its own upgrade strategy, and the
    documented guard holds: no kill while a deployment of the app runs."""
    victim, bystander = await running_tasks(shop.sandbox)
    await shop.sandbox.marathon.set_task_health(victim, False)
    await until(lambda: _not_passing(shop, victim), "the victim critical in Consul", 15)
    (tmp_path / "shop.yaml").write_text(shop_spec("v2", instances=2))
    shop.sandbox.marathon.freeze_deployments()  # the rolling update stays under way
    now = time.monotonic()
    request = SyncRequest(load_desired(tmp_path), PlanOptions(), ExecuteOptions(wait=False),
                          memory=HealMemory(critical_since={victim: now - 60}), clock=lambda: now)
    result = await sync(request, shop.marathon, shop.consul)

    assert result.execution is not None
    done = {a.kind: a for a in result.execution.actions if a.kind in (ActionKind.UPDATE, ActionKind.KILL_TASK)}
    assert done[ActionKind.UPDATE].outcome == Outcome.SUCCEEDED
    kill = done[ActionKind.KILL_TASK]
    assert kill.target == victim and kill.outcome == Outcome.SKIPPED
    assert "a deployment of the app runs" in kill.detail
    assert result.memory.heals == {}  # no kill sent: no backoff started, no heal toward a crash loop
    assert await running_tasks(shop.sandbox) == sorted([victim, bystander])


class KillAnswerLost(httpx.AsyncBaseTransport):
    """Loopback HTTP, but the answer of every `POST /v2/tasks/delete` is lost: after Marathon acted on it
    (`reaches`), or on its way (Marathon never saw it): a read timeout either way."""

    def __init__(self, reaches: bool) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.reaches = reaches

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/v2/tasks/delete":
            if self.reaches:
                response = await self._inner.handle_async_request(request)
                await response.aread()
                await response.aclose()
            raise httpx.ReadTimeout("the answer never came", request=request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.mark.parametrize("reaches", [False, True])
async def test_a_heal_whose_answer_was_lost_is_settled_by_whether_its_task_still_runs(
    shop: Shop, reaches: bool
) -> None:
    """A kill sent and not answered is UNKNOWN; the fresh observation settles it. The heal that was just
    recorded holds the fresh plan's kill back (backoff): held back is still needed, never 'landed'."""
    victim, bystander = await running_tasks(shop.sandbox)
    await shop.sandbox.marathon.set_task_health(victim, False)
    await until(lambda: _not_passing(shop, victim), "the victim critical in Consul", 15)
    now = time.monotonic()
    request = SyncRequest(shop.desired, PlanOptions(), ExecuteOptions(wait=False),
                          memory=HealMemory(critical_since={victim: now - 60}), clock=lambda: now)
    async with MarathonClient(shop.sandbox.marathon_url, transport=KillAnswerLost(reaches)) as marathon:
        result = await sync(request, marathon, shop.consul)

    assert result.execution is not None
    [kill] = [a for a in result.execution.actions if a.kind == ActionKind.KILL_TASK]
    if reaches:
        assert (kill.outcome, kill.detail) == (Outcome.SUCCEEDED, LANDED)
        await until(lambda: _runs(shop, next_incarnation(victim)), "the victim replaced in its instance", 15)
    else:
        assert kill.outcome == Outcome.UNKNOWN and kill.detail.endswith(NOT_SEEN)
        assert await running_tasks(shop.sandbox) == sorted([victim, bystander])


class KillAnswers500(httpx.AsyncBaseTransport):
    """Loopback HTTP, but Marathon answers every `POST /v2/tasks/delete` with a 500 (and kills nothing)."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/v2/tasks/delete":
            return httpx.Response(500, json={"message": "An unexpected server error occurred."}, request=request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_a_heal_marathon_answers_500_to_is_failed_not_retried_and_counted(shop: Shop) -> None:
    """docs/healing.md, what counts as a heal: a failed kill is sent once, and holds the next one back."""
    victim, bystander = await running_tasks(shop.sandbox)
    await shop.sandbox.marathon.set_task_health(victim, False)
    await until(lambda: _not_passing(shop, victim), "the victim critical in Consul", 15)
    now = time.monotonic()
    request = SyncRequest(shop.desired, PlanOptions(), ExecuteOptions(wait=False),
                          memory=HealMemory(critical_since={victim: now - 60}), clock=lambda: now)
    sent: list[str] = []
    async with MarathonClient(shop.sandbox.marathon_url, transport=KillAnswers500(),
                              on_request=lambda method, path: sent.append(f"{method} {path}")) as marathon:
        result = await sync(request, marathon, shop.consul)

    assert result.execution is not None
    [kill] = [a for a in result.execution.actions if a.kind == ActionKind.KILL_TASK]
    assert kill.outcome == Outcome.FAILED and "500" in kill.detail
    assert sent.count("POST /v2/tasks/delete") == 1
    assert result.memory.heals == {"/shop/web": (now,)}
    assert await running_tasks(shop.sandbox) == sorted([victim, bystander])


async def test_a_heal_of_an_app_taken_over_since_the_observation_is_not_sent(shop: Shop) -> None:
    """The reconciler acts on the apps it owns alone (its `reconciler.managed-by` label). Between the
    observation and the kill, someone takes the app over: their update drops the label, and the deployment
    it starts is cancelled with `force=true` (DeploymentsResource.cancel: "do not create a new deployment
    to return to the previous state"), so the old tasks run on under the new definition and no deployment
    of the app runs. The read before the kill is `GET /v2/apps/{app}`, which embeds the app's tasks
    whatever `embed` says (AppsResource.show: Counts, Tasks, LastTaskFailure, Deployments "for
    compatibility")."""
    victim, bystander = await running_tasks(shop.sandbox)
    plan = await heal_plan(shop, victim)
    shop.sandbox.marathon.freeze_deployments()
    async with httpx.AsyncClient(base_url=shop.sandbox.marathon_url) as client:
        taken = await client.put("/v2/apps/shop/web", json={"labels": {"owner": "team-b"}})
        assert taken.status_code == 200, taken.text
        stopped = await client.delete(f"/v2/deployments/{taken.json()['deploymentId']}", params={"force": "true"})
        assert stopped.status_code == 202, stopped.text
        labels = (await client.get("/v2/apps/shop/web")).json()["app"]["labels"]
    shop.sandbox.marathon.freeze_deployments(False)
    assert labels == {"owner": "team-b"}

    execution = await execute_plan(plan, shop.marathon, ExecuteOptions(wait=False))

    [kill] = [a for a in execution.actions if a.kind == ActionKind.KILL_TASK]
    assert kill.outcome == Outcome.SKIPPED
    assert "no longer the reconciler's" in kill.detail and "reconciler.managed-by" in kill.detail
    assert await running_tasks(shop.sandbox) == sorted([victim, bystander])
