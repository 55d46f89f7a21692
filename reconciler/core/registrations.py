"""Consul registrations (pure core): what to register and deregister in Consul so that it matches
Marathon's running tasks (the DNS queries are core/queries.py).

Action bodies are Consul's own JSON (PascalCase): a REGISTER body is the agent registration and goes
to the agent on the task's host (`Address`); a DEREGISTER body carries the ids it needs. Nothing
destructive is planned from an incomplete observation. docs/healing.md explains the rules.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import partial
from itertools import chain
from operator import itemgetter
from typing import Any, NamedTuple

from reconciler.core.decision_memo import IdentityMemo
from reconciler.core.model import (
    Action,
    ActionKind,
    Actual,
    ActualApp,
    ActualTask,
    Desired,
    HealPolicy,
    TaskState,
)
from reconciler.core.naming import APP_LABEL, ENV_LABEL
from reconciler.core.registry import (
    MANAGED_TAG,
    META_APP_ID,
    META_APP_VERSION,
    META_ENVIRONMENT,
    META_TASK_ID,
    ConsulObservation,
    ServiceInstance,
)

# States after which a task never runs again: its registration goes.
TERMINAL_STATES = frozenset(
    {
        TaskState.KILLED,
        TaskState.FINISHED,
        TaskState.FAILED,
        TaskState.LOST,
        TaskState.GONE,
        TaskState.DROPPED,
        TaskState.ERROR,
    }
)
HTTP_PROTOCOLS = frozenset({"HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS"})
TCP_PROTOCOLS = frozenset({"TCP", "MESOS_TCP"})
DEFAULT_INTERVAL_SECONDS = 10  # for the TCP check of an app without a usable Marathon health check
DEFAULT_TIMEOUT_SECONDS = 5
MIN_DEREGISTER_SECONDS = 60  # Consul's minimum for DeregisterCriticalServiceAfter


def service_id_of(app_id: str, task_id: str) -> str:
    """The stable Consul service id of a task: `<app id, '/' as '_'>.<task id>`.

    Marathon task ids already start with that prefix (`env_app.instance-...`), so it is not repeated.
    """
    prefix = app_id.strip("/").replace("/", "_")
    return task_id if task_id.startswith(prefix + ".") else f"{prefix}.{task_id}"


def is_registrable(task: ActualTask) -> bool:
    return task.state == TaskState.RUNNING


def identity_of(app: ActualApp, desired: Desired) -> tuple[str, str] | None:
    """(environment, app name) of a managed app: its ownership labels, else its desired entry."""
    env, name = app.labels.get(ENV_LABEL), app.labels.get(APP_LABEL)
    if env and name:
        return env, name
    wanted = desired.apps.get(app.app_id)
    return (wanted.env, wanted.name) if wanted else None


def _seconds(value: Any, default: int) -> int:
    return int(value) if isinstance(value, int | float) and value > 0 else default


def check_of(definition: Mapping[str, Any], task: ActualTask, heal: HealPolicy) -> dict[str, Any] | None:
    """The Consul check of a task, from the app's first Marathon health check, else TCP on its port.

    DeregisterCriticalServiceAfter outlives the heal grace window, so healing acts first and Consul's
    reaper only cleans up what nobody healed. None when the task has no port to check.
    """
    health_checks = definition.get("healthChecks") or []
    first: Mapping[str, Any] = health_checks[0] if health_checks else {}
    protocol = str(first.get("protocol", "HTTP")).upper() if first else ""
    index = first.get("portIndex", 0) if isinstance(first.get("portIndex", 0), int) else 0
    port = first.get("port") or (task.ports[index] if index < len(task.ports) else None)
    if not port:
        return None
    interval = _seconds(first.get("intervalSeconds"), 60) if first else DEFAULT_INTERVAL_SECONDS
    timeout = _seconds(first.get("timeoutSeconds"), 20) if first else DEFAULT_TIMEOUT_SECONDS
    # COMMAND checks run inside the task's sandbox, which Consul cannot do: a TCP check stands in
    derived = protocol in HTTP_PROTOCOLS or protocol in TCP_PROTOCOLS
    check: dict[str, Any] = {"Name": f"marathon {protocol.lower()} check" if derived else "tcp check"}
    if protocol in HTTP_PROTOCOLS:
        scheme = "https" if protocol.endswith("HTTPS") else "http"
        check["HTTP"] = f"{scheme}://{task.host}:{port}{first.get('path') or '/'}"
    else:
        check["TCP"] = f"{task.host}:{port}"
    deregister_after = max(MIN_DEREGISTER_SECONDS, math.ceil(2 * heal.critical_for_seconds) + interval)
    check.update(Interval=f"{interval}s", Timeout=f"{timeout}s", DeregisterCriticalServiceAfter=f"{deregister_after}s")
    if task.healthy:  # Marathon already saw it healthy: do not start critical (Consul's default)
        check["Status"] = "passing"
    return check


def registration_of(app: ActualApp, task: ActualTask, env: str, name: str, heal: HealPolicy) -> dict[str, Any]:
    """The body of `PUT /v1/agent/service/register` for one running task."""
    return with_check(registration_fields(app, task, env, name), app, task, heal)


def with_check(body: dict[str, Any], app: ActualApp, task: ActualTask, heal: HealPolicy) -> dict[str, Any]:
    check = check_of(app.definition, task, heal)
    return {**body, "Check": check} if check is not None else body


def registration_fields(app: ActualApp, task: ActualTask, env: str, name: str) -> dict[str, Any]:
    """A registration without its check: what is compared with the observed instance."""
    return {
        "ID": service_id_of(app.app_id, task.task_id),
        "Name": name,
        "Tags": [env, MANAGED_TAG],
        "Address": task.host,
        "Port": task.ports[0] if task.ports else 0,
        "Meta": {
            META_APP_ID: app.app_id,
            META_TASK_ID: task.task_id,
            META_APP_VERSION: task.version or app.version,
            META_ENVIRONMENT: env,
        },
    }


def registration_changes(body: Mapping[str, Any], instance: ServiceInstance) -> tuple[str, ...]:
    """Registration fields whose observed value differs (checks are Consul's to run, not compared)."""
    observed = {
        "Name": instance.name,
        "Tags": sorted(instance.tags),
        "Address": instance.address,
        "Port": instance.port,
        "Meta": dict(instance.meta),
    }
    wanted = {**{key: body[key] for key in observed}, "Tags": sorted(body["Tags"])}
    return tuple(key for key in observed if observed[key] != wanted[key])


@dataclass(frozen=True)
class Wanted:
    """One running task's registration, its check left out until an action needs it (an idle cycle
    compares every task's registration, and the check is not compared)."""

    env: str
    fields: dict[str, Any]
    task: ActualTask
    app: ActualApp
    heal: HealPolicy

    def body(self) -> dict[str, Any]:
        return with_check(self.fields, self.app, self.task, self.heal)


def wanted_registrations(desired: Desired, actual: Actual) -> Iterator[Wanted]:
    """The registration of every running task of every managed app."""
    for app in sorted(actual.apps.values(), key=lambda a: a.app_id):
        yield from wanted_of_app(app, desired)


def wanted_of_app(app: ActualApp, desired: Desired) -> Iterator[Wanted]:
    """The registrations of one app's running tasks (none for an app that is not managed)."""
    identity = identity_of(app, desired) if app.managed else None
    if identity is None:
        return
    wanted = desired.apps.get(app.app_id)
    heal = wanted.heal if wanted else HealPolicy()
    for task in sorted(app.tasks, key=lambda t: t.task_id):
        if is_registrable(task):
            yield Wanted(identity[0], registration_fields(app, task, identity[0], identity[1]), task, app, heal)


def register_action(env: str, body: Mapping[str, Any], reason: str) -> Action:
    return Action(kind=ActionKind.REGISTER, target=body["ID"], reason=reason, env=env, body=body)


def deregister_action(instance: ServiceInstance, reason: str) -> Action:
    body = {
        "ServiceID": instance.service_id,
        "Node": instance.node,
        "AgentAddress": instance.agent_address,
        "Name": instance.name,  # the app's name, for the per-app summary of a plan (not sent)
    }
    return Action(
        kind=ActionKind.DEREGISTER, target=instance.service_id, reason=reason, env=instance.environment, body=body
    )


def deregister_reason(instance: ServiceInstance, tasks: Mapping[str, ActualTask], wanted_ids: set[str]) -> str | None:
    """Why a managed instance that matches no wanted registration must go, or None to leave it."""
    task = tasks.get(instance.task_id)
    if task is None:
        return f"task {instance.task_id or '(none)'} of {instance.app_id or '(no app)'} is gone"
    if task.state == TaskState.KILLING:
        return f"task {task.task_id} is being killed: deregistered before it dies"
    if task.state in TERMINAL_STATES:
        return f"task {task.task_id} is {task.state}"
    if task.state == TaskState.RUNNING and service_id_of(task.app_id, task.task_id) in wanted_ids:
        return f"duplicate registration of task {task.task_id} (kept {service_id_of(task.app_id, task.task_id)})"
    return None


def plan_registrations(
    desired: Desired, actual: Actual, consul: ConsulObservation, memo: IdentityMemo[AppRegistrations] | None = None,
    changed: AbstractSet[str] | None = None,
) -> tuple[Action, ...]:
    """REGISTER for running tasks without a matching instance, DEREGISTER for instances of gone tasks.

    With `memo`, an app whose ActualApp, desired entry and matching instances are the objects of the
    previous call is not decided again; with `changed` too (the app ids whose inputs may differ from the
    previous call's), no other app's inputs are even looked up."""
    if not consul.complete:
        return ()
    existing = consul.managed_by_id
    memo = IdentityMemo() if memo is None else memo
    apps = actual.apps
    with memo.pass_(partial(sorted, apps), changed) as deciding:
        for app_id in deciding:
            app = apps.get(app_id)
            if app is None:
                continue
            found = _instances_of(app, existing)
            inputs = (app, desired.apps.get(app_id), *found)
            memo.get(app_id, inputs, partial(_app_registrations, app, desired, existing, found))
    decided = memo.values()
    actions = list(chain.from_iterable(map(_ACTIONS, decided)))
    wanted_ids = set(chain.from_iterable(map(_SERVICE_IDS, decided)))
    stale = existing.keys() - wanted_ids
    if actual.complete and stale:
        tasks = {t.task_id: t for app in apps.values() for t in app.tasks}
        for service_id in sorted(stale):
            instance = existing[service_id]
            reason = deregister_reason(instance, tasks, wanted_ids)
            if reason is not None:
                actions.append(deregister_action(instance, reason))
    return tuple(actions)


_SERVICE_IDS, _ACTIONS = itemgetter(0), itemgetter(1)  # of an AppRegistrations
_ABSENT = object()
_RUNNING = TaskState.RUNNING  # an enum member read once: each read costs as much as the test it is for


class AppRegistrations(NamedTuple):
    """One app's wanted service ids and the REGISTER actions they need (a tuple: one per app, cheap to make)."""

    service_ids: tuple[str, ...]
    actions: tuple[Action, ...]


_NOTHING_WANTED = AppRegistrations((), ())


def _by_task_id(pair: tuple[ActualTask, ServiceInstance | None]) -> str:
    return pair[0].task_id


def _instances_of(app: ActualApp, existing: Mapping[str, ServiceInstance]) -> list[ServiceInstance | None]:
    """The instance each task's service id names (None: none), what an app's registrations compare with."""
    if not app.managed:
        return []
    get, app_id = existing.get, app.app_id
    return [get(service_id_of(app_id, task.task_id)) for task in app.tasks]


def _app_registrations(
    app: ActualApp, desired: Desired, existing: Mapping[str, ServiceInstance], found: list[ServiceInstance | None]
) -> AppRegistrations:
    return _all_registered(app, desired, found) or app_registrations(app, desired, existing)


def _all_registered(app: ActualApp, desired: Desired, found: list[ServiceInstance | None]) -> AppRegistrations | None:
    """The common case decided without building any registration: every running task of the app has its
    instance (`found`, task by task) registered as `app_registrations` wants it, so there is nothing to
    register. None when any is missing or differs: `app_registrations` decides, and says why."""
    identity = identity_of(app, desired) if app.managed else None
    if identity is None:
        return _NOTHING_WANTED
    env, name = identity
    tasks = app.tasks
    pairs: Iterator[tuple[ActualTask, ServiceInstance | None]] = zip(tasks, found, strict=True)
    if len(tasks) > 1:
        pairs = iter(sorted(pairs, key=_by_task_id))
    ids = []
    for task, instance in pairs:
        if task.state != _RUNNING:  # is_registrable
            continue
        if instance is None or not _registered_as_wanted(instance, app, task, env, name):
            return None
        ids.append(instance.service_id)
    return AppRegistrations(tuple(ids), ())


def _registered_as_wanted(instance: ServiceInstance, app: ActualApp, task: ActualTask, env: str, name: str) -> bool:
    """`registration_changes(registration_fields(app, task, env, name), instance)` is empty, field by field."""
    tags, meta = instance.tags, instance.meta
    return (
        instance.name == name
        and instance.address == task.host
        and instance.port == (task.ports[0] if task.ports else 0)
        and tags in ((env, MANAGED_TAG), (MANAGED_TAG, env))
        and len(meta) == 4
        and meta.get(META_APP_ID, _ABSENT) == app.app_id
        and meta.get(META_TASK_ID, _ABSENT) == task.task_id
        and meta.get(META_APP_VERSION, _ABSENT) == (task.version or app.version)
        and meta.get(META_ENVIRONMENT, _ABSENT) == env
    )


def app_registrations(app: ActualApp, desired: Desired, existing: Mapping[str, ServiceInstance]) -> AppRegistrations:
    """The REGISTER actions of one app's running tasks whose instance is missing or differs."""
    ids: list[str] = []
    actions: list[Action] = []
    for wanted in wanted_of_app(app, desired):
        service_id = wanted.fields["ID"]
        ids.append(service_id)
        instance = existing.get(service_id)
        if instance is None:
            missing = f"task {wanted.task.task_id} is running without a registration"
            actions.append(register_action(wanted.env, wanted.body(), missing))
        elif changes := registration_changes(wanted.fields, instance):
            actions.append(register_action(wanted.env, wanted.body(), "registration differs: " + ", ".join(changes)))
    return AppRegistrations(tuple(ids), tuple(actions))
