"""Edges that a plausible one-character bug would cross and the rest of the suite would not notice
(each was checked by planting the bug and seeing these tests fail):

- heal backoff measured from the oldest heal of the app instead of the latest;
- a task judged by its best Consul instance instead of its worst;
- an `--env` scope matched by id prefix without the `/`, so `/func-1` reaches `/func-10`.
"""

from __future__ import annotations

from dataclasses import replace

from reconciler.core.heal import HealMemory, decide_heals
from reconciler.core.model import Action, ActionKind, Actual, ActualApp, Desired, HealPolicy, Outcome
from reconciler.core.naming import MANAGED_BY_LABEL, MANAGED_BY_VALUE
from reconciler.core.plan import PlanOptions, build_plan
from reconciler.core.registry import CheckStatus, ConsulObservation
from tests.unit.consul.consul_world import HTTP_CHECK, actual_app, actual_of, desired_app, desired_of, instance_of, task
from tests.unit.core.planner_builders import applied
from tests.unit.core.planner_builders import desired_app as planner_app
from tests.unit.core.planner_builders import desired_of as planner_desired

POLICY = HealPolicy(critical_for_seconds=30, backoff_seconds=60, crash_loop_heals=5, crash_loop_window_seconds=3600)
NOW = 10_000.0


def one_critical_task(
    statuses: tuple[CheckStatus, ...] = (CheckStatus.CRITICAL,),
) -> tuple[Desired, Actual, ConsulObservation]:
    """/integration/api with 3 tasks; task 1 has one Consul instance per status given, the others pass."""
    wanted = desired_app("integration", "api", instances=3, heal=POLICY, healthChecks=[HTTP_CHECK])
    tasks = [task(wanted.app_id, n) for n in (1, 2, 3)]
    instances = [
        instance_of(tasks[0], "integration", "api", status, service_id=f"api-t1-{n}", output=f"probe {n}")
        for n, status in enumerate(statuses)
    ]
    instances += [instance_of(t, "integration", "api", CheckStatus.PASSING) for t in tasks[1:]]
    return desired_of(wanted), actual_of(actual_app(wanted, tasks)), ConsulObservation(tuple(instances))


def kills(actions: tuple[Action, ...]) -> list[str]:
    return [a.target for a in actions if a.kind == ActionKind.KILL_TASK and a.outcome == Outcome.PLANNED]


def test_backoff_runs_from_the_latest_heal_not_the_oldest() -> None:
    desired, actual, consul = one_critical_task()
    critical = {"integration_api.t1": NOW - 100}  # past its 30 s grace window
    # Healed long ago and again 10 s ago: the backoff (60 s) runs from the latest heal.
    memory = HealMemory(critical_since=critical, heals={"/integration/api": (NOW - 3000, NOW - 10)})
    held = decide_heals(desired, actual, consul, memory, NOW)
    assert kills(held.actions) == []
    assert any("backoff: last heal 10s ago < 60s" in a.reason for a in held.actions)
    # ...and once 60 s have passed since the latest one, the task is healed.
    assert kills(decide_heals(desired, actual, consul, memory, NOW + 50).actions) == ["integration_api.t1"]


def test_a_task_is_judged_by_its_worst_consul_instance() -> None:
    # The task is registered twice (two agents, or a stale registration): one passes, one is critical.
    for statuses in ((CheckStatus.PASSING, CheckStatus.CRITICAL), (CheckStatus.CRITICAL, CheckStatus.PASSING)):
        desired, actual, consul = one_critical_task(statuses)
        first = decide_heals(desired, actual, consul, HealMemory(), NOW)
        assert first.memory.critical_since == {"integration_api.t1": NOW}, statuses
        later = decide_heals(desired, actual, consul, first.memory, NOW + 31)
        assert kills(later.actions) == ["integration_api.t1"], statuses


def test_a_task_with_a_warning_and_a_passing_instance_is_reported_as_warning() -> None:
    desired, actual, consul = one_critical_task((CheckStatus.PASSING, CheckStatus.WARNING))
    decisions = decide_heals(desired, actual, consul, HealMemory(), NOW)
    assert decisions.memory.critical_since == {}
    assert [a.target for a in decisions.actions if a.kind == ActionKind.WARN] == ["integration_api.t1"]


def test_an_env_scope_never_reaches_an_environment_whose_name_it_prefixes() -> None:
    desired = planner_desired(planner_app("api", environment="func-1"))
    # Managed apps written before the environment label existed: only the id tells their environment.
    labels = {MANAGED_BY_LABEL: MANAGED_BY_VALUE}
    strays = [ActualApp(app_id, {"id": app_id, "cmd": "serve", "labels": labels}, 1)
              for app_id in ("/func-1/old", "/func-10/web", "/func-1x/web")]
    actual = applied(desired)
    actual = replace(actual, apps={**actual.apps, **{app.app_id: app for app in strays}})
    plan = build_plan(desired, actual, PlanOptions(prune=True, force=True, env="func-1"))
    assert [(a.kind, a.target) for a in plan.actions] == [(ActionKind.DELETE, "/func-1/old")]
