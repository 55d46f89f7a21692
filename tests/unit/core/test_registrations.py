"""Table-driven tests of plan_registrations and plan_queries (pure core)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.core.model import Action, ActionKind, Actual, DesiredEnvironment, HealPolicy, Outcome, TaskState
from reconciler.core.queries import plan_queries, tie_to_deletes
from reconciler.core.registrations import (
    check_of,
    plan_registrations,
    registration_of,
    service_id_of,
)
from reconciler.core.registry import MANAGED_TAG, ConsulObservation, ObservedQuery
from tests.unit.consul.consul_world import (
    HTTP_CHECK,
    actual_app,
    actual_of,
    desired_app,
    desired_of,
    instance_of,
    task,
)

REDIS = desired_app("integration", "redis", instances=2, healthChecks=[HTTP_CHECK])


def kinds(actions: tuple[Action, ...]) -> list[tuple[str, str]]:
    return [(a.kind, a.target) for a in actions]


# registrations ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("app_id", "task_id", "expected"),
    [
        ("/integration/redis", "integration_redis.instance-abc._app.1", "integration_redis.instance-abc._app.1"),
        ("/integration/redis", "odd-task-id", "integration_redis.odd-task-id"),
        ("/a/b/c", "x", "a_b_c.x"),
    ],
)
def test_service_id_of(app_id: str, task_id: str, expected: str) -> None:
    assert service_id_of(app_id, task_id) == expected


def test_registration_body_has_name_tags_meta_address_port_and_check() -> None:
    t = task(REDIS.app_id, 1)
    body = registration_of(actual_app(REDIS, [t]), t, "integration", "redis", HealPolicy(critical_for_seconds=30))
    assert body["ID"] == "integration_redis.t1"
    assert body["Name"] == "redis"
    assert body["Tags"] == ["integration", MANAGED_TAG]
    assert body["Address"] == "127.0.0.2" and body["Port"] == 31001
    assert body["Meta"] == {
        "marathon-app-id": "/integration/redis",
        "marathon-task-id": "integration_redis.t1",
        "marathon-app-version": "2024-01-01T00:00:00.000Z",
        "environment": "integration",
    }
    assert body["Check"] == {
        "Name": "marathon http check",
        "HTTP": "http://127.0.0.2:31001/health",
        "Interval": "5s",
        "Timeout": "2s",
        "DeregisterCriticalServiceAfter": "65s",
        "Status": "passing",
    }


@pytest.mark.parametrize(
    ("health_checks", "healthy", "expected"),
    [
        ([{"protocol": "TCP", "portIndex": 0}], True, {"TCP": "127.0.0.2:31001", "Interval": "60s", "Timeout": "20s"}),
        ([{"protocol": "MESOS_HTTPS", "path": "/ok"}], None, {"HTTP": "https://127.0.0.2:31001/ok"}),
        ([{"protocol": "HTTP"}], False, {"HTTP": "http://127.0.0.2:31001/"}),
        ([{"protocol": "COMMAND", "command": {"value": "true"}}], True, {"TCP": "127.0.0.2:31001"}),
        ([], None, {"TCP": "127.0.0.2:31001", "Interval": "10s", "Timeout": "5s", "Name": "tcp check"}),
        ([{"protocol": "HTTP", "port": 8080}], None, {"HTTP": "http://127.0.0.2:8080/"}),
    ],
)
def test_check_derived_from_first_marathon_health_check(
    health_checks: list[dict[str, object]], healthy: bool | None, expected: dict[str, str]
) -> None:
    t = replace(task("/e/a", 1), healthy=healthy)
    check = check_of({"healthChecks": health_checks}, t, HealPolicy(critical_for_seconds=10))
    assert check is not None
    assert expected.items() <= check.items()
    assert ("Status" in check) is (healthy is True)  # a check starts critical unless Marathon saw it healthy


def test_deregister_after_is_at_least_a_minute_and_outlives_the_grace_window() -> None:
    t = task("/e/a", 1)
    short = check_of({}, t, HealPolicy(critical_for_seconds=5))
    long = check_of({}, t, HealPolicy(critical_for_seconds=100))
    assert short is not None and short["DeregisterCriticalServiceAfter"] == "60s"
    assert long is not None and long["DeregisterCriticalServiceAfter"] == "210s"


def test_task_without_ports_gets_no_check() -> None:
    t = replace(task("/e/a", 1), ports=())
    assert check_of({"healthChecks": [HTTP_CHECK]}, t, HealPolicy()) is None


def test_every_running_task_is_registered_once() -> None:
    tasks = [task(REDIS.app_id, 1), task(REDIS.app_id, 2)]
    actions = plan_registrations(desired_of(REDIS), actual_of(actual_app(REDIS, tasks)), ConsulObservation())
    assert kinds(actions) == [("register", "integration_redis.t1"), ("register", "integration_redis.t2")]
    assert all(a.env == "integration" and a.body and a.body["Address"].startswith("127.0.0.") for a in actions)
    assert actions[0].reason == "task integration_redis.t1 is running without a registration"


def test_registered_and_unchanged_is_nothing() -> None:
    tasks = [task(REDIS.app_id, 1), task(REDIS.app_id, 2)]
    consul = ConsulObservation(instances=tuple(instance_of(t, "integration", "redis") for t in tasks))
    assert plan_registrations(desired_of(REDIS), actual_of(actual_app(REDIS, tasks)), consul) == ()


def test_registration_that_differs_is_registered_again() -> None:
    t = task(REDIS.app_id, 1)
    moved = replace(instance_of(t, "integration", "redis"), port=9999, tags=(MANAGED_TAG, "integration"))
    actions = plan_registrations(desired_of(REDIS), actual_of(actual_app(REDIS, [t])), ConsulObservation((moved,)))
    assert kinds(actions) == [("register", "integration_redis.t1")]
    assert actions[0].reason == "registration differs: Port"


@pytest.mark.parametrize(
    ("state", "registered"),
    [
        (TaskState.STAGING, False),
        (TaskState.STARTING, False),
        (TaskState.RUNNING, True),
        (TaskState.KILLING, False),
        (TaskState.FAILED, False),
    ],
)
def test_only_running_tasks_are_registered(state: TaskState, registered: bool) -> None:
    t = task(REDIS.app_id, 1, state=state)
    actions = plan_registrations(desired_of(REDIS), actual_of(actual_app(REDIS, [t])), ConsulObservation())
    assert (kinds(actions) == [("register", "integration_redis.t1")]) is registered
    assert registered or actions == ()


def test_unmanaged_apps_are_not_registered() -> None:
    t = task(REDIS.app_id, 1)
    actual = actual_of(actual_app(REDIS, [t], managed=False))
    assert plan_registrations(desired_of(REDIS), actual, ConsulObservation()) == ()


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (None, "task integration_redis.t1 of /integration/redis is gone"),
        (TaskState.KILLING, "task integration_redis.t1 is being killed: deregistered before it dies"),
        (TaskState.KILLED, "task integration_redis.t1 is TASK_KILLED"),
        (TaskState.LOST, "task integration_redis.t1 is TASK_LOST"),
    ],
)
def test_instances_of_gone_or_dying_tasks_are_deregistered(state: TaskState | None, reason: str) -> None:
    t = task(REDIS.app_id, 1, state=state or TaskState.RUNNING)
    app = actual_app(REDIS, [t] if state else [])
    actions = plan_registrations(
        desired_of(REDIS), actual_of(app), ConsulObservation((instance_of(t, "integration", "redis"),))
    )
    assert kinds(actions) == [("deregister", "integration_redis.t1")]
    assert actions[0].reason == reason
    assert actions[0].body == {
        "ServiceID": "integration_redis.t1",
        "Node": "node-127.0.0.2",
        "AgentAddress": "127.0.0.2",
        "Name": "redis",
    }


@pytest.mark.parametrize("state", [TaskState.STAGING, TaskState.UNREACHABLE, TaskState.UNKNOWN])
def test_instances_of_tasks_in_uncertain_states_are_left(state: TaskState) -> None:
    t = task(REDIS.app_id, 1, state=state)
    consul = ConsulObservation((instance_of(t, "integration", "redis"),))
    assert plan_registrations(desired_of(REDIS), actual_of(actual_app(REDIS, [t])), consul) == ()


def test_duplicate_registration_of_a_task_is_deregistered() -> None:
    t = task(REDIS.app_id, 1)
    consul = ConsulObservation(
        (instance_of(t, "integration", "redis"), instance_of(t, "integration", "redis", service_id="redis-extra"))
    )
    actions = plan_registrations(desired_of(REDIS), actual_of(actual_app(REDIS, [t])), consul)
    assert kinds(actions) == [("deregister", "redis-extra")]
    assert "duplicate registration" in actions[0].reason


def test_instances_without_our_tag_are_never_touched() -> None:
    t = task(REDIS.app_id, 1)
    foreign = replace(instance_of(t, "integration", "redis"), tags=("integration",))
    actions = plan_registrations(desired_of(REDIS), actual_of(actual_app(REDIS, [])), ConsulObservation((foreign,)))
    assert actions == ()


def test_incomplete_consul_plans_nothing() -> None:
    t = task(REDIS.app_id, 1)
    consul = ConsulObservation(complete=False, problems=("consul down",))
    assert plan_registrations(desired_of(REDIS), actual_of(actual_app(REDIS, [t])), consul) == ()


def test_incomplete_marathon_registers_but_never_deregisters() -> None:
    seen, gone = task(REDIS.app_id, 1), task(REDIS.app_id, 2)
    consul = ConsulObservation((instance_of(gone, "integration", "redis"),))
    actual = actual_of(actual_app(REDIS, [seen]), complete=False)
    assert kinds(plan_registrations(desired_of(REDIS), actual, consul)) == [("register", "integration_redis.t1")]


# DNS queries ------------------------------------------------------------------------------------

ENVIRONMENTS = [
    DesiredEnvironment(name="integration", group="/integration", apps=("redis", "user-api", "web")),
    DesiredEnvironment(name="func-1", group="/func-1", base="integration", apps=("redis", "user-api")),
    DesiredEnvironment(name="func-2", group="/func-2", base="integration", apps=("web",)),
]


def queries_of(
    environments: list[DesiredEnvironment],
    consul: ConsulObservation | None = None,
    actual: Actual | None = None,
    *,
    prune: bool = False,
) -> dict[str, Action]:
    actions = plan_queries(
        desired_of(environments=environments), actual or actual_of(), consul or ConsulObservation(), prune=prune
    )
    return {a.target: a for a in actions}


def test_every_environment_sees_every_app_with_fallback_to_the_base() -> None:
    actions = queries_of(ENVIRONMENTS)
    routes = {name: (a.body["Service"]["Service"], a.body["Service"]["Tags"][0]) for name, a in actions.items()}
    assert routes == {
        "redis.integration": ("redis", "integration"),
        "user-api.integration": ("user-api", "integration"),
        "web.integration": ("web", "integration"),
        "redis.func-1": ("redis", "func-1"),
        "user-api.func-1": ("user-api", "func-1"),
        "web.func-1": ("web", "integration"),
        "redis.func-2": ("redis", "integration"),
        "user-api.func-2": ("user-api", "integration"),
        "web.func-2": ("web", "func-2"),
    }


def test_query_body_is_only_passing_and_carries_our_tag() -> None:
    action = queries_of(ENVIRONMENTS)["web.func-1"]
    assert action.kind == ActionKind.QUERY_CREATE and action.env == "func-1"
    assert action.body == {
        "Name": "web.func-1",
        "Service": {"Service": "web", "Tags": ["integration", MANAGED_TAG], "OnlyPassing": True},
    }
    assert action.reason == "web in func-1 resolves to integration"


def test_functional_set_never_routes_to_another_functional_set() -> None:
    chained = DesiredEnvironment(name="func-3", group="/func-3", base="func-1", apps=("web",))
    actions = queries_of([*ENVIRONMENTS, chained])
    assert {n for n in actions if "func-3" in n} == {"web.func-3", "func-3"}
    refusal = actions["func-3"]
    assert refusal.kind == ActionKind.WARN and refusal.outcome == Outcome.REFUSED
    assert "sets never route to each other" in refusal.reason
    tags = {a.body["Service"]["Tags"][0] for n, a in actions.items() if n.endswith(".func-3")}
    assert tags == {"func-3"}


def observed(name: str, service: str, tag: str, query_id: str = "q", managed: bool = True) -> ObservedQuery:
    tags = (tag, MANAGED_TAG) if managed else (tag,)
    return ObservedQuery(query_id=query_id, name=name, service=service, tags=tags, only_passing=True)


def test_existing_identical_query_is_nothing_and_tag_order_does_not_matter() -> None:
    env = [ENVIRONMENTS[0]]
    existing = {
        "redis.integration": observed("redis.integration", "redis", "integration"),
        "user-api.integration": replace(
            observed("user-api.integration", "user-api", "integration"), tags=(MANAGED_TAG, "integration")
        ),
        "web.integration": observed("web.integration", "web", "integration"),
    }
    assert queries_of(env, ConsulObservation(queries=existing)) == {}


@pytest.mark.parametrize(
    "change",
    [
        {"tags": ("func-9", MANAGED_TAG)},
        {"service": "other"},
        {"only_passing": False},
    ],
)
def test_different_query_is_updated_with_its_id(change: dict[str, object]) -> None:
    env = [DesiredEnvironment(name="integration", group="/integration", apps=("redis",))]
    existing = replace(observed("redis.integration", "redis", "integration", query_id="q-7"), **change)
    actions = queries_of(env, ConsulObservation(queries={"redis.integration": existing}))
    action = actions["redis.integration"]
    assert action.kind == ActionKind.QUERY_UPDATE
    assert action.body["ID"] == "q-7"


def test_query_of_an_app_gone_from_specs_and_marathon_is_deleted_and_foreign_queries_are_kept() -> None:
    env = [DesiredEnvironment(name="integration", group="/integration", apps=("redis",))]
    existing = {
        "redis.integration": observed("redis.integration", "redis", "integration"),
        "old-api.integration": observed("old-api.integration", "old-api", "integration", query_id="q-old"),
        "someone-elses": observed("someone-elses", "redis", "x", managed=False),
    }
    actions = queries_of(env, ConsulObservation(queries=existing))
    assert list(actions) == ["old-api.integration"]
    assert actions["old-api.integration"].kind == ActionKind.QUERY_DELETE
    assert actions["old-api.integration"].env == "integration"
    assert actions["old-api.integration"].body == {"ID": "q-old", "Name": "old-api.integration"}


OLD_API = desired_app("integration", "old-api")


@pytest.mark.parametrize("prune", [False, True])
def test_query_of_an_app_that_left_the_specs_but_runs_stays_unless_pruned_and_then_follows_it(prune: bool) -> None:
    env = [DesiredEnvironment(name="integration", group="/integration", apps=("redis",))]
    existing = {
        "redis.integration": observed("redis.integration", "redis", "integration"),
        "old-api.integration": observed("old-api.integration", "old-api", "integration", query_id="q-old"),
    }
    running = actual_of(actual_app(OLD_API, [task(OLD_API.app_id, 1)]))
    actions = queries_of(env, ConsulObservation(queries=existing), running, prune=prune)
    if not prune:
        assert actions == {}
        return
    delete = actions["old-api.integration"]
    assert delete.kind == ActionKind.QUERY_DELETE and delete.reason == "goes with /integration/old-api (prune)"
    assert delete.body is not None and delete.body["Follows"] == ["/integration/old-api"]


def test_a_tied_query_delete_shares_the_fate_of_its_app_delete() -> None:
    query = Action(kind=ActionKind.QUERY_DELETE, target="a.e", reason="goes with /e/a (prune)", env="e",
                   body={"ID": "q", "Name": "a.e", "Follows": ["/e/a"]})
    untied = Action(kind=ActionKind.QUERY_DELETE, target="b.e", reason="gone", env="e", body={"ID": "q2"})
    delete = Action(kind=ActionKind.DELETE, target="/e/a", reason="left the specs (prune)", env="e")
    refused = replace(delete, outcome=Outcome.REFUSED, reason="refusing to delete 3 apps")
    assert tie_to_deletes([query, untied], [delete]) == [query, untied]
    assert tie_to_deletes([query, untied], []) == [untied]  # the app is not deleted: its query stays
    (kept, _) = tie_to_deletes([query, untied], [refused])
    assert kept.outcome == Outcome.REFUSED and kept.reason == "refusing to delete 3 apps"
    assert kept.detail == "goes with /e/a (prune)"


def test_a_query_delete_carries_its_exact_environment_for_the_scope_filter() -> None:
    env = [DesiredEnvironment(name="func-1", group="/func-1", apps=("redis",))]
    existing = {
        "redis.func-1": observed("redis.func-1", "redis", "func-1"),
        "redis.func-10": observed("redis.func-10", "redis", "func-10", query_id="q-10"),
    }
    # func-10 is not in the tree: the planner may name its query, the scope filter drops it (planning).
    actions = queries_of(env, ConsulObservation(queries=existing))
    assert {(a.target, a.env) for a in actions.values()} == {("redis.func-10", "func-10")}


def test_an_incomplete_marathon_observation_deletes_no_query() -> None:
    env = [DesiredEnvironment(name="integration", group="/integration", apps=("redis",))]
    existing = {"old-api.integration": observed("old-api.integration", "old-api", "integration")}
    actions = plan_queries(desired_of(environments=env), actual_of(complete=False), ConsulObservation(queries=existing))
    assert [a.kind for a in actions] == [ActionKind.QUERY_CREATE]


def test_foreign_query_holding_our_name_is_refused_not_overwritten() -> None:
    env = [DesiredEnvironment(name="integration", group="/integration", apps=("redis",))]
    existing = {"redis.integration": observed("redis.integration", "redis", "integration", managed=False)}
    action = queries_of(env, ConsulObservation(queries=existing))["redis.integration"]
    assert action.kind == ActionKind.WARN and action.outcome == Outcome.REFUSED


def test_incomplete_consul_or_empty_specs_delete_nothing() -> None:
    existing = {"redis.func-old": observed("redis.func-old", "redis", "func-old")}
    incomplete = ConsulObservation(queries=existing, complete=False)
    assert plan_queries(desired_of(environments=[ENVIRONMENTS[0]]), actual_of(), incomplete) == ()
    assert plan_queries(desired_of(environments=[]), actual_of(), ConsulObservation(queries=existing)) == ()
