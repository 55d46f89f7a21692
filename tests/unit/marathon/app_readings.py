"""Marathon app bodies with every field wire.App models, and two readings of a `/v2/apps` answer's apps, for
tests: the one observe makes (AppMemo: the plain-JSON reading, pydantic where it declines) and the one it
made before the plain reading existed (pydantic)."""

from __future__ import annotations

import copy
from typing import Any

import pydantic

from reconciler.marathon import wire
from reconciler.marathon.app_memo import AppMemo
from reconciler.marathon.plain_json import actual_app_of_json
from reconciler.marathon.translate import to_actual_app

Json = Any


def pydantic_reading(raw_apps: Json) -> str:
    """What observe made of `body["apps"]` before the plain reading: every app validated, then translated."""
    try:
        apps = wire.AppList.model_validate({"apps": raw_apps}).apps
    except pydantic.ValidationError as exc:
        return f"ValidationError: {exc}"
    return repr({app.id: to_actual_app(app) for app in apps})


def memo_reading(raw_apps: Json) -> str:
    try:
        return repr(AppMemo().translate(copy.deepcopy(raw_apps)))
    except pydantic.ValidationError as exc:
        return f"ValidationError: {exc}"


def assert_same_reading(raw_apps: Json) -> None:
    assert memo_reading(raw_apps) == pydantic_reading(raw_apps)
    for raw in raw_apps:
        plain = actual_app_of_json(copy.deepcopy(raw))
        if plain is not None:
            expected = to_actual_app(wire.App.model_validate(raw))
            assert plain == expected and repr(plain) == repr(expected)


HEALTHY = {
    "alive": True,
    "consecutiveFailures": 0,
    "firstSuccess": "2026-01-01T00:00:02.000Z",
    "lastSuccess": "2026-01-01T00:05:02.000Z",
    "lastFailure": "2026-01-01T00:00:01.500Z",
    "lastFailureCause": None,
    "instanceId": "web.marathon-1",
}
FAILING = {
    "alive": False,
    "consecutiveFailures": 3,
    "firstSuccess": "2026-01-01T00:00:02.000Z",
    "lastSuccess": "2026-01-01T00:04:02.000Z",
    "lastFailure": "2026-01-01T00:05:02.000Z",
    "lastFailureCause": "connection refused",
    "taskId": "web.1",
}


def full_task(n: int = 1, **fields: Json) -> dict[str, Json]:
    """A task with every field wire.Task models, as Marathon 1.9 sends it."""
    return {
        "id": f"web.instance-{n}._app.1",
        "appId": "/e/web",
        "host": "10.0.0.7",
        "slaveId": "agent-S1",
        "ports": [31000 + n],
        "servicePorts": [10000],
        "ipAddresses": [{"ipAddress": "10.0.0.7", "protocol": "IPv4"}],
        "stagedAt": "2026-01-01T00:00:00.100Z",
        "startedAt": "2026-01-01T00:00:01.000Z",
        "version": "2026-01-01T00:00:00.000Z",
        "state": "TASK_RUNNING",
        "healthCheckResults": [HEALTHY],
        "localVolumes": [],
        "role": "*",
    } | fields


def full_app(**fields: Json) -> dict[str, Json]:
    """An app with every field wire.App models, the definition fields in Marathon's own order."""
    return {
        "id": "/e/web",
        "backoffFactor": 1.15,
        "cmd": "serve",
        "cpus": 0.5,
        "instances": 2,
        "labels": {"reconciler.managed-by": "marathon-reconciler", "team": "a"},
        "mem": 128,
        "env": {"MODE": "prod", "PASSWORD": {"secret": "db"}},
        "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/health", "portIndex": 0}],
        "portDefinitions": [{"port": 10000, "protocol": "tcp", "name": "http"}],
        "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1},
        "args": None,
        "uris": [],
        "version": "2026-01-02T00:00:00.000Z",
        "versionInfo": {"lastScalingAt": "2026-01-02T00:00:00.000Z", "lastConfigChangeAt": "2026-01-01T00:00:00.000Z"},
        "tasksStaged": 0,
        "tasksRunning": 2,
        "tasksHealthy": 1,
        "tasksUnhealthy": 1,
        "deployments": [{"id": "d-1"}],
        "lastTaskFailure": {"appId": "/e/web", "state": "TASK_FAILED", "message": "oom"},
        "readinessCheckResults": [{"name": "ready", "taskId": "web.1", "ready": True}],
        "taskStats": {"totalSummary": {"stats": {"counts": {"running": 2}}}},
        "tasks": [full_task(1), full_task(2, healthCheckResults=[HEALTHY, FAILING])],
    } | fields
