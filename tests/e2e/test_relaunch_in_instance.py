"""A task that fails on its own comes back as its instance's next incarnation: the controller (in process)
against the Marathon + Consul sandbox over loopback HTTP.

Marathon 1.9+ keeps an instance whose task ended while its goal stays Running, lists the ended task
(TASK_FAILED) until the instance relaunches after its backoff, then launches `Task.Id.nextIncarnationFor`
that task in the same instance (core/instance/Instance.isScheduled, core/instance/update/InstanceUpdater.
mesosUpdate, core/launcher/impl/InstanceOpFactoryImpl.inferNormalTaskOp). Consul service ids come from
task ids, so the controller must drop the ended task's registration, register the new incarnation, and
send no heal against either.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from reconciler.consul.client import ConsulClient
from reconciler.core.heal import HealMemory
from reconciler.core.model import Action, ActionKind, Outcome
from reconciler.core.plan import PlanOptions
from reconciler.engine.controller import Controller, ControllerOptions
from reconciler.engine.cycle import CycleOptions, CycleResult, Reconciler
from reconciler.engine.execute import ExecuteOptions, execute_plan
from reconciler.engine.sync import SyncRequest, sync
from reconciler.engine.triggers import consul_health_changes, marathon_events
from reconciler.marathon import MarathonClient
from reconciler.sandbox.stack import Sandbox
from reconciler.spec import load_desired
from tests.e2e.healing_shop import fast_sandbox, passing_tasks, running_tasks
from tests.sandbox.marathon.fixtures import until

pytestmark = pytest.mark.slow

# Marathon waits backoffSeconds before it relaunches a failed task's instance: 400 s at the sandbox's
# 1/100 pace is 4 s, long enough for the controller to see the ended task listed.
SPEC = """apiVersion: reconciler/v1
kind: Environment
name: shop
apps:
  web:
    cmd: serve
    instances: 2
    cpus: 0.1
    mem: 32
    ports: [{name: http}]
    backoff: {seconds: 400s, maxLaunchDelay: 600s}
    healthChecks: [{protocol: HTTP, path: /, portIndex: 0, gracePeriodSeconds: 0, intervalSeconds: 1,
                    timeoutSeconds: 1, maxConsecutiveFailures: 0}]
    heal: {criticalFor: 1, backoff: 0.3, maxUnavailable: 1}
"""


@dataclass
class Running:
    sandbox: Sandbox
    executed: list[Action] = field(default_factory=list)

    def record(self, result: CycleResult) -> None:
        if result.execution:
            self.executed.extend(result.execution.actions)

    def done(self, kind: ActionKind) -> list[Action]:
        return [a for a in self.executed if a.kind == kind and a.outcome == Outcome.SUCCEEDED]

    async def listed(self) -> dict[str, str]:
        """Every task Marathon lists for web, with its state."""
        async with httpx.AsyncClient(base_url=self.sandbox.marathon_url) as client:
            tasks = (await client.get("/v2/apps/shop/web/tasks")).json()["tasks"]
        return {t["id"]: t["state"] for t in tasks}

    async def registered(self) -> set[str]:
        """The task ids of web's instances in Consul's catalog, passing or not."""
        async with httpx.AsyncClient(base_url=str(self.sandbox.consul_url)) as client:
            entries = (await client.get("/v1/catalog/service/web")).json()
        return {e["ServiceMeta"]["marathon-task-id"] for e in entries}

    async def converged_on(self, tasks: set[str]) -> bool:
        return set(await running_tasks(self.sandbox)) == tasks and await passing_tasks(self.sandbox) == tasks


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "shop.yaml").write_text(SPEC)
    async with contextlib.AsyncExitStack() as stack:
        sandbox = await stack.enter_async_context(Sandbox(fast_sandbox()))
        marathon = await stack.enter_async_context(MarathonClient(sandbox.marathon_url))
        consul = await stack.enter_async_context(ConsulClient(str(sandbox.consul_url), retries=1, timeout=2.0))
        reconciler = Reconciler(lambda: load_desired(tmp_path / "specs"), marathon, consul,
                                CycleOptions(plan=PlanOptions()))
        state = Running(sandbox)
        controller = Controller(
            reconciler.cycle,
            ControllerOptions(resync_seconds=0.5, retry_seconds=0.2),
            sources=(lambda: marathon_events(marathon), lambda: consul_health_changes(consul, wait="2s")),
            on_cycle=state.record,
        )
        loop_task = asyncio.create_task(controller.run())
        try:
            await until(lambda: _two_passing(state), "web runs two tasks passing in Consul", timeout=30)
            yield state
        finally:
            controller.stop()
            await asyncio.wait_for(loop_task, 30)


async def _two_passing(state: Running) -> bool:
    tasks = await running_tasks(state.sandbox)
    return len(tasks) == 2 and await passing_tasks(state.sandbox) == set(tasks)


def held(host: str, port: int) -> socket.socket:
    """A listener outside the sandbox on the task's port, as another process on the agent would hold it."""
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind((host, port))
    holder.listen()
    return holder


