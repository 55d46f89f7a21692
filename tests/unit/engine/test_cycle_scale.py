"""A cycle's pure part at 10,000 apps: planning (Marathon diff, registrations, DNS queries, heal
decisions) and the status view stay linear in apps, tasks and instances.

The bound is the pytest-timeout mark, not a timed assertion: a quadratic loop over 20,000 tasks and
their 20,000 Consul instances takes minutes, the linear code a few seconds on a loaded CI machine.
"""

from __future__ import annotations

import pytest

from reconciler.cli.status_view import status_rows, status_summary
from reconciler.core.heal import HealMemory
from reconciler.core.model import ActionKind, Actual, ActualApp, Desired, DesiredApp, DesiredEnvironment, HealPolicy
from reconciler.core.plan import PlanOptions
from reconciler.core.registry import CheckStatus, ConsulObservation, ServiceInstance
from reconciler.engine.observe import Observation
from reconciler.engine.planning import plan_cycle
from tests.unit.consul.consul_world import actual_app, desired_app, instance_of, task

ENVS = 10
APPS_PER_ENV = 1_000
TASKS = 2


def world() -> tuple[Desired, Observation]:
    apps: list[DesiredApp] = []
    actual_apps: list[ActualApp] = []
    instances: list[ServiceInstance] = []
    for e in range(ENVS):
        env = f"env-{e}"
        for a in range(APPS_PER_ENV):
            wanted = desired_app(env, f"app-{a}", instances=TASKS, heal=HealPolicy(critical_for_seconds=30))
            tasks = [task(wanted.app_id, n) for n in range(TASKS)]
            apps.append(wanted)
            actual_apps.append(actual_app(wanted, tasks))
            # One app in a thousand has a critical instance: healing has work, but little.
            status = CheckStatus.CRITICAL if a % 1_000 == 7 else CheckStatus.PASSING
            instances.extend(instance_of(t, env, wanted.name, status if n == 0 else CheckStatus.PASSING)
                             for n, t in enumerate(tasks))
    names = tuple(f"app-{a}" for a in range(APPS_PER_ENV))
    environments = {f"env-{e}": DesiredEnvironment(name=f"env-{e}", group=f"/env-{e}", apps=names) for e in range(ENVS)}
    desired = Desired(environments=environments, apps={a.app_id: a for a in apps})
    actual = Actual(apps={a.app_id: a for a in actual_apps}, complete=True)
    return desired, Observation(actual, ConsulObservation(instances=tuple(instances)))


@pytest.mark.timeout(60)
def test_planning_and_status_of_10000_apps_stay_linear() -> None:
    desired, observation = world()
    planned = plan_cycle(desired, observation, PlanOptions(), HealMemory(), now=100.0)
    kinds = {a.kind for a in planned.plan.pending}
    # Nothing to do in Marathon or for registrations; every DNS query is missing (none observed).
    assert ActionKind.QUERY_CREATE in kinds and ActionKind.REGISTER not in kinds
    assert sum(1 for a in planned.plan.pending if a.kind == ActionKind.QUERY_CREATE) == ENVS * APPS_PER_ENV
    # The critical tasks are remembered, to be healed once their grace window has passed.
    assert len(planned.memory.critical_since) == ENVS
    # A second cycle over the same objects goes through the planner's memo: the same plan comes out.
    again = plan_cycle(desired, observation, PlanOptions(), HealMemory(), now=100.0)
    assert again.plan == planned.plan
    rows = status_rows(desired, observation.actual, observation.consul)
    assert len(rows) == ENVS * APPS_PER_ENV and sum(row[4] or 0 for row in rows) == len(rows) * TASKS - ENVS
    summary = status_summary(desired, observation.actual, observation.consul)
    assert summary.apps == ENVS * APPS_PER_ENV
    assert summary.attention == tuple(sorted(f"/env-{e}/app-7" for e in range(ENVS)))
