"""Consul's wire models to the core vocabulary and core actions to Consul requests (layer 3 adapter).

Read side: health entries become ServiceInstances (status aggregated over node and service checks, as
Consul's own client does) and prepared queries become ObservedQueries. Write side: the bodies that
the core planned for REGISTER, DEREGISTER and QUERY_* actions become wire models and agent addresses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, NamedTuple

from reconciler.consul import wire
from reconciler.core.model import Action, ActionKind
from reconciler.core.registry import CheckStatus, ObservedQuery, ServiceInstance, aggregate_status


class CheckState(NamedTuple):
    """Of one check, what an instance's status is made of: kept between reads instead of the whole
    check (its definition, tags and indexes), the output only of a check that is not passing."""

    node: str
    service_id: str
    check_id: str
    status: str
    output: str


def check_states(checks: Iterable[wire.HealthCheck]) -> tuple[CheckState, ...]:
    return tuple(
        CheckState(c.node, c.service_id, c.check_id, c.status, "" if c.status == CheckStatus.PASSING else c.output)
        for c in checks
    )


# Every key a HealthCheck is read from by pydantic under its field name (`populate_by_name`): an answer
# using one is left to pydantic, whose reading of it is the rule.
_FIELD_NAMES = frozenset(wire.HealthCheck.model_fields)
_REQUIRED_TEXT = ("CheckID", "Status")
_TEXT = ("Node", "Name", "Notes", "Output", "ServiceID", "ServiceName", "Type")
_COUNTS = ("CreateIndex", "ModifyIndex")


def check_states_of_json(body: Any) -> tuple[CheckState, ...] | None:
    """The states of a decoded `/v1/health/state/<state>` answer without building its models, or None
    when any check is not plainly what `wire.HealthCheck` takes (a missing field, another type, a
    value pydantic would convert): the caller then validates the whole answer with pydantic, so that
    a malformed answer fails as it always did and a convertible one reads as it always did."""
    if type(body) is not list:
        return None
    states = []
    for item in body:
        if type(item) is not dict or not _FIELD_NAMES.isdisjoint(item) or not _plain(item):
            return None
        status = item["Status"]
        output = "" if status == CheckStatus.PASSING else item.get("Output", "")
        states.append(CheckState(item.get("Node", ""), item.get("ServiceID", ""), item["CheckID"], status, output))
    return tuple(states)


def _plain(item: dict[str, Any]) -> bool:
    """Whether every field of one check has the exact JSON type its model field takes as it is."""
    get = item.get
    if not all(type(get(key)) is str for key in _REQUIRED_TEXT):
        return False
    if not all(type(get(key, "")) is str for key in _TEXT) or not all(type(get(key, 0)) is int for key in _COUNTS):
        return False
    tags, definition = get("ServiceTags"), get("Definition")
    if tags is not None and (type(tags) is not list or not all(type(tag) is str for tag in tags)):
        return False
    return definition is None or type(definition) is dict


def instance_of(entry: wire.ServiceEntry) -> ServiceInstance:
    """One health entry as a ServiceInstance."""
    return instance_from(entry.node, entry.service, check_states(entry.checks))


def status_of(checks: Sequence[CheckState]) -> tuple[CheckStatus | None, str]:
    """The aggregated status of an instance's checks (its node's and its own) and their failing output."""
    status = aggregate_status((check.check_id, check.status) for check in checks)
    failing = [c.output for c in checks if c.status != CheckStatus.PASSING and c.output]
    return status, "; ".join(failing)


def instance_from(node: wire.Node, service: wire.AgentService, checks: Sequence[CheckState]) -> ServiceInstance:
    """An instance from its node, its service and their checks; an empty service address means the node's."""
    status, output = status_of(checks)
    return ServiceInstance(
        service_id=service.id,
        name=service.service,
        node=node.node,
        agent_address=node.address,
        address=service.address or node.address,
        port=service.port,
        tags=tuple(service.tags),
        meta=dict(service.meta),
        status=status,
        output=output,
    )


def instances_of(entries: Iterable[wire.ServiceEntry]) -> tuple[ServiceInstance, ...]:
    return tuple(instance_of(entry) for entry in entries)


