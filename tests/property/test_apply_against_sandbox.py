"""Property: executing a plan against the real sandbox, then planning again, yields an empty plan.

For random earlier desired states (applied for real), random changes made in Marathon behind the
reconciler's back (drift, rescales, unmanaged apps) and a random new desired state, one apply
converges: re-planning from a fresh observation finds nothing to do, and planning is deterministic.
Every example runs its own sandbox over loopback HTTP; the number of examples is bounded.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.core.model import Actual, Desired
from reconciler.core.plan import PlanOptions, build_plan
from reconciler.engine.execute import ExecuteOptions, execute_plan
from reconciler.marathon import MarathonClient
from reconciler.sandbox.marathon import MarathonSandbox
from tests.sandbox.marathon.fixtures import fast_config
from tests.unit.core.planner_builders import desired_app, desired_of

NAMES = ("alpha", "beta", "gamma", "delta")
ENVS = ("int", "func")

definitions = st.fixed_dictionaries(
    {"cmd": st.sampled_from(["serve a", "serve b"]), "cpus": st.sampled_from([0.1, 0.2]),
     "mem": st.sampled_from([32, 64]), "instances": st.integers(0, 3)},
    optional={
        "env": st.dictionaries(st.sampled_from(["A", "B"]), st.sampled_from(["1", "2"]), max_size=2),
        "labels": st.dictionaries(st.sampled_from(["team", "tier"]), st.sampled_from(["x", "y"]), max_size=2),
        "constraints": st.sampled_from([[], [["hostname", "GROUP_BY"]]]),
        "upgradeStrategy": st.sampled_from([{"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5}]),
        "portDefinitions": st.sampled_from([[{"port": 0, "name": "http"}]]),
    },
)
desired_states = st.dictionaries(st.tuples(st.sampled_from(ENVS), st.sampled_from(NAMES)), definitions, max_size=5)
drift = st.lists(
    st.tuples(st.integers(0, 10), st.sampled_from([{"cpus": 0.3}, {"env": {"C": "3"}}, {"instances": 2}])),
    max_size=3,
)
unmanaged = st.lists(st.sampled_from(NAMES), max_size=2, unique=True)


def desired_from(apps: dict[tuple[str, str], dict[str, Any]], revision: str) -> Desired:
    built = [desired_app(name, environment=env, **dict(body)) for (env, name), body in sorted(apps.items())]
    return desired_of(*built, revision=revision)


async def converge(marathon: MarathonClient, desired: Desired, options: PlanOptions) -> Actual:
    plan = build_plan(desired, await marathon.observe(), options)
    execution = await execute_plan(plan, marathon, ExecuteOptions(wait=True, timeout=30, poll_interval=0.02))
    assert not execution.failed, [a.line() for a in execution.failed]
    assert not execution.timed_out
    return await marathon.observe()


async def scenario(
    before: dict[tuple[str, str], dict[str, Any]],
    changes: list[tuple[int, dict[str, Any]]],
    strangers: list[str],
    after: dict[tuple[str, str], dict[str, Any]],
) -> None:
    options = PlanOptions(prune=True, force=True)
    async with MarathonSandbox(fast_config(task_listeners=False)) as sandbox, MarathonClient(sandbox.url) as marathon:
        previous = await converge(marathon, desired_from(before, "r1"), options)
        async with httpx.AsyncClient(base_url=sandbox.url) as client:
            ids = sorted(previous.apps)
            for index, change in changes if ids else ():
                target = ids[index % len(ids)]
                response = await client.put(f"/v2/apps{target}", json=change, params={"force": "true"})
                assert response.status_code in (200, 201), response.text
            for name in strangers:
                body = {"id": f"/int/{name}", "cmd": "sleep 1", "cpus": 0.1, "mem": 16, "instances": 1}
                response = await client.put(f"/v2/apps/int/{name}", json=body, params={"force": "true"})
                assert response.status_code in (200, 201, 409), response.text
        await sandbox.wait_idle(timeout=20)

        desired = desired_from(after, "r2")
        observed = await marathon.observe()
        assert build_plan(desired, observed, options) == build_plan(desired, observed, options)
        converged = await converge(marathon, desired, options)
        replanned = build_plan(desired, converged, options)
        assert replanned.pending == (), [a.line() for a in replanned.pending]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=desired_states, changes=drift, strangers=unmanaged, after=desired_states)
def test_one_apply_converges_and_replanning_is_empty(
    before: dict[tuple[str, str], dict[str, Any]],
    changes: list[tuple[int, dict[str, Any]]],
    strangers: list[str],
    after: dict[tuple[str, str], dict[str, Any]],
) -> None:
    asyncio.run(scenario(before, changes, strangers, after))
