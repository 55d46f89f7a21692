"""A Marathon app read straight from its parsed JSON when every field is plainly typed (adapter layer).

Validating 10,000 apps with pydantic and dumping each definition back out is most of a cold
`/v2/apps` decode. `actual_app_of_json` builds the same ActualApp from the parsed object when every
field wire.App reads has exactly the JSON type its model takes as it is, and answers None for anything
else (a missing id, `1.0` or `true` for a count, a field under its Python name): the caller then
validates with pydantic, so that a malformed app fails as it always did and a convertible one reads as
it always did. Only JSON as a parser gives it (string keys; str, int, float, bool, None, list, dict).
"""

from __future__ import annotations

from typing import Any, cast

from reconciler.core.model import ActualApp, ActualTask
from reconciler.marathon import wire
from reconciler.marathon.translate import HealthTimes, health_of, task_state

# wire.App's status fields as Marathon names them (their aliases); the rest of an app is its definition.
_STATUS = frozenset(wire.App.model_fields[name].alias or name for name in wire.APP_STATUS_FIELDS)
_TEXT_OR_NULL = frozenset({str, type(None)})
_LIST_OR_NULL = frozenset({list, type(None)})
_OBJECT_OR_NULL = frozenset({dict, type(None)})

# Keys pydantic takes as a field by its Python name (populate_by_name), not as an extra: left to it.
_APP_NAMES = frozenset(
    {
        "version_info",
        "tasks_staged",
        "tasks_running",
        "tasks_healthy",
        "tasks_unhealthy",
        "last_task_failure",
        "readiness_check_results",
        "task_stats",
    }
)
_TASK_NAMES = frozenset(
    {"app_id", "service_ports", "ip_addresses", "slave_id", "staged_at", "started_at", "health_check_results"}
)
_RESULT_NAMES = frozenset(
    {"consecutive_failures", "first_success", "last_success", "last_failure", "last_failure_cause", "task_id",
     "instance_id"}
)


def actual_app_of_json(raw: Any) -> ActualApp | None:
    """The ActualApp `to_actual_app(wire.App.model_validate(raw))` gives, or None when `raw` is not plainly
    typed (then that is the way to read it)."""
    if type(raw) is not dict or not _APP_NAMES.isdisjoint(raw) or not _plain_app_fields(raw):
        return None
    app_id: str = raw["id"]
    tasks = []
    for item in raw.get("tasks") or ():
        task = _task(item, app_id)
        if task is None:
            return None
        tasks.append(task)
    info = raw.get("versionInfo")
    return ActualApp(
        app_id=app_id,
        definition=_definition(raw, app_id),
        instances=raw.get("instances", 1),
        version=raw.get("version") or "",
        tasks=tuple(tasks),
        deployment_ids=tuple(ref["id"] for ref in raw.get("deployments") or ()),
        config_version=(info.get("lastConfigChangeAt") if info else None) or "",
    )


def _plain_app_fields(raw: dict[str, Any]) -> bool:
    """Whether the app's own fields (not its tasks) have the types wire.App takes as they are."""
    get = raw.get
    return (
        type(get("id")) is str
        and type(get("instances", 0)) is int
        and type(get("tasksStaged", 0)) is int
        and type(get("tasksRunning", 0)) is int
        and type(get("tasksHealthy", 0)) is int
        and type(get("tasksUnhealthy", 0)) is int
        and type(get("version")) in _TEXT_OR_NULL
        and type(get("tasks")) in _LIST_OR_NULL
        and type(get("lastTaskFailure")) in _OBJECT_OR_NULL
        and type(get("taskStats")) in _OBJECT_OR_NULL
        and _text_map(get("labels"))
        and _version_info(get("versionInfo"))
        and _objects(get("readinessCheckResults"))
        and _deployment_refs(get("deployments"))
    )


def _definition(raw: dict[str, Any], app_id: str) -> dict[str, Any]:
    """What `wire.App.definition()` dumps: the fields wire.App declares (id, instances, labels) first,
    in that order, then every other non-status field as sent (`update` leaves a key where it stands).
    The values are the parsed ones, not copies: nothing keeps or changes the parsed tree."""
    definition: dict[str, Any] = {"id": app_id}
    if "instances" in raw:
        definition["instances"] = raw["instances"]
    if "labels" in raw:
        definition["labels"] = raw["labels"]
    definition.update({key: value for key, value in raw.items() if key not in _STATUS})
    return definition


