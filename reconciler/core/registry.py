"""Consul's side of the world in the core vocabulary (pure core): instances, check status, queries.

The Consul adapter translates its wire models into these values; registrations, DNS queries and
healing decide from them. Ownership: an instance or prepared query is the reconciler's when it carries
MANAGED_TAG; nothing else in Consul is ever changed or deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
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
            and sorted(other.tags) == sorted(self.tags)
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

    # Indexed once per observation, so that per-task and per-app lookups stay O(1) at 10,000 apps.
    @cached_property
    def _by_task(self) -> Mapping[str, tuple[ServiceInstance, ...]]:
        return _grouped(self.instances, lambda i: i.task_id)

    @cached_property
    def _by_app(self) -> Mapping[str, tuple[ServiceInstance, ...]]:
        return _grouped(self.instances, lambda i: i.app_id)


def _grouped(
    instances: Iterable[ServiceInstance], key: Callable[[ServiceInstance], str]
) -> dict[str, tuple[ServiceInstance, ...]]:
    """Our (managed) instances grouped by `key`, in their observed order."""
    grouped: dict[str, list[ServiceInstance]] = {}
    for instance in instances:
        if instance.managed:
            grouped.setdefault(key(instance), []).append(instance)
    return {name: tuple(found) for name, found in grouped.items()}
