"""Marathon wire models -> the core vocabulary (adapter layer).

Pure functions: an app becomes an ActualApp whose `definition` holds only definition fields (the
status fields Marathon adds are dropped, everything else is kept as sent; normalising is the core's
job), its tasks become ActualTasks with a TaskState and a health verdict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from reconciler.core.model import Actual, ActualApp, ActualDeployment, ActualTask, TaskState
from reconciler.marathon import wire

_STATES = {state.value: state for state in TaskState}


def task_state(state: str | None, started_at: str | None) -> TaskState:
    """A task's Mesos state; Marathon before ~1.2 sends none, so infer it from `startedAt`."""
    if state is None:
        return TaskState.RUNNING if started_at else TaskState.STAGING
    return _STATES.get(state, TaskState.UNKNOWN)


def to_task_state(task: wire.Task) -> TaskState:
    return task_state(task.state, task.started_at)


# core/task/Task.scala Task.Id.parse, in its order: with instance id and incarnation, with instance id,
# resident (legacy, with attempt), legacy. The first group is the run spec's PathId.safePath.
_TASK_IDS = (
    re.compile(r"^(.+)\.(instance-|marathon-)([^_.]+)[._]([^.]+)\.(\d+)$"),
    re.compile(r"^(.+)\.(instance-|marathon-)([^_.]+)[._]([^.]+)$"),
    re.compile(r"^(.+)([._])([^_.]+)(\.)(\d+)$"),
    re.compile(r"^(.+)([._])([^_.]+)$"),
)


def app_of_task_id(task_id: str) -> str | None:
    """The app a task id names, as Marathon reads it (Task.Id.parse, then PathId.fromSafePath: `_` is
    `/`, which no path segment may hold); None for an id Marathon would refuse. Marathon kills by
    this: a task id names its app's instance, not one incarnation of it (TasksResource.killTasks)."""
    for pattern in _TASK_IDS:
        found = pattern.match(task_id)
        if found:
            return "/" + found[1].replace("_", "/")
    return None


# What the health verdict reads of one health check result: alive, firstSuccess, lastSuccess, lastFailure.
HealthTimes = tuple[bool, str | None, str | None, str | None]


def health_of(results: Sequence[HealthTimes]) -> tuple[bool | None, str | None]:
    """The task's health verdict and since when it holds, from its health check results.

    Healthy when every result is alive, unhealthy when any is not, None without results. Since when:
    healthy, its first success after the last failure lies between that failure and the next check, so
    the later of `firstSuccess` and `lastFailure` stands for it; unhealthy, its `lastSuccess` (else
    `lastFailure`). ISO-8601 strings compare in order."""
    if not results:
        return None, None
    healthy = all(result[0] for result in results)
    if healthy:
        times = [t for result in results for t in (result[1], result[3])]
    else:
        times = [result[2] or result[3] for result in results if not result[0]]
    known = [t for t in times if t]
    return healthy, max(known) if known else None


def _health_times(task: wire.Task) -> list[HealthTimes]:
    return [(r.alive, r.first_success, r.last_success, r.last_failure) for r in task.health_check_results]


def to_health(task: wire.Task) -> bool | None:
    """True when every health check result is alive, False when any is not, None without results."""
    return health_of(_health_times(task))[0]


def to_health_since(task: wire.Task) -> str | None:
    """When the task's health verdict last changed (`health_of`)."""
    return health_of(_health_times(task))[1]


def to_actual_task(task: wire.Task, app_id: str = "") -> ActualTask:
    """`app_id` fills in for tasks that do not name their app (never the case in real responses)."""
    healthy, since = health_of(_health_times(task))
    return ActualTask(
        task_id=task.id,
        app_id=task.app_id or app_id,
        host=task.host,
        ports=tuple(task.ports),
        state=to_task_state(task),
        healthy=healthy,
        version=task.version or "",
        started_at=task.started_at,
        agent_id=task.slave_id or "",
        health_since=since,
    )


def to_actual_app(app: wire.App) -> ActualApp:
    return ActualApp(
        app_id=app.id,
        definition=app.definition(),
        instances=app.instances,
        version=app.version or "",
        tasks=tuple(to_actual_task(task, app.id) for task in app.tasks or ()),
        deployment_ids=tuple(ref.id for ref in app.deployments),
        config_version=(app.version_info.last_config_change_at if app.version_info else None) or "",
    )


def to_actual_deployment(d: wire.Deployment) -> ActualDeployment:
    return ActualDeployment(
        deployment_id=d.id,
        affected_apps=tuple(d.affected_apps),
        current_step=d.current_step,
        total_steps=d.total_steps or len(d.steps),
        version=d.version,
    )


def to_actual(apps: Iterable[wire.App], deployments: Iterable[wire.Deployment]) -> Actual:
    """A complete observation of Marathon, apps keyed by absolute id."""
    return Actual(
        apps={app.id: to_actual_app(app) for app in apps},
        deployments=tuple(to_actual_deployment(d) for d in deployments),
    )
