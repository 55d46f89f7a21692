"""Wire models across Marathon versions and their translation to the core vocabulary (own fixtures)."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.core.model import TaskState
from reconciler.marathon import wire
from reconciler.marathon.translate import app_of_task_id, to_actual, to_actual_app, to_actual_deployment, to_actual_task

STATUS = {
    "version": "2024-05-01T10:00:00.000Z",
    "versionInfo": {"lastScalingAt": "2024-05-01T10:00:00.000Z", "lastConfigChangeAt": "2024-04-30T09:00:00.000Z"},
    "tasksStaged": 0,
    "tasksRunning": 1,
    "tasksHealthy": 1,
    "tasksUnhealthy": 0,
    "deployments": [{"id": "d-1"}],
    "lastTaskFailure": {"appId": "/integration/redis", "state": "TASK_FAILED"},
    "readinessCheckResults": [],
    "taskStats": {"totalSummary": {"stats": {"counts": {"running": 1}}}},
}
DEFINITION = {
    "id": "/integration/redis",
    "instances": 2,
    "cpus": 0.25,
    "mem": 256,
    "container": {"type": "DOCKER", "docker": {"image": "redis:7"}, "portMappings": [{"containerPort": 6379}]},
    "labels": {"reconciler.managed-by": "marathon-reconciler"},
    "env": {"PASSWORD": {"secret": "db"}},
    "args": None,
    "uris": [],
    "someFutureField": {"kept": True},
}


def task(**fields: Any) -> dict[str, Any]:
    return {
        "id": "integration_redis.4f2a",
        "appId": "/integration/redis",
        "host": "127.0.0.2",
        "ports": [31001],
    } | fields


def test_definition_drops_status_fields_and_keeps_the_rest_as_sent() -> None:
    app = wire.App.model_validate(DEFINITION | STATUS | {"tasks": [task(state="TASK_RUNNING")]})
    actual = to_actual_app(app)
    assert actual.definition == DEFINITION
    assert actual.app_id == "/integration/redis" and actual.instances == 2 and actual.managed
    assert actual.version == "2024-05-01T10:00:00.000Z"
    assert actual.deployment_ids == ("d-1",)
    assert actual.config_version == "2024-04-30T09:00:00.000Z"  # a scale moved `version`, not this


def test_definition_of_a_marathon_15_app_omitting_empty_fields() -> None:
    app = wire.App.model_validate({"id": "/web", "instances": 1, "networks": [{"mode": "container/bridge"}]})
    actual = to_actual_app(app)
    assert actual.definition == {"id": "/web", "instances": 1, "networks": [{"mode": "container/bridge"}]}
    assert actual.tasks == () and actual.labels == {} and not actual.managed and actual.config_version == ""


def test_null_collections_of_old_marathons_read_as_empty() -> None:
    app = wire.App.model_validate(
        {"id": "/a", "deployments": None, "tasks": [task(ports=None, healthCheckResults=None)]}
    )
    assert app.deployments == [] and app.tasks is not None
    assert app.tasks[0].ports == [] and app.tasks[0].health_check_results == []


@pytest.mark.parametrize(
    ("fields", "state"),
    [
        ({"state": "TASK_RUNNING"}, TaskState.RUNNING),
        ({"state": "TASK_STAGING"}, TaskState.STAGING),
        ({"state": "TASK_UNREACHABLE"}, TaskState.UNREACHABLE),
        ({"state": "TASK_SOMETHING_NEW"}, TaskState.UNKNOWN),
        ({"startedAt": "2015-08-26T20:23:44.678Z"}, TaskState.RUNNING),  # 0.x: no state, started
        ({"stagedAt": "2015-08-26T20:23:39.463Z"}, TaskState.STAGING),  # 0.x: no state, not started
    ],
)
def test_task_state(fields: dict[str, Any], state: TaskState) -> None:
    assert to_actual_task(wire.Task.model_validate(task(**fields))).state is state


def result(alive: bool, key: str = "instanceId") -> dict[str, Any]:
    return {"alive": alive, "consecutiveFailures": 0 if alive else 3, key: "integration_redis.4f2a"}


@pytest.mark.parametrize(
    ("results", "healthy"),
    [
        (None, None),
        ([], None),
        ([result(True)], True),
        ([result(True, "taskId")], True),
        ([result(True), result(True)], True),
        ([result(True), result(False)], False),
        ([result(False, "taskId")], False),
    ],
)
def test_task_health(results: list[dict[str, Any]] | None, healthy: bool | None) -> None:
    fields = {} if results is None else {"healthCheckResults": results}
    assert to_actual_task(wire.Task.model_validate(task(**fields))).healthy is healthy


T1, T2, T3 = "2026-03-01T12:00:01.000Z", "2026-03-01T12:00:05.000Z", "2026-03-01T12:00:09.000Z"


@pytest.mark.parametrize(
    ("results", "since"),
    [
        (None, None),
        ([{"alive": True, "firstSuccess": T1, "lastSuccess": T3}], T1),  # healthy since its first success
        ([{"alive": True, "firstSuccess": T1, "lastFailure": T2, "lastSuccess": T3}], T2),  # healthy again after T2
        ([{"alive": False, "firstSuccess": T1, "lastSuccess": T2, "lastFailure": T3}], T2),  # unhealthy after T2
        ([{"alive": False, "lastFailure": T3}], T3),  # never healthy
        ([{"alive": True, "firstSuccess": T1}, {"alive": False, "lastSuccess": T2, "lastFailure": T3}], T2),
    ],
)
def test_health_since_is_when_the_verdict_last_changed(results: list[dict[str, Any]] | None, since: str | None) -> None:
    fields = {} if results is None else {"healthCheckResults": results}
    assert to_actual_task(wire.Task.model_validate(task(**fields))).health_since == since


def test_task_fields_reach_the_core() -> None:
    wired = wire.Task.model_validate(
        task(
            id="integration_redis.instance-1f2e._app.2",
            ports=[31001, 31002],
            slaveId="agent-7",
            version="2024-05-01T10:00:00.000Z",
            startedAt="2024-05-01T10:00:05.000Z",
            state="TASK_RUNNING",
        )
    )
    actual = to_actual_task(wired)
    assert actual.task_id == "integration_redis.instance-1f2e._app.2"
    assert (actual.app_id, actual.host, actual.ports, actual.agent_id) == (
        "/integration/redis",
        "127.0.0.2",
        (31001, 31002),
        "agent-7",
    )
    assert actual.started_at == "2024-05-01T10:00:05.000Z" and actual.version == "2024-05-01T10:00:00.000Z"


STEP_ACTIONS = [{"action": "StartApplication", "app": "/integration/web"}]


@pytest.mark.parametrize(
    "steps",
    [
        [STEP_ACTIONS, [{"action": "ScaleApplication", "app": "/integration/web"}]],  # 0.x: bare lists
        [{"actions": STEP_ACTIONS}, {"actions": [{"action": "ScaleApplication", "app": "/integration/web"}]}],
        [
            {"actions": [{"type": "StartApplication", "app": "/integration/web"}]},
            {"actions": [{"type": "ScaleApplication", "app": "/integration/web"}]},
        ],
    ],
)
def test_both_deployment_step_shapes(steps: list[Any]) -> None:
    body = {"id": "d-9", "version": "v", "affectedApps": ["/integration/web"], "steps": steps, "currentStep": 1}
    deployment = wire.Deployment.model_validate(body)
    assert [[(a.action, a.app) for a in s.actions] for s in deployment.steps] == [
        [("StartApplication", "/integration/web")],
        [("ScaleApplication", "/integration/web")],
    ]
    actual = to_actual_deployment(deployment)
    assert (actual.deployment_id, actual.affected_apps, actual.current_step) == ("d-9", ("/integration/web",), 1)
    assert actual.total_steps == 2  # from the steps when totalSteps is absent


def test_to_actual_keys_apps_by_id() -> None:
    apps = [wire.App.model_validate({"id": f"/e/app-{i}", "instances": i}) for i in range(3)]
    actual = to_actual(apps, [wire.Deployment.model_validate({"id": "d-1", "affectedApps": ["/e/app-1"]})])
    assert {k: v.instances for k, v in actual.apps.items()} == {"/e/app-0": 0, "/e/app-1": 1, "/e/app-2": 2}
    assert [d.deployment_id for d in actual.deployments] == ["d-1"] and actual.complete


def test_light_and_heavy_event_plans() -> None:
    light = {"id": "p-1", "version": "v", "steps": [{"actions": [{"action": "RestartApplication", "app": "/a"}]}]}
    heavy = light | {
        "original": {"id": "/", "apps": [{"id": "/a"}]},
        "target": {"id": "/", "groups": [{"id": "/g", "apps": [{"id": "/g/b"}]}]},
    }
    for body, is_heavy in ((light, False), (heavy, True)):
        event = wire.Event.model_validate({"eventType": "deployment_success", "plan": body})
        assert event.plan is not None and event.plan.heavy is is_heavy
        assert event.plan.affected_apps() == ["/a"]
    plan = wire.DeploymentPlan.model_validate(heavy)
    assert plan.target is not None and [a.id for a in plan.target.all_apps()] == ["/g/b"]


@pytest.mark.parametrize(
    ("task_id", "app_id"),
    [
        # Task.Id.parse's four forms (core/task/Task.scala), the run spec written PathId.safePath.
        ("shop_web.instance-6f1c2b9e-7714-11e7-a55c-5ecf1c4671f6._app.2", "/shop/web"),
        ("shop_web.marathon-6f1c2b9e-7714-11e7-a55c-5ecf1c4671f6._app", "/shop/web"),
        ("db.b6ff5fa5-7714-11e7-a55c-5ecf1c4671f6.41", "/db"),
        ("a_b_c.b6ff5fa5-7714-11e7-a55c-5ecf1c4671f6", "/a/b/c"),
        ("no-separator", None),
    ],
)
def test_app_of_task_id_reads_the_id_as_marathon_does(task_id: str, app_id: str | None) -> None:
    assert app_of_task_id(task_id) == app_id
