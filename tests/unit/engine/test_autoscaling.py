"""The autoscaler's part of a cycle (engine/autoscaling.py) over small worlds: samples from a source
that answers from a table, the count it hands the plan, when it leaves an app alone, the unhealthy
tasks it kills first, the refusal of a Prometheus metric nobody can read, and what the Reporter keeps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from reconciler.core.autoscale_metrics import TaskSample
from reconciler.core.autoscale_policy import (
    DEFAULT_SCALE_DOWN,
    AutoscalePolicy,
    Behavior,
    MetricKind,
    MetricTarget,
    TargetType,
)
from reconciler.core.hashing import definition_hash
from reconciler.core.heal import HealMemory
from reconciler.core.model import Action, ActionKind, Actual, ActualTask, Desired, Outcome, Plan
from reconciler.core.plan import PlanOptions, stamped_definition, write_body
from reconciler.core.registry import ConsulObservation
from reconciler.engine.autoscaling import Autoscaler, AutoscaleRound, AutoscaleSources, check_sources
from reconciler.engine.cycle import CycleResult
from reconciler.engine.observe import Observation
from reconciler.engine.planning import plan_cycle
from reconciler.engine.reporting import Reporter
from reconciler.engine.telemetry import ControllerMetrics
from reconciler.errors import SpecError
from reconciler.metrics.sources import TaskRef
from reconciler.store import Store
from tests.unit.consul.consul_world import actual_app, actual_of, desired_app, desired_of, task

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC).timestamp()
STARTED = "2026-03-01T11:00:00.000Z"  # an hour before: past the CPU initialization period
POLICY = AutoscalePolicy(min_instances=1, max_instances=10, metrics=(MetricTarget(MetricKind.CPU, 0.5),))


class TableSource:
    """A task source answering from a table of CPU cores per task (the protocol, without HTTP)."""

    def __init__(self, cpu: Mapping[str, float]) -> None:
        self.cpu = dict(cpu)
        self.asked: list[list[str]] = []

    async def sample(self, tasks: Sequence[TaskRef]) -> Mapping[str, TaskSample]:
        self.asked.append([t.task_id for t in tasks])
        return {t.task_id: TaskSample(at=NOW - 1, window=10, cpu=self.cpu[t.task_id], mem=10.0)
                for t in tasks if t.task_id in self.cpu}


def world(
    instances: int = 2, healthy: Sequence[bool | None] = (), policy: AutoscalePolicy = POLICY, **kw: object
) -> tuple[Desired, Actual, list[ActualTask]]:
    wanted = replace(desired_app("shop", "web", instances=1, cpus=1.0, mem=128), autoscale=policy,
                     source="specs/shop.yaml:5")
    tasks = [replace(task(wanted.app_id, n, healthy=healthy[n] if n < len(healthy) else None), started_at=STARTED)
             for n in range(instances)]
    synced = stamped_definition(wanted)  # as the reconciler wrote it: only the count can differ
    body = write_body(synced, definition_hash(synced), "", instances)
    observed = replace(actual_app(wanted, tasks, **kw), definition=body, instances=instances)
    return desired_of(wanted), actual_of(observed), tasks


def autoscaler(cpu: Mapping[str, float]) -> tuple[Autoscaler, TableSource]:
    source = TableSource(cpu)
    return Autoscaler(AutoscaleSources(tasks=source), clock=lambda: NOW), source


def plan_of(desired: Desired, actual: Actual, scaling: AutoscaleRound) -> list[Action]:
    observation = Observation(actual, ConsulObservation(), consul_enabled=False)
    planned = plan_cycle(desired, observation, scaling.plan_options(PlanOptions()), HealMemory(), NOW)
    return list(scaling.with_plan(planned.plan).actions)


async def test_a_load_above_target_becomes_a_scale_of_instances_only_with_the_reason() -> None:
    desired, actual, tasks = world()
    scaler, source = autoscaler({t.task_id: 0.9 for t in tasks})
    scaling = await scaler.decide(desired, actual)
    (app,) = scaling.apps
    assert (app.current, app.instances, app.limited_by, app.recommendation) == (2, 4, None, 4)
    assert source.asked == [[t.task_id for t in tasks]]  # one sampling for every app
    (action,) = plan_of(desired, actual, scaling)
    assert action.kind == ActionKind.SCALE and action.body == {"id": "/shop/web", "instances": 4}
    assert action.reason == "autoscale: cpu above target: 2 -> 4"
    assert app.metrics() == [{"name": "cpu", "current": 90.0, "target": 50.0, "proposal": 4}]
    assert "limitedBy=- cpu=90/50->4" in app.line()


async def test_the_memory_carries_between_cycles_so_a_scale_down_waits_for_the_window() -> None:
    desired, actual, tasks = world(instances=4)
    clock = [NOW]
    source = TableSource({t.task_id: 0.5 for t in tasks})  # 100% of the 50% target: no change
    scaler = Autoscaler(AutoscaleSources(tasks=source), clock=lambda: clock[0])
    assert (await scaler.decide(desired, actual)).apps[0].instances == 4
    source.cpu = {t.task_id: 0.05 for t in tasks}
    clock[0] = NOW + 60
    held = (await scaler.decide(desired, actual)).apps[0]
    assert (held.instances, held.limited_by) == (4, "stabilization")  # the legacy 5-minute window
    clock[0] = NOW + 301
    assert (await scaler.decide(desired, actual)).apps[0].instances == 1


async def test_a_deployment_it_did_not_start_leaves_the_app_alone() -> None:
    desired, actual, tasks = world(deployment_ids=("d-someone",))
    scaler, _ = autoscaler({t.task_id: 0.9 for t in tasks})
    (app,) = (await scaler.decide(desired, actual)).apps
    assert (app.instances, app.decision) == (2, None)
    assert app.reason == "left alone: deployment d-someone, which the autoscaler did not start, is still running"
    assert plan_of(desired, actual, AutoscaleRound((app,))) == []


async def test_its_own_scaling_deployment_is_named_as_such() -> None:
    desired, actual, tasks = world()
    scaler, _ = autoscaler({t.task_id: 0.9 for t in tasks})
    await scaler.decide(desired, actual)
    deploying = replace(actual, apps={"/shop/web": replace(actual.apps["/shop/web"], deployment_ids=("d-1",))})
    (app,) = (await scaler.decide(desired, deploying)).apps
    assert app.instances == 2 and app.reason.startswith("its scaling (deployment d-1) is still running")


async def test_an_incomplete_observation_scales_nothing() -> None:
    desired, actual, tasks = world()
    scaler, _ = autoscaler({t.task_id: 0.05 for t in tasks})
    (app,) = (await scaler.decide(desired, replace(actual, complete=False))).apps
    assert app.instances == 2 and app.decision is None and "incomplete" in app.reason


async def test_a_scale_down_kills_tasks_that_are_not_healthy_first_with_scale() -> None:
    quick = replace(POLICY, behavior=Behavior(scale_down=replace(DEFAULT_SCALE_DOWN, stabilization_seconds=0.0)))
    desired, actual, tasks = world(instances=3, healthy=(True, False, True), policy=quick)
    scaler, _ = autoscaler({t.task_id: 0.3 for t in tasks})  # 30% of 50% on the ready tasks: 2 -> ceil(1.2) = 2
    (app,) = (await scaler.decide(desired, actual)).apps
    assert app.decision is not None and app.decision.instances == 2
    assert app.kills == (tasks[1].task_id,) and app.instances == 3 and app.desired == 2
    heal = Action(kind=ActionKind.KILL_TASK, target=tasks[1].task_id, reason="critical", env="shop")
    actions = AutoscaleRound((app,)).with_plan(Plan((heal,))).actions
    assert [(a.kind, a.target, a.body) for a in actions] == [(ActionKind.KILL_TASK, tasks[1].task_id, {"scale": True})]
    assert [a.kind for a in plan_of(desired, actual, AutoscaleRound((app,)))] == [ActionKind.KILL_TASK]


def test_a_prometheus_metric_without_a_server_is_refused_with_file_line_and_field() -> None:
    query = MetricTarget(MetricKind.PROMETHEUS, 500, TargetType.VALUE, "sum(rate(x[1m]))")
    desired, _, _ = world(policy=replace(POLICY, metrics=(MetricTarget(MetricKind.CPU, 0.5), query)))
    with pytest.raises(SpecError) as raised:
        check_sources(desired, prometheus=False)
    (problem,) = raised.value.problems
    assert (problem.file, problem.line, problem.field) == ("specs/shop.yaml", 5, "web.autoscale.metrics[1].prometheus")
    assert "--prometheus URL" in (problem.hint or "")
    assert check_sources(desired, prometheus=True) is desired


async def test_the_reporter_stores_a_decision_once_and_shows_the_last_in_status_and_metrics() -> None:
    desired, actual, tasks = world()
    scaler, _ = autoscaler({t.task_id: 0.9 for t in tasks})
    store = Store.open("sqlite://")
    reporter = Reporter(ControllerMetrics(), store, lambda: {"source": "specs"}, lambda: desired)
    for number in (1, 2):
        scaling = await scaler.decide(desired, actual)
        reporter.record(CycleResult(f"c{number}", "resync", autoscale=scaling.apps))
    (row,) = [e for e in store.history(app="/shop/web") if e.kind == "autoscale"]
    assert row.data["desired"] == 4 and row.data["cycle_id"] == "c1" and row.data["limited_by"] == ""
    assert '"proposal": 4' in row.data["metrics"]
    status = reporter.status()["autoscale"]["/shop/web"]
    assert (status["current"], status["desired"], status["limitedBy"], status["cycle"]) == (2, 4, None, "c2")
    exposition = reporter.metrics.exposition().decode()
    assert 'reconciler_autoscale_desired_instances{app="/shop/web"} 4.0' in exposition
    assert 'reconciler_autoscale_decisions_total{limited_by="none"} 2.0' in exposition


def test_scale_kills_are_not_counted_as_heals() -> None:
    desired, _, _ = world()
    reporter = Reporter(ControllerMetrics(), None, lambda: {}, lambda: desired)
    kill = Action(kind=ActionKind.KILL_TASK, target="shop_web.t1", reason="autoscale", env="shop",
                  body={"scale": True}, outcome=Outcome.SUCCEEDED)
    reporter.record(CycleResult("c1", "resync", plan=Plan((kill,))))
    assert "reconciler_heals_total{" not in reporter.metrics.exposition().decode()



async def test_a_count_outside_new_bounds_is_clamped_at_once() -> None:
    desired, actual, tasks = world(instances=5, policy=replace(POLICY, max_instances=3))
    scaler, _ = autoscaler({t.task_id: 0.5 for t in tasks})
    (app,) = (await scaler.decide(desired, actual)).apps
    assert (app.instances, app.limited_by, app.reason) == (3, "max", "5 instances is above max: 5 -> 3")


class QueryTable:
    """An external source answering from a table; a query missing from it could not be read."""

    def __init__(self, values: Mapping[str, float]) -> None:
        self.values = dict(values)
        self.last_error: str | None = None

    async def query(self, expression: str) -> float | None:
        return self.values.get(expression)


async def test_a_prometheus_query_scales_and_an_unreadable_one_blocks_only_a_scale_down() -> None:
    query = MetricTarget(MetricKind.PROMETHEUS, 100, TargetType.AVERAGE_VALUE, "sum(rate(requests[1m]))")
    desired, actual, _ = world(policy=replace(POLICY, metrics=(query,)))
    prometheus = QueryTable({query.name: 500.0})
    scaler = Autoscaler(AutoscaleSources(tasks=TableSource({}), prometheus=prometheus), clock=lambda: NOW)
    (app,) = (await scaler.decide(desired, actual)).apps
    # ceil(500 / 100) = 5, held to max(2 x 2, 4) by the HPA's legacy rule (no `behavior`)
    assert (app.instances, app.metrics()[0]["proposal"], app.limited_by) == (4, 5, "legacy-scale-up-limit")
    prometheus.values = {}
    (app,) = (await scaler.decide(desired, actual)).apps
    assert app.instances == 2 and "could not be read" in app.reason


async def test_the_reporter_stores_every_decided_cycles_inputs_and_none_of_a_held_app() -> None:
    desired, actual, tasks = world()
    scaler, _ = autoscaler({t.task_id: 0.9 for t in tasks})
    store = Store.open("sqlite://")
    reporter = Reporter(ControllerMetrics(), store, lambda: {}, lambda: desired, samples_keep=3600)
    for number in (1, 2):  # the same decision twice: one decision row, but a sample row per cycle
        reporter.record(CycleResult(f"c{number}", "resync", autoscale=(await scaler.decide(desired, actual)).apps))
    held = replace(actual, complete=False)
    reporter.record(CycleResult("c3", "resync", autoscale=(await scaler.decide(desired, held)).apps))
    rows = store.autoscale_samples("/shop/web")
    assert [(r.cycle_id, r.instances, r.env) for r in rows] == [("c1", 2, "shop"), ("c2", 2, "shop")]
    assert '"cpu":0.9' in rows[0].document and '"history":null' in rows[0].document  # the first sight
    assert '"history":{' in rows[1].document  # the memory the second decision started from
