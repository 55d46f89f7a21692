"""What the autoscaling end-to-end tests share: Marathon's tasks of an app read over HTTP, sampled
through a metrics source, as the decision function's TaskViews through the engine's own conversion
(engine/autoscaling.py task_views; times in wall seconds, the axis the agents' `timestamp` uses)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from reconciler.core.autoscale_metrics import TaskSample, TaskView
from reconciler.core.autoscale_policy import AutoscalePolicy
from reconciler.core.model import Action, Outcome
from reconciler.engine.autoscaling import AppScaling, Autoscaler, AutoscaleSources, task_views
from reconciler.engine.controller import Controller, ControllerOptions
from reconciler.engine.cycle import CycleOptions, CycleResult, Reconciler
from reconciler.marathon import MarathonClient, wire
from reconciler.marathon.translate import to_actual_app
from reconciler.metrics.mesos import MesosStatistics
from reconciler.metrics.sources import TaskRef, TaskSource
from reconciler.sandbox.marathon import MarathonSandbox
from reconciler.spec import load_desired
from reconciler.spec.autoscale import AutoscaleSpec, autoscale_policy
from tests.sandbox.marathon.fixtures import fast_config, until


def policy(block: dict[str, Any]) -> AutoscalePolicy:
    """The policy of a spec's `autoscale` block, through the spec layer."""
    built = autoscale_policy(AutoscaleSpec.model_validate(block))
    assert built is not None
    return built


async def app_tasks(api: httpx.AsyncClient, app_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    app = (await api.get(f"/v2/apps/{app_id.strip('/')}", params={"embed": "app.tasks"})).json()["app"]
    return app, list(app["tasks"])


def views(app: dict[str, Any], tasks: list[dict[str, Any]], samples: Mapping[str, TaskSample]) -> list[TaskView]:
    """Through the Marathon adapter's translation and the engine's conversion, as the controller does."""
    observed = to_actual_app(wire.App.model_validate({**app, "tasks": tasks}))
    return list(task_views(observed, samples))


async def sampled_views(api: httpx.AsyncClient, source: TaskSource, app_id: str) -> list[TaskView]:
    """One sampling of the app's running tasks (a rate needs the source's previous reading)."""
    app, tasks = await app_tasks(api, app_id)
    running = [t for t in tasks if t.get("state") == "TASK_RUNNING"]
    samples = await source.sample([TaskRef(t["id"], t["host"]) for t in running])
    return views(app, tasks, samples)


APP = "/shop/web"


def shop_spec(*, low: int = 2, high: int = 6, behavior: str = "") -> str:
    """shop's web at 1 cpu, autoscaled from `low` to `high` tasks on cpu at 50%, with `behavior` (flow YAML)."""
    spec = f"""apiVersion: reconciler/v1
kind: Environment
name: shop
apps:
  web:
    cmd: serve
    cpus: 1.0
    mem: 128
    autoscale:
      min: {low}
      max: {high}
      metrics: [{{cpu: 50%}}]
"""
    return spec + (f"      behavior: {behavior}\n" if behavior else "")


# One task at most per 10 minutes up: a step the policy let through shows at once.
RATE_LIMITED_SHOP = shop_spec(behavior="{scaleUp: {policies: [{type: Tasks, value: 1, period: 10m}]}}")


def autoscaled_shop(window: str) -> str:
    """shop's web at 1 cpu, autoscaled from 2 to 6 on cpu at 50%, scaling down after `window` of
    stabilization (the app docs/autoscaling.md shows, with its 5s window)."""
    return shop_spec(behavior=f"{{scaleDown: {{stabilizationWindow: {window}}}}}")


TICK = 0.5  # the controller's resync: one tick


@dataclass
class Running:
    """The sandbox, the controller running against it, and what each cycle decided and did."""

    sandbox: MarathonSandbox
    api: httpx.AsyncClient
    results: list[CycleResult] = field(default_factory=list)

    def record(self, result: CycleResult) -> None:
        self.results.append(result)

    def scalings(self, since: int = 0) -> list[AppScaling]:
        return [s for r in self.results[since:] for s in r.autoscale if s.app_id == APP]

    def executed(self, since: int = 0) -> list[Action]:
        return [a for r in self.results[since:] if r.execution for a in r.execution.actions
                if a.outcome == Outcome.SUCCEEDED and (a.target == APP or a.target.startswith("shop_web."))]

    async def running_tasks(self) -> list[dict[str, object]]:
        app = (await self.api.get(f"/v2/apps{APP}", params={"embed": "app.tasks"})).json().get("app") or {}
        return [t for t in app.get("tasks", []) if t["state"] == "TASK_RUNNING"]

    def settled_at(self, count: int) -> bool:
        """At the last cycle: `count` tasks ran, no deployment, and the autoscaler decided from them.
        (Read from the cycles' own observations: polling Marathon here would compete with the sandbox.)"""
        last = next((r for r in reversed(self.results) if r.actual is not None), None)
        app = last.actual.apps.get(APP) if last and last.actual else None
        if last is None or app is None or app.deployment_ids or app.instances != count:
            return False
        running = [t for t in app.tasks if t.state == "TASK_RUNNING"]
        decided = [s for s in last.autoscale if s.app_id == APP and s.decision is not None]
        return len(running) == count and bool(decided)

    async def load(self, cpu: float) -> None:
        response = await self.api.put("/_sandbox/load", json={"app": APP, "cpu": cpu, "mem": 20})
        assert response.status_code == 200, response.text


def _both(first: Callable[[CycleResult], None], then: Callable[[CycleResult], None]) -> Callable[[CycleResult], None]:
    def both(result: CycleResult) -> None:
        first(result)
        then(result)
    return both


@contextlib.asynccontextmanager
async def controller(
    tmp_path: Path, spec: str, tick: float = TICK, also: Callable[[CycleResult], None] | None = None
) -> AsyncIterator[Running]:
    """The Controller (resync every `tick`) running an autoscaling Reconciler against a fresh sandbox
    with the app of `spec` at min (2 tasks) under a 0.4-core load, sampled at least once. `also` sees
    every cycle's result too (a Reporter writing a store)."""
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "shop.yaml").write_text(spec)
    async with contextlib.AsyncExitStack() as stack:
        sandbox = await stack.enter_async_context(MarathonSandbox(fast_config(agents=3, keep_event_history=False)))
        api = await stack.enter_async_context(httpx.AsyncClient(base_url=sandbox.url, timeout=10.0))
        marathon = await stack.enter_async_context(MarathonClient(sandbox.url))
        autoscaler = Autoscaler(AutoscaleSources(tasks=MesosStatistics(api, port=sandbox.agent_stats_port)))
        reconciler = Reconciler(lambda: load_desired(tmp_path / "specs"), marathon, None, CycleOptions(),
                                autoscaler=autoscaler)
        state = Running(sandbox, api)
        loop = Controller(reconciler.cycle, ControllerOptions(resync_seconds=tick, retry_seconds=0.2),
                          on_cycle=state.record if also is None else _both(state.record, also))
        task = asyncio.create_task(loop.run())
        try:
            await until(state.running_tasks, "the controller created the app", timeout=60)
            await state.load(0.4)  # 40% of the cpus: below the 50% target, at min already
            await until(lambda: state.settled_at(2), "the app runs at min (2) and is sampled", timeout=60)
            yield state
        finally:
            loop.stop()
            await asyncio.wait_for(task, 30)
