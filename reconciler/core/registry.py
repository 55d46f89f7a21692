"""Consul's side of the world in the core vocabulary (pure core): instances, check status, queries.

The Consul adapter translates its wire models into these values; registrations, DNS queries and
healing decide from them. Ownership: an instance or prepared query is the reconciler's when it carries
MANAGED_TAG; nothing else in Consul is ever changed or deleted.
"""

from __future__ import annotations

import itertools
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
    checks that are not passing, for reasons and warnings. `node_critical`: a check of the node itself
    is critical (`serfHealth` when the node's agent is down or unreachable, or a node-level check):
    the instance's status then says nothing of its task alone, and healing does not judge it.
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
    node_critical: bool = False

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
        return self._task_index.groups.get(task_id, ())

    def instances_of_app(self, app_id: str) -> tuple[ServiceInstance, ...]:
        """Our instances registered for the Marathon app `app_id`."""
        return self._app_index.groups.get(app_id, ())

    # Indexed once per observation, so that per-task and per-app lookups stay O(1) at 10,000 apps. Each
    # grouping only when asked: a plan asks for tasks, a status for apps.
    @cached_property
    def _task_index(self) -> _Index:
        return _indexed(self.instances, META_TASK_ID, {})

    @cached_property
    def _app_index(self) -> _Index:
        return _indexed(self.instances, META_APP_ID, {})

    @property
    def instances_by_task(self) -> Mapping[str, tuple[ServiceInstance, ...]]:
        """Our instances by the task id of their meta (`instances_of_task` for every task at once)."""
        return self._task_index.groups

    @property
    def managed_by_id(self) -> Mapping[str, ServiceInstance]:
        """Our instances by service id (of two with one id, the later one observed)."""
        return self._task_index.by_id

    def carry_indexes(self, previous: ConsulObservation, changes: InstanceChanges) -> None:
        """Indexes this observation from the indexes `previous` has made, `changes` being what moved
        between their instances (instance_changes). A planner owner carries them from cycle to cycle: only the
        groups of changed instances are made again, and a group of the very same instances stays the very
        same tuple (core/app_status.py's memo matches the per-app groups by identity)."""
        if not (isinstance(self.instances, tuple) and isinstance(previous.instances, tuple)):
            return  # only an immutable sequence is the same while it is the same object
        for name, key in (("_task_index", META_TASK_ID), ("_app_index", META_APP_ID)):
            kept = previous.__dict__.get(name)
            if kept is not None and name not in self.__dict__:
                # what cached_property itself does: the observation stays immutable to everyone else
                self.__dict__[name] = _reindexed(kept, self.instances, key, changes)


@dataclass(frozen=True)
class InstanceChanges:
    """The instances one observation holds and the one before did not (`added`), and the other way round."""

    added: tuple[ServiceInstance, ...] = ()
    removed: tuple[ServiceInstance, ...] = ()

    @property
    def changed(self) -> tuple[ServiceInstance, ...]:
        return self.added + self.removed


NO_CHANGES = InstanceChanges()
REINDEX_SHARE = 8  # beyond 1/8 of the instances changed, indexing afresh costs no more than patching


def instance_changes(before: tuple[ServiceInstance, ...], after: tuple[ServiceInstance, ...]) -> InstanceChanges:
    """What moved between two observations' instances, by identity (the Consul read keeps an unchanged
    instance the same object): whatever lies between the longest common head and tail. An instance
    outside that span keeps its place among the others, so only the groups of those inside can differ."""
    if before is after:
        return NO_CHANGES
    shorter = min(len(before), len(after))
    same = list(map(operator.is_, before, after))
    head = same.index(False) if False in same else shorter
    if head == len(before) == len(after):
        return NO_CHANGES
    rest = shorter - head
    tail = list(map(operator.is_, itertools.islice(reversed(before), rest), itertools.islice(reversed(after), rest)))
    end = tail.index(False) if False in tail else rest
    return InstanceChanges(after[head:len(after) - end], before[head:len(before) - end])


@dataclass(frozen=True)
class _Index:
    instances: tuple[ServiceInstance, ...]  # held, so that its identity stays its own
    groups: Mapping[str, tuple[ServiceInstance, ...]]  # by the value of one meta key
    by_id: Mapping[str, ServiceInstance]


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


def _reindexed(kept: _Index, instances: tuple[ServiceInstance, ...], key: str, changes: InstanceChanges) -> _Index:
    """The index of `instances` from `kept`, the index of the instances before `changes`."""
    if kept.instances is instances:
        return kept
    if len(changes.changed) * REINDEX_SHARE > len(instances):
        return _indexed(instances, key, kept.groups)
    if not changes.changed:
        return _Index(instances, kept.groups, kept.by_id)
    names = {instance.meta.get(key, "") for instance in changes.changed}
    service_ids = {instance.service_id for instance in changes.changed}
    groups, by_id = dict(kept.groups), dict(kept.by_id)
    for name in names:
        groups.pop(name, None)
    for service_id in service_ids:
        by_id.pop(service_id, None)
    found: dict[str, list[ServiceInstance]] = {}
    for instance in instances:  # one pass: each changed group in its observed order, the later of one id
        if MANAGED_TAG in instance.tags:
            name = instance.meta.get(key, "")
            if name in names:
                found.setdefault(name, []).append(instance)
            if instance.service_id in service_ids:
                by_id[instance.service_id] = instance
    groups.update({name: _same_or_new(kept.groups.get(name), group) for name, group in found.items()})
    return _Index(instances, groups, by_id)


def _same_or_new(kept: tuple[ServiceInstance, ...] | None, found: list[ServiceInstance]) -> tuple[ServiceInstance, ...]:
    if kept is not None and len(kept) == len(found) and all(map(operator.is_, kept, found)):
        return kept
    return tuple(found)
