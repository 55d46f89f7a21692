"""Builders of small Desired / Actual / ConsulObservation worlds for the Consul decision tests."""

from __future__ import annotations

from typing import Any

from reconciler.core.model import (
    Actual,
    ActualApp,
    ActualTask,
    Desired,
    DesiredApp,
    DesiredEnvironment,
    HealPolicy,
    TaskState,
)
from reconciler.core.naming import APP_LABEL, ENV_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE
from reconciler.core.registrations import service_id_of
from reconciler.core.registry import (
    MANAGED_TAG,
    META_APP_ID,
    META_APP_VERSION,
    META_ENVIRONMENT,
    META_TASK_ID,
    CheckStatus,
    ServiceInstance,
)

HTTP_CHECK = {"protocol": "HTTP", "path": "/health", "portIndex": 0, "intervalSeconds": 5, "timeoutSeconds": 2}


def definition(env: str, name: str, **extra: Any) -> dict[str, Any]:
    labels = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, ENV_LABEL: env, APP_LABEL: name}
    return {"id": f"/{env}/{name}", "labels": labels, "instances": extra.pop("instances", 1), **extra}


def desired_app(env: str, name: str, instances: int = 1, heal: HealPolicy | None = None, **extra: Any) -> DesiredApp:
    return DesiredApp(
        app_id=f"/{env}/{name}",
        env=env,
        name=name,
        definition=definition(env, name, instances=instances, **extra),
        instances=instances,
        heal=heal or HealPolicy(),
    )


def task(app_id: str, n: int, state: TaskState = TaskState.RUNNING, healthy: bool | None = True) -> ActualTask:
    prefix = app_id.strip("/").replace("/", "_")
    return ActualTask(
        task_id=f"{prefix}.t{n}",
        app_id=app_id,
        host=f"127.0.0.{n + 1}",
        ports=(31000 + n,),
        state=state,
        healthy=healthy,
        version="2024-01-01T00:00:00.000Z",
    )


def actual_app(wanted: DesiredApp, tasks: list[ActualTask], managed: bool = True, **kw: Any) -> ActualApp:
    body = dict(wanted.definition)
    if not managed:
        body["labels"] = {}
    return ActualApp(app_id=wanted.app_id, definition=body, instances=wanted.instances, tasks=tuple(tasks), **kw)


def instance_of(
    t: ActualTask,
    env: str,
    name: str,
    status: CheckStatus | None = CheckStatus.PASSING,
    service_id: str | None = None,
    output: str = "",
) -> ServiceInstance:
    return ServiceInstance(
        service_id=service_id or service_id_of(t.app_id, t.task_id),
        name=name,
        node=f"node-{t.host}",
        agent_address=t.host,
        address=t.host,
        port=t.ports[0],
        tags=(env, MANAGED_TAG),
        meta={META_APP_ID: t.app_id, META_TASK_ID: t.task_id, META_APP_VERSION: t.version, META_ENVIRONMENT: env},
        status=status,
        output=output,
    )


def desired_of(*apps: DesiredApp, environments: list[DesiredEnvironment] | None = None) -> Desired:
    envs = environments or [DesiredEnvironment(name=a.env, group=f"/{a.env}", apps=(a.name,)) for a in apps]
    return Desired(environments={e.name: e for e in envs}, apps={a.app_id: a for a in apps})


def actual_of(*apps: ActualApp, complete: bool = True) -> Actual:
    return Actual(apps={a.app_id: a for a in apps}, complete=complete)
