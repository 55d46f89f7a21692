"""Self-healing end to end: the controller (in process) against the Marathon + Consul sandbox.

Consul's checks really probe the simulated tasks' listeners; Marathon's own health checks never kill
(maxConsecutiveFailures 0), so every replacement seen here is a heal the controller sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from reconciler.cli.status_view import status_table
from reconciler.consul.client import ConsulClient
from reconciler.core.model import Action, ActionKind, Outcome, TaskState
from reconciler.core.plan import PlanOptions
from reconciler.engine.controller import Controller, ControllerOptions
from reconciler.engine.cycle import CycleOptions, CycleResult, Reconciler
from reconciler.engine.triggers import consul_health_changes, marathon_events
from reconciler.marathon import MarathonClient
from reconciler.sandbox.consul import ConsulSandboxConfig
from reconciler.sandbox.stack import Sandbox, SandboxConfig
from reconciler.spec import load_desired
from tests.sandbox.marathon.fixtures import fast_config, until

pytestmark = pytest.mark.slow

CRITICAL_FOR = 1.0
CHECK = (
    "healthChecks: [{protocol: HTTP, path: /, portIndex: 0, gracePeriodSeconds: 0, intervalSeconds: 1,"
    " timeoutSeconds: 1, maxConsecutiveFailures: 0}]"
)
SPEC = f"""
apiVersion: reconciler/v1
kind: Environment
name: shop
apps:
  web:
    cmd: serve
    instances: 4
    cpus: 0.1
    mem: 32
    ports: [{{name: http}}]
    {CHECK}
    heal: {{criticalFor: {CRITICAL_FOR}, backoff: 0.3, maxUnavailable: 1}}
  flaky:
    cmd: serve
    cpus: 0.1
    mem: 32
    ports: [{{name: http}}]
    {CHECK}
    heal: {{criticalFor: 0.2, backoff: 0.1, crashLoop: {{heals: 3, window: 60}}}}
