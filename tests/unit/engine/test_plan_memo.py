"""engine/plan_memo.py through plan_cycle: a cycle whose inputs are the previous cycle's very objects
gets the previous plan back without planning, and any change to an input (an app, a Consul instance, a
query, the specs, the options, the heal memory) plans again; a critical task (the clock matters) is never memoised."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.core.heal import HealMemory
from reconciler.core.model import ActionKind, Actual, Desired, DesiredEnvironment, HealPolicy, TaskState
from reconciler.core.plan import PlanOptions
from reconciler.core.registry import MANAGED_TAG, CheckStatus, ConsulObservation, ObservedQuery
from reconciler.engine.observe import Observation
from reconciler.engine.planning import CyclePlan, Planner
from tests.unit.consul.consul_world import desired_app, instance_of, task
from tests.unit.core.planner_builders import applied


@pytest.fixture
def planner() -> Planner:
    """One controller's planner, kept across the cycles of a test."""
    return Planner()


def world(status: CheckStatus = CheckStatus.PASSING) -> tuple[Desired, Observation]:
    apps = [desired_app("prod", name, heal=HealPolicy(critical_for_seconds=30)) for name in ("web", "api")]
    desired = Desired(
        environments={"prod": DesiredEnvironment(name="prod", group="/prod", apps=("web", "api"))},
        apps={a.app_id: a for a in apps},
    )
    deployed = applied(desired)  # Marathon as the plan for `desired` leaves it: nothing to update
    actual_apps = {a.app_id: replace(deployed.apps[a.app_id], tasks=(task(a.app_id, 0),)) for a in apps}
    instances = tuple(instance_of(t, "prod", a.name, status) for a in apps for t in actual_apps[a.app_id].tasks)
    queries = {f"{a.name}.prod": ObservedQuery(f"q-{a.name}", f"{a.name}.prod", a.name, ("prod", MANAGED_TAG),
                                               True) for a in apps}
    return desired, Observation(Actual(apps=actual_apps), ConsulObservation(instances=instances, queries=queries))


def cycle(
    planner: Planner, desired: Desired, observation: Observation, memory: HealMemory, now: float = 100.0
) -> CyclePlan:
    return planner.plan(desired, observation, PlanOptions(), memory, now)


def idle(planner: Planner, desired: Desired, observation: Observation) -> tuple[CyclePlan, HealMemory]:
    """Two cycles: the second starts from the first's heal memory, as a controller's does."""
    first = cycle(planner, desired, observation, HealMemory())
    second = cycle(planner, desired, observation, first.memory)
    return second, second.memory


def test_an_idle_cycle_gets_the_previous_plan_back(planner: Planner) -> None:
    desired, observation = world()
    planned, memory = idle(planner, desired, observation)
    computed = planner.plans.computed
    again = cycle(planner, desired, replace(observation), memory, now=5000.0)  # a new Observation, the same parts
    assert again is planned and planner.plans.computed == computed
    assert again.plan.empty


def test_a_changed_app_plans_again(planner: Planner) -> None:
    desired, observation = world()
    _, memory = idle(planner, desired, observation)
    web = observation.actual.apps["/prod/web"]
    scaled = replace(web, instances=3, definition={**web.definition, "instances": 3})
    apps = {**observation.actual.apps, "/prod/web": scaled}
    again = cycle(planner, desired, replace(observation, actual=replace(observation.actual, apps=apps)), memory)
    assert [a.kind for a in again.plan.pending] == [ActionKind.SCALE]


def test_a_lost_registration_plans_again(planner: Planner) -> None:
    desired, observation = world()
    _, memory = idle(planner, desired, observation)
    consul = replace(observation.consul, instances=observation.consul.instances[:1])
    again = cycle(planner, desired, replace(observation, consul=consul), memory)
    assert [a.kind for a in again.plan.pending] == [ActionKind.REGISTER]


def test_a_missing_query_plans_again(planner: Planner) -> None:
    desired, observation = world()
    _, memory = idle(planner, desired, observation)
    queries = {name: q for name, q in observation.consul.queries.items() if name != "api.prod"}
    again = cycle(planner, desired, replace(observation, consul=replace(observation.consul, queries=queries)), memory)
    assert [(a.kind, a.target) for a in again.plan.pending] == [(ActionKind.QUERY_CREATE, "api.prod")]


def test_other_specs_or_options_plan_again(planner: Planner) -> None:
    desired, observation = world()
    _, memory = idle(planner, desired, observation)
    web = desired.apps["/prod/web"]
    changed = replace(desired, apps={**desired.apps, "/prod/web": replace(web, definition={**web.definition,
                                                                                          "cmd": "serve --new"})})
    assert [a.kind for a in cycle(planner, changed, observation, memory).plan.pending] == [ActionKind.UPDATE]
    computed = planner.plans.computed
    planner.plan(changed, observation, PlanOptions(prune=True), memory, 100.0)
    assert planner.plans.computed == computed + 1


def test_a_task_gone_from_marathon_plans_its_deregistration(planner: Planner) -> None:
    desired, observation = world()
    _, memory = idle(planner, desired, observation)
    web = observation.actual.apps["/prod/web"]
    stopped = replace(web, tasks=(replace(web.tasks[0], state=TaskState.KILLED),))
    actual = replace(observation.actual, apps={**observation.actual.apps, "/prod/web": stopped})
    kinds = [a.kind for a in cycle(planner, desired, replace(observation, actual=actual), memory).plan.pending]
    assert ActionKind.DEREGISTER in kinds


def test_a_critical_task_is_planned_with_the_clock_every_cycle(planner: Planner) -> None:
    desired, observation = world(CheckStatus.CRITICAL)
    first = cycle(planner, desired, observation, HealMemory(), now=100.0)
    assert first.memory.critical_since
    later = cycle(planner, desired, observation, first.memory, now=200.0)  # past the 30 s grace window: killed
    assert ActionKind.KILL_TASK in [a.kind for a in later.plan.pending]
    assert later is not first
