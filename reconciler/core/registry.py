"""Consul's side of the world in the core vocabulary (pure core): instances, check status, queries.

The Consul adapter translates its wire models into these values; registrations, DNS queries and
healing decide from them. Ownership: an instance or prepared query is the reconciler's when it carries
MANAGED_TAG; nothing else in Consul is ever changed or deleted.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

MANAGED_TAG = "managed-by-reconciler"

# Service meta keys of a registration (Consul meta keys allow letters, digits, '-' and '_').
META_APP_ID = "marathon-app-id"
META_TASK_ID = "marathon-task-id"
META_APP_VERSION = "marathon-app-version"
META_ENVIRONMENT = "environment"

NODE_MAINTENANCE_CHECK = "_node_maintenance"
SERVICE_MAINTENANCE_PREFIX = "_service_maintenance:"


class CheckStatus(StrEnum):
    """The aggregated status of an instance, worst first: maintenance > critical > warning > passing."""

    PASSING = "passing"
    WARNING = "warning"
    CRITICAL = "critical"
    MAINTENANCE = "maintenance"


_SEVERITY = {CheckStatus.PASSING: 0, CheckStatus.WARNING: 1, CheckStatus.CRITICAL: 2}


def aggregate_status(checks: Iterable[tuple[str, str]]) -> CheckStatus | None:
    """Consul's `AggregatedStatus` over (check id, status) pairs, node and service checks together.

    No checks is passing; a maintenance check wins over everything; an unknown status string makes
    the result undefined (None), as in Consul's own client.
    """
    worst = CheckStatus.PASSING
    for check_id, status in checks:
        if check_id == NODE_MAINTENANCE_CHECK or check_id.startswith(SERVICE_MAINTENANCE_PREFIX):
            return CheckStatus.MAINTENANCE
        if status not in _SEVERITY:
            return None
        if _SEVERITY[CheckStatus(status)] > _SEVERITY[worst]:
            worst = CheckStatus(status)
    return worst


@dataclass(frozen=True)
class ServiceInstance:
    """One Consul service instance with its aggregated status.

    `agent_address` is the address of the node whose agent holds the registration (deregistration must
    go there); `address` is the instance's own address (the task's host); `output` is the text of the
    checks that are not passing, for reasons and warnings.
    """

    service_id: str
    name: str
    node: str
    agent_address: str
    address: str
    port: int
    tags: tuple[str, ...] = ()
    meta: Mapping[str, str] = field(default_factory=dict)
    status: CheckStatus | None = CheckStatus.PASSING
    output: str = ""

    @property
    def managed(self) -> bool:
        return MANAGED_TAG in self.tags

    @property
    def app_id(self) -> str:
        return self.meta.get(META_APP_ID, "")

    @property
    def task_id(self) -> str:
        return self.meta.get(META_TASK_ID, "")

    @property
    def app_version(self) -> str:
        return self.meta.get(META_APP_VERSION, "")

    @property
    def environment(self) -> str:
        return self.meta.get(META_ENVIRONMENT, "")


@dataclass(frozen=True)
class DesiredQuery:
    """A prepared query the reconciler keeps: `name` is `<app>.<env>`, it serves `service` instances
    carrying every tag in `tags` (the environment that runs the app, and MANAGED_TAG)."""

    name: str
    service: str
    tags: tuple[str, ...]
    only_passing: bool = True
    env: str = ""

    def same_as(self, other: ObservedQuery) -> bool:
        """Whether `other` already resolves like this query (tag order does not matter to Consul)."""
        return (
            other.service == self.service
            and (other.tags == self.tags or sorted(other.tags) == sorted(self.tags))
            and other.only_passing == self.only_passing
        )


@dataclass(frozen=True)
class ObservedQuery:
    """A prepared query as Consul has it."""

    query_id: str
    name: str
    service: str
    tags: tuple[str, ...] = ()
    only_passing: bool = False

    @property
    def managed(self) -> bool:
        return MANAGED_TAG in self.tags


@dataclass(frozen=True)
class ConsulObservation:
    """What Consul showed in one cycle; `complete` is False when any read failed (`problems` say why)."""

    instances: tuple[ServiceInstance, ...] = ()
    queries: Mapping[str, ObservedQuery] = field(default_factory=dict)  # by query name
    complete: bool = True
    problems: tuple[str, ...] = ()

    def instances_of_task(self, task_id: str) -> tuple[ServiceInstance, ...]:
        return self._by_task.get(task_id, ())

    def instances_of_app(self, app_id: str) -> tuple[ServiceInstance, ...]:
        """Our instances registered for the Marathon app `app_id`."""
        return self._by_app.get(app_id, ())

    # Indexed once per observation, so that per-task and per-app lookups stay O(1) at 10,000 apps. Each
    # grouping only when asked: a plan asks for tasks, a status for apps.
    @cached_property
    def _by_task(self) -> Mapping[str, tuple[ServiceInstance, ...]]:
        return _BY_TASK.of(self.instances).groups

    @cached_property
    def _by_app(self) -> Mapping[str, tuple[ServiceInstance, ...]]:
        return _BY_APP.of(self.instances).groups

    @property
    def instances_by_task(self) -> Mapping[str, tuple[ServiceInstance, ...]]:
        """Our instances by the task id of their meta (`instances_of_task` for every task at once)."""
        return self._by_task

    @cached_property
    def managed_by_id(self) -> Mapping[str, ServiceInstance]:
        """Our instances by service id (of two with one id, the later one observed)."""
        return _BY_TASK.of(self.instances).by_id


@dataclass(frozen=True)
class _Index:
    instances: tuple[ServiceInstance, ...]  # held, so that its identity stays its own
    groups: Mapping[str, tuple[ServiceInstance, ...]]  # by the value of one meta key
    by_id: Mapping[str, ServiceInstance]


class _LastIndex:
    """The grouping of the last instances tuple indexed by the meta key `key`. A controller's Consul read
    hands each cycle the very tuple of the cycle before while nothing moved, and keeps each unchanged
    instance the same object when something did (engine/consul_read.py): the same immutable instances
    group the same way, and a group of the very same instances stays the same tuple (core/app_status.py's
    memo matches the per-app groups by identity). Safe from any thread: one value is read, one assigned."""

    def __init__(self, key: str) -> None:
        self._key = key
        self._last: _Index | None = None

    def of(self, instances: tuple[ServiceInstance, ...]) -> _Index:
        last = self._last
        if last is not None and last.instances is instances:
            return last
        index = _indexed(instances, self._key, last.groups if last else {})
        if isinstance(instances, tuple):  # only an immutable sequence is the same while it is the same object
            self._last = index
        return index


_BY_TASK = _LastIndex(META_TASK_ID)
_BY_APP = _LastIndex(META_APP_ID)


def _indexed(
    instances: tuple[ServiceInstance, ...], key: str, previous: Mapping[str, tuple[ServiceInstance, ...]]
) -> _Index:
    """Our (managed) instances grouped by the meta value of `key`, in their observed order, and by service
    id; a group of the very objects of its `previous` group is that tuple."""
    grouped: dict[str, list[ServiceInstance]] = {}
    by_id: dict[str, ServiceInstance] = {}
    for instance in instances:
        if MANAGED_TAG in instance.tags:
            grouped.setdefault(instance.meta.get(key, ""), []).append(instance)
            by_id[instance.service_id] = instance
    if not previous:
        return _Index(instances, {name: tuple(found) for name, found in grouped.items()}, by_id)
    return _Index(instances, {name: _same_or_new(previous.get(name), found) for name, found in grouped.items()}, by_id)


def _same_or_new(kept: tuple[ServiceInstance, ...] | None, found: list[ServiceInstance]) -> tuple[ServiceInstance, ...]:
    if kept is not None and len(kept) == len(found) and all(map(operator.is_, kept, found)):
        return kept
    return tuple(found)