"""


@dataclass
class Running:
    """The sandbox, the controller running against it, and every action the controller executed."""

    sandbox: Sandbox
    specs: Path
    controller: Controller | None = None
    executed: list[Action] = field(default_factory=list)
    results: list[CycleResult] = field(default_factory=list)
    ended: list[float] = field(default_factory=list)  # time.monotonic() when each result came in

    def done(self, kind: ActionKind, target_prefix: str = "") -> list[Action]:
        return [
            a for a in self.executed
            if a.kind == kind and a.outcome == Outcome.SUCCEEDED and a.target.startswith(target_prefix)
        ]

    def record(self, result: CycleResult) -> None:
        self.results.append(result)
        self.ended.append(time.monotonic())
        if result.execution:
            self.executed.extend(result.execution.actions)

    async def tasks(self, app_id: str) -> list[str]:
        async with httpx.AsyncClient(base_url=self.sandbox.marathon_url) as client:
            response = await client.get(f"/v2/apps{app_id}/tasks")
        tasks = response.json().get("tasks", []) if response.status_code == 200 else []
        return sorted(t["id"] for t in tasks if t["state"] == TaskState.RUNNING)

    async def passing(self, service: str) -> set[str]:
        async with httpx.AsyncClient(base_url=str(self.sandbox.consul_url)) as client:
            entries = (await client.get(f"/v1/health/service/{service}", params={"passing": "true"})).json()
        return {e["Service"]["Meta"]["marathon-task-id"] for e in entries}

    async def converged(self) -> bool:
        web, flaky = await self.tasks("/shop/web"), await self.tasks("/shop/flaky")
        return len(web) == 4 and len(flaky) == 1 and await self.passing("web") == set(web)


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "shop.yaml").write_text(SPEC)
    config = SandboxConfig(
        marathon=fast_config(keep_event_history=False, seconds_scale=0.01),
        # Checks at a quarter of their length: the critical-service reaper (DeregisterCriticalServiceAfter,
        # 60 s at the least) then takes 15 s, far beyond any heal window here even on a loaded machine; at
        # 0.05 it took 3 s and could remove a victim before a slow cycle judged it overdue.
        consul=ConsulSandboxConfig(check_interval_scale=0.25),
    )
    async with contextlib.AsyncExitStack() as stack:
        sandbox = await stack.enter_async_context(Sandbox(config))
        marathon = await stack.enter_async_context(MarathonClient(sandbox.marathon_url))
        consul = await stack.enter_async_context(ConsulClient(str(sandbox.consul_url), retries=1, timeout=2.0))
        reconciler = Reconciler(lambda: load_desired(tmp_path / "specs"), marathon, consul,
                                CycleOptions(plan=PlanOptions()))
        state = Running(sandbox, tmp_path / "specs")
        controller = state.controller = Controller(
            reconciler.cycle,
            ControllerOptions(resync_seconds=0.5, retry_seconds=0.2),
            sources=(lambda: marathon_events(marathon), lambda: consul_health_changes(consul, wait="2s")),
            on_cycle=state.record,
        )
        loop_task = asyncio.create_task(controller.run())
        try:
            await until(state.converged, "the shop converged with every task passing in Consul", timeout=30)
            yield state
        finally:
            controller.stop()
            await asyncio.wait_for(loop_task, 30)


async def test_a_failing_check_is_healed_by_the_first_cycle_past_the_grace_window(running: Running) -> None:
    """Judged by the cycles, not by a deadline a loaded machine misses (how soon after the window a
    cycle comes is a figure of tests/bench/bench_heal.py): a cycle that starts once the victim has
    been seen critical for the window kills it, unless one before it already did."""
    victim = (await running.tasks("/shop/web"))[0]
    versions_before = await _version(running, "/shop/web")
    mark = len(running.results)
    await running.sandbox.marathon.set_task_health(victim, False)
    await until(lambda: any(a.target == victim for a in running.done(ActionKind.KILL_TASK)), "victim killed", 60)
    cycles = list(enumerate(running.results))[mark:]

    def acted_on_victim(result: CycleResult, *kinds: ActionKind) -> bool:
        return any(a.target == victim and a.kind in kinds for a in (result.plan.actions if result.plan else ()))

    first_seen = next(i for i, r in cycles if acted_on_victim(r, ActionKind.WARN, ActionKind.KILL_TASK))
    killed = next(i for i, r in cycles if acted_on_victim(r, ActionKind.KILL_TASK))
    # Seen critical at that cycle's observation, so by its end at the latest: a cycle starting CRITICAL_FOR
    # after that end observes the window over.
    due = running.ended[first_seen] + CRITICAL_FOR
    past_window = next((i for i, r in cycles if running.ended[i] - r.seconds >= due), None)
    assert past_window is None or killed <= past_window, [
        (r.cycle_id, r.trigger, round(running.ended[i] - r.seconds - due, 3)) for i, r in cycles]
    kill = next(a for a in running.done(ActionKind.KILL_TASK) if a.target == victim)
    assert kill.reason.startswith("critical for") and "Marathon launches a replacement" in kill.detail
    await until(running.converged, "a replacement runs and passes", 15)
    assert victim not in await running.tasks("/shop/web")
    assert await _version(running, "/shop/web") == versions_before  # killed with scale=false, no redeploy
    assert len(running.done(ActionKind.KILL_TASK)) == 1


async def test_kills_stay_within_the_budget_when_half_the_instances_are_critical(running: Running) -> None:
    scheduler = running.sandbox.marathon.core.scheduler
    # Replacements take 2.5 s to start: the second victim falls due while the first one's replacement
    # is still staging, so the budget (one instance down at a time) must hold it back.
    scheduler.timings = replace(scheduler.timings, start_delay_ms=2500)
    victims = (await running.tasks("/shop/web"))[:2]
    for victim in victims:
        await running.sandbox.marathon.set_task_health(victim, False)
    await until(lambda: {a.target for a in running.done(ActionKind.KILL_TASK)} >= set(victims), "both healed", 15)
    for result in running.results:
        kills = [a for a in (result.execution.actions if result.execution else ()) if a.kind == ActionKind.KILL_TASK
                 and a.outcome == Outcome.SUCCEEDED]
        assert len(kills) <= 1, f"cycle {result.cycle_id} killed {len(kills)} tasks with a budget of 1"
    refused = [a for r in running.results for a in (r.plan.actions if r.plan else ())
               if a.kind == ActionKind.KILL_TASK and a.outcome == Outcome.REFUSED]
    assert refused and all("not killed" in a.reason for a in refused)
    await until(running.converged, "both replaced", 15)


@pytest.mark.timeout(300)  # three heals and their relaunches, then more cycles, on a loaded machine
async def test_a_crash_looping_app_stops_being_healed_and_shows_in_status(running: Running) -> None:
    async def keep_failing() -> None:  # until the test cancels it, within the bound a loop needs
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for task in await running.tasks("/shop/flaky"):
                task_state = running.sandbox.marathon.state.find_task(task)
                if task_state is not None and task_state.healthy_flag:
                    await running.sandbox.marathon.set_task_health(task, False)
            await asyncio.sleep(0.02)

    failing = asyncio.create_task(keep_failing())
    try:
        await until(lambda: _crash_loop_reported(running), "crash loop reported", 60)
        heals = len(running.done(ActionKind.KILL_TASK, "shop_flaky"))
        assert heals == 3
        await until(lambda: len(running.results) > 3 + _cycles_at(running, heals), "more cycles", 30)
        assert len(running.done(ActionKind.KILL_TASK, "shop_flaky")) == 3
    finally:
        failing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await failing
    last = running.results[-1]
    assert last.plan is not None and last.actual is not None and last.observation is not None
    console = Console(width=200, record=True, no_color=True)
    console.print(status_table(load_desired(running.specs), last.actual, last.observation.consul, last.plan.actions))
    assert "crash-looping" in console.export_text()


async def test_lost_registration_is_repaired_without_a_redeploy(running: Running) -> None:
    task = (await running.tasks("/shop/web"))[0]
    version = await _version(running, "/shop/web")
    async with httpx.AsyncClient(base_url=str(running.sandbox.consul_url)) as client:
        entry = next(e for e in (await client.get("/v1/health/service/web")).json()
                     if e["Service"]["Meta"]["marathon-task-id"] == task)
    service_id = entry["Service"]["ID"]

    def registrations() -> list[Action]:
        return [a for a in running.done(ActionKind.REGISTER) if a.target == service_id]

    first = len(registrations())  # its first registration, when the task started
    # A registration is "lost" when the controller has seen it: wait for a cycle that observed it.
    await until(lambda: _observed_registered(running.results[-1], task), "a cycle that saw the registration", 10)
    agent = f"http://{entry['Node']['Address']}:{running.sandbox.consul.port if running.sandbox.consul else 0}"
    async with httpx.AsyncClient(base_url=agent) as client:
        assert (await client.put(f"/v1/agent/service/deregister/{service_id}")).status_code == 200
    await until(lambda: len(registrations()) > first, "registration repaired", 10)
    assert f"registration of healthy task {task} was lost" in registrations()[-1].reason
    await until(running.converged, "the task passes in Consul again", 10)
    assert await _version(running, "/shop/web") == version
    assert task in await running.tasks("/shop/web")
    assert not running.done(ActionKind.KILL_TASK)


async def test_a_task_being_killed_is_deregistered_before_it_dies(running: Running) -> None:
    scheduler = running.sandbox.marathon.core.scheduler
    scheduler.timings = replace(scheduler.timings, kill_delay_ms=4000)  # SIGTERM grace: 4 s in TASK_KILLING
    victim = (await running.tasks("/shop/web"))[0]
    async with httpx.AsyncClient(base_url=running.sandbox.marathon_url) as client:
        response = await client.delete(f"/v2/apps/shop/web/tasks/{victim}", params={"scale": "false"})
        assert response.status_code == 200
        async def deregistered() -> bool:
            return victim not in await _registered(running)

        await until(deregistered, "the victim's registration gone", 3)
        listed = {t["id"]: t["state"] for t in (await client.get("/v2/apps/shop/web/tasks")).json()["tasks"]}
    assert listed.get(victim) == "TASK_KILLING", "deregistered only after the task had died"

    # Consul saw the deregistration while the cycle that sent it is still running: its actions are
    # recorded only when that cycle returns.
    def deregistrations() -> list[Action]:
        return [a for a in running.done(ActionKind.DEREGISTER) if a.target.endswith(victim)]

    await until(deregistrations, "the cycle that deregistered the victim returned", 10)
    [gone] = deregistrations()
    assert gone.reason == f"task {victim} is being killed: deregistered before it dies"
    await until(running.converged, "a replacement runs and passes", 15)


async def test_consul_down_means_no_heal_and_no_deregistration_until_it_returns(running: Running) -> None:
    assert running.sandbox.consul is not None
    victim, gone = (await running.tasks("/shop/web"))[:2]
    # Consul itself reaps an instance critical past DeregisterCriticalServiceAfter (3 s at this scale),
    # HTTP up or not: pin the gone task's checks to passing, so that only the reconciler can remove it.
    async with httpx.AsyncClient(base_url=str(running.sandbox.consul_url)) as client:
        entries = (await client.get("/v1/catalog/service/web")).json()
    [gone_id] = [e["ServiceID"] for e in entries if e["ServiceMeta"]["marathon-task-id"] == gone]
    for check in running.sandbox.consul.checks_of_service(gone_id):
        running.sandbox.consul.force_check_status(check.check_id, "passing", node=check.node)
    await running.sandbox.consul.stop_http()
    down_from = len(running.executed)
    await running.sandbox.marathon.set_task_health(victim, False)
    running.sandbox.marathon.kill_task(gone)  # its registration must go, but not while Consul is away
    cycles = len(running.results)
    await until(lambda: len(running.results) >= cycles + 3, "three cycles while Consul is down", 15)
    # An absence is asserted over a window: two cycles that ended past the victim's grace window.
    past_grace = time.monotonic() + CRITICAL_FOR + 0.5
    await until(lambda: sum(t > past_grace for t in running.ended) >= 2, "two cycles past the grace window", 20)
    while_down = running.executed[down_from:]
    assert not [a for a in while_down if a.kind in (ActionKind.KILL_TASK, ActionKind.DEREGISTER)
                and a.outcome == Outcome.SUCCEEDED]
    assert any(r.observation and not r.observation.consul.complete for r in running.results[cycles:])

    await running.sandbox.consul.start_http()
    await until(lambda: any(a.target.endswith(gone) or a.target == gone for a in running.done(ActionKind.DEREGISTER)),
                "the gone task deregistered", 15)
    await until(lambda: any(a.target == victim for a in running.done(ActionKind.KILL_TASK)), "victim healed", 15)
    await until(running.converged, "repaired after Consul returned", 15)


async def test_a_consul_agent_down_kills_no_task_on_its_node(running: Running) -> None:
    """Every node's agent unreachable (serfHealth critical): every instance is critical, and no task is."""
    consul = running.sandbox.consul
    assert consul is not None
    nodes = sorted({c.node for c in consul.state.catalog.checks.values() if c.check_id == "serfHealth"})
    tasks = await running.tasks("/shop/web") + await running.tasks("/shop/flaky")
    down_from, cycles = len(running.executed), len(running.results)
    for node in nodes:
        consul.force_check_status("serfHealth", "critical", node=node, output="Agent not live or unreachable")

    async def none_passing() -> bool:
        return not await running.passing("web") and not await running.passing("flaky")

    await until(none_passing, "every instance critical in Consul", 10)
    past_grace = time.monotonic() + CRITICAL_FOR + 0.5
    await until(lambda: sum(t > past_grace for t in running.ended) >= 2, "two cycles past the grace window", 20)
    assert not [a for a in running.executed[down_from:] if a.kind == ActionKind.KILL_TASK]
    warned = {a.target for r in running.results[cycles:] for a in (r.plan.actions if r.plan else ())
              if a.kind == ActionKind.WARN and "Consul agent down" in a.reason}
    assert warned == set(tasks)
    for node in nodes:
        consul.force_check_status("serfHealth", "passing", node=node, output="Agent alive and reachable")
    await until(running.converged, "every task passing again", 15)
    assert sorted(await running.tasks("/shop/web") + await running.tasks("/shop/flaky")) == sorted(tasks)