async def test_a_task_failing_on_its_own_is_deregistered_and_its_next_incarnation_registered(
    running: Running,
) -> None:
    victim, bystander = await running_tasks(running.sandbox)
    with contextlib.closing(await fail_on_its_own(running.sandbox, victim)):
        assert await running.listed() == {victim: "TASK_FAILED", bystander: "TASK_RUNNING"}

        await until(lambda: _deregistered(running, victim), "the failed task's registration removed", 15)
        [dropped] = [a for a in running.done(ActionKind.DEREGISTER) if victim in a.target]
        assert dropped.reason == f"task {victim} is TASK_FAILED"
        # Still within Marathon's backoff: the instance waits with its failed task, nothing else started.
        assert await running.listed() == {victim: "TASK_FAILED", bystander: "TASK_RUNNING"}

        instance, _, _ = victim.rpartition("._app.")
        relaunched = f"{instance}._app.2"
        await until(lambda: running.converged_on({bystander, relaunched}), "the next incarnation passing", 30)
    assert await running.listed() == {bystander: "TASK_RUNNING", relaunched: "TASK_RUNNING"}
    assert await running.registered() == {bystander, relaunched}
    registered = [a.target for a in running.done(ActionKind.REGISTER) if instance in a.target]
    assert [target for target in registered if target != victim] == [relaunched]
    assert [a for a in running.executed if a.kind == ActionKind.KILL_TASK] == []


async def _deregistered(running: Running, task_id: str) -> bool:
    return task_id not in await running.registered()


async def fail_on_its_own(sandbox: Sandbox, task_id: str) -> socket.socket:
    """The task stops answering, and when it would answer again its port is taken: it fails (TASK_FAILED).
    Returns the listener holding the port (close it to free the port)."""
    async with httpx.AsyncClient(base_url=sandbox.marathon_url) as client:
        [task] = [t for t in (await client.get("/v2/apps/shop/web/tasks")).json()["tasks"] if t["id"] == task_id]
    await sandbox.marathon.set_task_health(task_id, False)
    holder = held(task["host"], task["ports"][0])
    await sandbox.marathon.set_task_health(task_id, True)
    return holder


async def test_a_heal_decided_before_its_task_failed_on_its_own_never_reaches_the_next_incarnation(
    tmp_path: Path,
) -> None:
    # The heal was planned on the task critical in Consul; before it goes out the task fails on its own.
    # TasksResource.killTasks would turn the old id into its instance, whose next incarnation runs once
    # the backoff is over: the kill must not go out, neither while Marathon lists the failed task nor after.
    (tmp_path / "shop.yaml").write_text(SPEC)
    desired = load_desired(tmp_path)
    async with contextlib.AsyncExitStack() as stack:
        sandbox = await stack.enter_async_context(Sandbox(fast_sandbox()))
        marathon = await stack.enter_async_context(MarathonClient(sandbox.marathon_url))
        consul = await stack.enter_async_context(ConsulClient(str(sandbox.consul_url), retries=1, timeout=5.0))
        deploy = ExecuteOptions(wait=True, timeout=60.0, poll_interval=0.05)
        await sync(SyncRequest(desired, PlanOptions(), deploy, strict=False), marathon, consul)
        state = Running(sandbox)
        await until(lambda: _two_passing(state), "web runs two tasks passing in Consul", timeout=30)
        victim, bystander = await running_tasks(sandbox)
        await sandbox.marathon.set_task_health(victim, False)
        await until(lambda: _not_passing(sandbox, victim), "the victim critical in Consul", 15)
        now = time.monotonic()
        request = SyncRequest(desired, PlanOptions(), memory=HealMemory(critical_since={victim: now - 60}),
                              clock=lambda: now, dry_run=True)
        plan = (await sync(request, marathon, consul)).plan
        assert [a.target for a in plan.pending if a.kind == ActionKind.KILL_TASK] == [victim]

        with contextlib.closing(await fail_on_its_own(sandbox, victim)):
            assert await state.listed() == {victim: "TASK_FAILED", bystander: "TASK_RUNNING"}
            execution = await execute_plan(plan, marathon, ExecuteOptions(wait=False))
            [kill] = [a for a in execution.actions if a.kind == ActionKind.KILL_TASK]
            assert (kill.outcome, kill.detail) == (Outcome.SKIPPED, "not killed: the task is TASK_FAILED now")

            relaunched = victim.removesuffix("._app.1") + "._app.2"
            await until(lambda: _runs(sandbox, relaunched), "the next incarnation running", 30)
            execution = await execute_plan(plan, marathon, ExecuteOptions(wait=False))
            [kill] = [a for a in execution.actions if a.kind == ActionKind.KILL_TASK]
            assert kill.outcome == Outcome.SKIPPED and "the task is gone" in kill.detail
        assert await running_tasks(sandbox) == sorted([bystander, relaunched])


async def _not_passing(sandbox: Sandbox, task_id: str) -> bool:
    return task_id not in await passing_tasks(sandbox)


async def _runs(sandbox: Sandbox, task_id: str) -> bool:
    return task_id in await running_tasks(sandbox)