def checks_by_instance(checks: Iterable[CheckState]) -> dict[tuple[str, str], list[CheckState]]:
    """Checks grouped by (node, service id); a node's own checks are under (node, "")."""
    grouped: dict[tuple[str, str], list[CheckState]] = {}
    for check in checks:
        grouped.setdefault((check.node, check.service_id), []).append(check)
    return grouped


def instances_of_nodes(
    nodes: Iterable[wire.CatalogNode], checks: Iterable[CheckState], *, tag: str
) -> tuple[ServiceInstance, ...]:
    """The instances carrying `tag` on `nodes`, each with its node's and its own checks, as
    `GET /v1/health/service/<name>` would show them: one pass over the checks, one over the services."""
    grouped = checks_by_instance(checks)
    instances = []
    for catalog_node in nodes:
        node = catalog_node.node
        node_checks = grouped.get((node.node, ""), [])
        for service in catalog_node.services.values():
            if tag in service.tags:
                own = node_checks + grouped.get((node.node, service.id), [])
                instances.append(instance_from(node, service, own))
    return tuple(instances)


def with_statuses(
    instances: Iterable[ServiceInstance], checks: Iterable[CheckState], before: Iterable[CheckState] | None = None
) -> tuple[ServiceInstance, ...]:
    """The same instances with the statuses `checks` give them (the catalog did not move, the checks did),
    as `instances_of_nodes` would build them again; an instance whose status stands is the same object.
    `before`: the checks the instances' statuses were made from; an instance whose own checks and
    node's checks are equal to those is not aggregated again."""
    grouped = checks_by_instance(checks)
    previous = checks_by_instance(before) if before is not None else None
    result = []
    for instance in instances:
        node_key, own_key = (instance.node, ""), (instance.node, instance.service_id)
        node_checks, own_checks = grouped.get(node_key, []), grouped.get(own_key, [])
        unchanged = previous is not None and previous.get(node_key, []) == node_checks
        if unchanged and previous is not None and previous.get(own_key, []) == own_checks:
            result.append(instance)
            continue
        status, output = status_of(node_checks + own_checks)
        same = instance.status == status and instance.output == output
        result.append(instance if same else replace(instance, status=status, output=output))
    return tuple(result)


def observed_query_of(query: wire.PreparedQuery) -> ObservedQuery:
    return ObservedQuery(
        query_id=query.id,
        name=query.name,
        service=query.service.service,
        tags=tuple(query.service.tags),
        only_passing=query.service.only_passing,
    )


def observed_queries_of(queries: Iterable[wire.PreparedQuery]) -> dict[str, ObservedQuery]:
    """Named prepared queries by name (unnamed ones can never be ours: ours are named `<app>.<env>`)."""
    return {q.name: observed_query_of(q) for q in queries if q.name}


def _body(action: Action, *kinds: ActionKind) -> Mapping[str, Any]:
    if action.kind not in kinds or action.body is None:
        raise ValueError(f"{action.kind} {action.target}: expected a {'/'.join(kinds)} action with a body")
    return action.body


def registration_of(action: Action) -> wire.ServiceRegistration:
    """The registration a REGISTER action carries."""
    return wire.ServiceRegistration.model_validate(_body(action, ActionKind.REGISTER))


def agent_host_of(action: Action) -> str:
    """The host whose agent must take the action: the task's host (REGISTER), the node's (DEREGISTER)."""
    body = _body(action, ActionKind.REGISTER, ActionKind.DEREGISTER)
    return str(body["Address"] if action.kind == ActionKind.REGISTER else body["AgentAddress"])


def deregistration_of(action: Action) -> str:
    """The service id a DEREGISTER action removes."""
    return str(_body(action, ActionKind.DEREGISTER)["ServiceID"])


def query_definition_of(action: Action) -> wire.PreparedQueryDefinition:
    """The prepared query of a QUERY_CREATE or QUERY_UPDATE action."""
    return wire.PreparedQueryDefinition.model_validate(_body(action, ActionKind.QUERY_CREATE, ActionKind.QUERY_UPDATE))


def query_id_of(action: Action) -> str:
    """The id of the query a QUERY_UPDATE or QUERY_DELETE action changes."""
    return str(_body(action, ActionKind.QUERY_UPDATE, ActionKind.QUERY_DELETE)["ID"])