def _observed_registered(result: CycleResult, task_id: str) -> bool:
    return bool(result.observation and result.observation.consul.instances_of_task(task_id))


async def _registered(running: Running) -> set[str]:
    """Task ids registered in Consul for `web`, passing or not."""
    async with httpx.AsyncClient(base_url=str(running.sandbox.consul_url)) as client:
        entries = (await client.get("/v1/catalog/service/web")).json()
    return {e["ServiceMeta"]["marathon-task-id"] for e in entries}


def _crash_loop_reported(running: Running) -> bool:
    return any(a.kind == ActionKind.WARN and "crash-looping" in a.reason
               for r in running.results[-2:] for a in (r.plan.actions if r.plan else ()))


def _cycles_at(running: Running, heals: int) -> int:
    """How many cycles had run when the app's `heals`-th heal was sent."""
    count = 0
    for position, result in enumerate(running.results):
        actions = result.execution.actions if result.execution else ()
        count += sum(1 for a in actions if a.kind == ActionKind.KILL_TASK and a.outcome == Outcome.SUCCEEDED
                     and a.target.startswith("shop_flaky"))
        if count >= heals:
            return position
    return len(running.results)


async def _version(running: Running, app_id: str) -> str:
    async with httpx.AsyncClient(base_url=running.sandbox.marathon_url) as client:
        return str((await client.get(f"/v2/apps{app_id}")).json()["app"]["version"])
