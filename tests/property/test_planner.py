"""Planner properties: re-planning after the plan ran is empty, planning is deterministic, and what
any Marathon version reports for an app we wrote is never drift.

Random desired states (two environments, dependencies, health checks, docker and host networking)
meet random actual states (an earlier spec applied, then shaped by a Marathon version, drifted,
rescaled, with unmanaged apps and clashing ids) under random options.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.core.model import Actual, ActualApp, Desired
from reconciler.core.plan import PlanOptions, build_plan
from reconciler.core.simulate import simulate_apply
from tests.unit.core.planner_builders import MarathonVersion, applied, desired_app, desired_of, marathon_state

ENVS = ("int", "func-1")
NAMES = ("web", "api", "db", "cache", "zk")

numbers = st.sampled_from([0.1, 0.5, 1, 1.0, 2, 64, 128, 256.0])
words = st.sampled_from(["a", "b", "-Xmx1g", "", "x y"])
string_maps = st.dictionaries(st.sampled_from(["A", "B", "JAVA_OPTS", "team"]), words, max_size=3)
health_checks = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "protocol": st.sampled_from(["HTTP", "TCP", "MESOS_HTTP"]),
            "path": st.sampled_from(["/", "/health"]),
            "intervalSeconds": st.sampled_from([10, 60]),
            "gracePeriodSeconds": st.sampled_from([30, 300]),
        },
    ),
    max_size=2,
)
containers = st.fixed_dictionaries(
    {"docker": st.fixed_dictionaries({"image": st.sampled_from(["web:1", "web:2", "redis:7"])})},
    optional={"type": st.just("DOCKER")},
)
bridged = st.builds(
    lambda image, ports: {
        "type": "DOCKER",
        "docker": {"image": image, "network": "BRIDGE", "portMappings": [{"containerPort": p} for p in ports]},
    },
    st.sampled_from(["api:1", "api:2"]),
    st.lists(st.sampled_from([80, 8080, 9090]), min_size=1, max_size=2, unique=True),
)
definitions = st.fixed_dictionaries(
    {"cmd": st.sampled_from(["serve", "serve --fast", "sleep 100"])},
    optional={
        "cpus": numbers,
        "mem": numbers,
        "env": string_maps,
        "labels": string_maps,
        "healthChecks": health_checks,
        "container": st.one_of(containers, bridged),
        "constraints": st.lists(st.sampled_from([["hostname", "UNIQUE"], ["rack", "GROUP_BY", "2"]]), max_size=2),
        "upgradeStrategy": st.fixed_dictionaries(
            {"minimumHealthCapacity": st.sampled_from([0, 0.5, 1]), "maximumOverCapacity": st.sampled_from([0, 1])}
        ),
        "fetch": st.lists(
            st.fixed_dictionaries({"uri": st.sampled_from(["https://x/a.tgz", "https://x/b"])}), max_size=1
        ),
        "backoffSeconds": st.sampled_from([1, 5]),
    },
)


def acyclic_dependencies(draw: st.DrawFn, keys: list[tuple[str, str]], env: str, name: str) -> list[str]:
    """Apps of the same environment earlier in NAMES: never a cycle, which the spec layer refuses
    (spec/dependencies.py) and so never reaches the planner."""
    earlier = [n for e, n in keys if e == env and NAMES.index(n) < NAMES.index(name)]
    return draw(st.lists(st.sampled_from(earlier), max_size=2, unique=True)) if earlier else []


@st.composite
def desired_states(draw: st.DrawFn, max_apps: int = 6) -> Desired:
    keys = draw(st.lists(st.tuples(st.sampled_from(ENVS), st.sampled_from(NAMES)), max_size=max_apps, unique=True))
    apps = []
    for env, name in keys:
        definition = draw(definitions)
        deps = acyclic_dependencies(draw, keys, env, name)
        instances = draw(st.integers(min_value=0, max_value=4))
        apps.append(desired_app(name, environment=env, instances=instances, deps=deps, **definition))
    return desired_of(*apps, revision=draw(st.sampled_from(["", "r1", "r2"])))


def drifted(app: ActualApp, draw: st.DrawFn) -> ActualApp:
    """Someone edits the app in Marathon: a field changed or removed, or the count moved."""
    definition: dict[str, Any] = dict(app.definition)
    edit = draw(st.sampled_from(["none", "cpus", "env", "constraints", "cmd", "drop-labels-key", "instances"]))
    if edit == "cpus":
        definition["cpus"] = draw(numbers)
    elif edit == "env":
        definition["env"] = draw(string_maps)
    elif edit == "constraints":
        definition["constraints"] = [["hostname", "CLUSTER", "x"]]
    elif edit == "cmd":
        definition.pop("cmd", None)
    elif edit == "drop-labels-key":
        definition["labels"] = {k: v for k, v in dict(definition.get("labels") or {}).items() if k != "team"}
    instances = draw(st.integers(min_value=0, max_value=5)) if edit == "instances" else app.instances
    return ActualApp(app.app_id, definition, instances)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Desired, Actual]:
    """A desired state and what Marathon holds: parts of it and of an older spec applied, then edited."""
    desired = draw(desired_states())
    current = applied(desired)
    kept = draw(st.sets(st.sampled_from(sorted(current.apps)))) if current.apps else set()
    earlier = applied(draw(desired_states()))
    apps = {**earlier.apps, **{app_id: current.apps[app_id] for app_id in kept}}
    observed = Actual(apps=apps)
    if draw(st.booleans()):
        observed = marathon_state(observed, draw(st.sampled_from(list(MarathonVersion))))
    apps = {app_id: drifted(app, draw) for app_id, app in observed.apps.items()}
    for env, name in draw(st.lists(st.tuples(st.sampled_from(ENVS), st.sampled_from(NAMES)), max_size=2)):
        app_id = f"/{env}/{name}"
        apps[app_id] = ActualApp(app_id, {"id": app_id, "cmd": "legacy"}, 1)  # unmanaged: no labels
    complete = draw(st.booleans()) or draw(st.booleans())
    return desired, Actual(apps=apps, complete=complete, problems=() if complete else ("marathon: 503",))


@st.composite
def plan_options(draw: st.DrawFn) -> PlanOptions:
    overrides = draw(
        st.dictionaries(st.sampled_from([f"/{e}/{n}" for e in ENVS for n in NAMES]), st.integers(0, 6), max_size=2)
    )
    return PlanOptions(
        prune=draw(st.booleans()),
        force=draw(st.booleans()),
        prune_limit_ratio=draw(st.sampled_from([0.0, 0.1, 0.5, 1.0])),
        env=draw(st.sampled_from([None, *ENVS])),
        instances=overrides,
    )


# Bounded so that a failure ends in a shrunk counterexample well before the per-test timeout: an
# example takes milliseconds (generation most of it), a deadline of seconds only catches a hang.
PROPERTY_SETTINGS = settings(
    max_examples=100, deadline=timedelta(seconds=5), suppress_health_check=[HealthCheck.too_slow]
)
pytestmark = pytest.mark.timeout(60)


@PROPERTY_SETTINGS
@given(scenario=scenarios(), options=plan_options())
def test_replanning_after_the_plan_ran_is_empty(scenario: tuple[Desired, Actual], options: PlanOptions) -> None:
    desired, actual = scenario
    plan = build_plan(desired, actual, options)
    after = simulate_apply(plan, actual)
    again = build_plan(desired, after, options)
    assert again.empty, [action.line() for action in again.pending]
    assert again.refused == plan.refused


@PROPERTY_SETTINGS
@given(scenario=scenarios(), options=plan_options())
def test_planning_is_deterministic(scenario: tuple[Desired, Actual], options: PlanOptions) -> None:
    desired, actual = scenario
    shuffled_desired = Desired(desired.environments, dict(reversed(list(desired.apps.items()))), desired.revision)
    shuffled_actual = Actual(
        dict(reversed(list(actual.apps.items()))), actual.deployments, actual.complete, actual.problems
    )
    assert build_plan(desired, actual, options) == build_plan(shuffled_desired, shuffled_actual, options)


@PROPERTY_SETTINGS
@given(desired=desired_states(), version=st.sampled_from(list(MarathonVersion)))
def test_what_marathon_reports_for_our_apps_is_never_drift(desired: Desired, version: MarathonVersion) -> None:
    observed = marathon_state(applied(desired), version)
    plan = build_plan(desired, observed)
    assert plan.actions == (), [action.line() for action in plan.actions]


def test_generated_states_reach_every_action_kind() -> None:
    """The strategies are only useful if they produce creates, updates, scales, deletes and warnings."""
    seen: set[str] = set()

    @settings(max_examples=300, deadline=None, database=None)
    @given(scenario=scenarios(), options=plan_options())
    def collect(scenario: tuple[Desired, Actual], options: PlanOptions) -> None:
        seen.update(f"{a.kind}:{a.outcome}" for a in build_plan(*scenario, options).actions)

    collect()
    expected = {"create:planned", "update:planned", "scale:planned", "delete:planned", "delete:refused", "warn:planned"}
    assert expected <= seen, expected - seen