def _task(raw: Any, app_id: str) -> ActualTask | None:
    if type(raw) is not dict or not _TASK_NAMES.isdisjoint(raw):
        return None
    get = raw.get
    task_id = get("id")
    own_app, host, ports = get("appId", ""), get("host", ""), get("ports")
    agent, started_at, version, state = get("slaveId"), get("startedAt"), get("version"), get("state")
    results = get("healthCheckResults")
    plain = (
        type(task_id) is str
        and type(own_app) is str
        and type(host) is str
        and type(agent) in _TEXT_OR_NULL
        and type(started_at) in _TEXT_OR_NULL
        and type(version) in _TEXT_OR_NULL
        and type(state) in _TEXT_OR_NULL
        and type(get("stagedAt")) in _TEXT_OR_NULL
        and type(results) in _LIST_OR_NULL
        and _ints(ports)
        and _ints(get("servicePorts"))
        and _ip_addresses(get("ipAddresses"))
    )
    times = _health_times(results) if plain and results else []
    if not plain or times is None:
        return None
    healthy, since = health_of(times) if times else (None, None)
    return ActualTask(
        task_id=raw["id"],
        app_id=own_app or app_id,
        host=host,
        ports=tuple(ports) if ports else (),
        state=task_state(state, started_at),
        healthy=healthy,
        version=version or "",
        started_at=started_at,
        agent_id=agent or "",
        health_since=since,
    )


def _health_times(results: list[Any]) -> list[HealthTimes] | None:
    """What the verdict reads of each result, or None when one is not plainly a wire.HealthResult."""
    times: list[HealthTimes] = []
    for raw in results:
        if type(raw) is not dict or not _RESULT_NAMES.isdisjoint(raw):
            return None
        get = raw.get
        alive, first_success, last_success, last_failure = (
            get("alive"), get("firstSuccess"), get("lastSuccess"), get("lastFailure")
        )
        plain = (
            type(alive) is bool
            and type(get("consecutiveFailures", 0)) is int
            and type(first_success) in _TEXT_OR_NULL
            and type(last_success) in _TEXT_OR_NULL
            and type(last_failure) in _TEXT_OR_NULL
            and type(get("lastFailureCause")) in _TEXT_OR_NULL
            and type(get("taskId")) in _TEXT_OR_NULL
            and type(get("instanceId")) in _TEXT_OR_NULL
        )
        if not plain:
            return None
        times.append(cast(HealthTimes, (alive, first_success, last_success, last_failure)))
    return times


def _version_info(value: Any) -> bool:
    if value is None:
        return True
    if type(value) is not dict or "last_scaling_at" in value or "last_config_change_at" in value:
        return False
    return type(value.get("lastScalingAt")) in _TEXT_OR_NULL and type(value.get("lastConfigChangeAt")) in _TEXT_OR_NULL


# Lists below: absent or null (an empty list to every Marathon version), else a list of plain elements.


def _ints(value: Any) -> bool:
    if not value:
        return value is None or type(value) is list
    return type(value) is list and all(type(item) is int for item in value)


def _objects(value: Any) -> bool:
    if not value:
        return value is None or type(value) is list
    return type(value) is list and all(type(item) is dict for item in value)


def _deployment_refs(value: Any) -> bool:
    if not value:
        return value is None or type(value) is list
    return type(value) is list and all(type(item) is dict and type(item.get("id")) is str for item in value)


def _ip_addresses(value: Any) -> bool:
    if not value:
        return value is None or type(value) is list
    return type(value) is list and all(_ip_address(item) for item in value)


def _ip_address(raw: Any) -> bool:
    # An `ip_address` beside `ipAddress` stays an unread extra to pydantic too; alone, it fails the test here.
    return type(raw) is dict and type(raw.get("ipAddress")) is str and type(raw.get("protocol", "")) is str


def _text_map(value: Any) -> bool:
    return value is None or (type(value) is dict and all(type(text) is str for text in value.values()))
