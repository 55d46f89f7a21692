"""Consul's wire models to the core vocabulary and core actions to Consul requests (layer 3 adapter).

Read side: health entries become ServiceInstances (status aggregated over node and service checks, as
Consul's own client does) and prepared queries become ObservedQueries. Write side: the bodies that
the core planned for REGISTER, DEREGISTER and QUERY_* actions become wire models and agent addresses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from itertools import repeat
from operator import itemgetter
from typing import Any, NamedTuple

from reconciler.consul import plain, wire
from reconciler.core.model import Action, ActionKind
from reconciler.core.registry import (
    NODE_MAINTENANCE_CHECK,
    SERVICE_MAINTENANCE_PREFIX,
    CheckStatus,
    ObservedQuery,
    ServiceInstance,
    aggregate_status,
)

_PASSING = CheckStatus.PASSING.value


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


def check_states_of_json(body: Any) -> tuple[CheckState, ...] | None:
    """The states of a decoded `/v1/health/state/<state>` answer without building its models, or None
    when any check is not plainly what `wire.HealthCheck` takes (consul/plain.py): the caller then
    validates the whole answer with pydantic, so that a malformed answer fails as it always did and a
    convertible one reads as it always did."""
    if type(body) is not list or not plain.CHECK.all_plain(body):
        return None
    count, get = len(body), dict.get
    statuses = list(map(itemgetter("Status"), body))
    outputs = map(get, body, repeat("Output", count), repeat("", count))
    kept = ["" if status == _PASSING else output for status, output in zip(statuses, outputs, strict=True)]
    fields = zip(
        map(get, body, repeat("Node", count), repeat("", count)),
        map(get, body, repeat("ServiceID", count), repeat("", count)),
        map(itemgetter("CheckID"), body), statuses, kept, strict=True,
    )
    return tuple(map(tuple.__new__, repeat(CheckState, count), fields))  # no Python call per check


class WatchedCheck(NamedTuple):
    """Of one check the controller's health watch compares between wake-ups: where it is and its status."""

    node: str
    check_id: str
    status: str


def watched_checks(checks: Iterable[wire.HealthCheck], tag: str) -> tuple[WatchedCheck, ...]:
    """Node checks (no service) and the checks of services that carry `tag`, as WatchedChecks."""
    return tuple(
        WatchedCheck(c.node, c.check_id, c.status) for c in checks if not c.service_id or tag in c.service_tags
    )


def watched_checks_of_json(body: Any, tag: str) -> tuple[WatchedCheck, ...] | None:
    """`watched_checks` of a decoded `/v1/health/state/<state>` answer without building its models, or None
    when any check is not plainly what `wire.HealthCheck` takes (the caller then validates it with pydantic,
    whose reading or error stays the rule)."""
    if type(body) is not list or not plain.CHECK.all_plain(body):
        return None
    get = dict.get
    return tuple(
        WatchedCheck(get(c, "Node", ""), c["CheckID"], c["Status"])
        for c in body
        if not get(c, "ServiceID", "") or tag in (get(c, "ServiceTags") or ())
    )


def instance_of(entry: wire.ServiceEntry) -> ServiceInstance:
    """One health entry as a ServiceInstance."""
    return instance_from(entry.node, entry.service, check_states(entry.checks))


def status_of(checks: Sequence[CheckState]) -> tuple[CheckStatus | None, str]:
    """The aggregated status of an instance's checks (its node's and its own) and their failing output."""
    status = aggregate_status((check.check_id, check.status) for check in checks)
    failing = [c.output for c in checks if c.status != CheckStatus.PASSING and c.output]
    return status, "; ".join(failing)


_CRITICAL = CheckStatus.CRITICAL.value


def node_critical(checks: Iterable[CheckState]) -> bool:
    """Whether a check of the node itself (no service id) is critical: `serfHealth` once the node's agent
    is down or unreachable (its service checks then keep their last status), or a node-level check."""
    return any(c.status == _CRITICAL and not c.service_id for c in checks)


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
        node_critical=node_critical(checks),
    )


def instances_of(entries: Iterable[wire.ServiceEntry]) -> tuple[ServiceInstance, ...]:
    return tuple(instance_of(entry) for entry in entries)


def checks_by_instance(checks: Iterable[CheckState]) -> dict[tuple[str, str], list[CheckState]]:
    """Checks grouped by (node, service id); a node's own checks are under (node, "")."""
    grouped: dict[tuple[str, str], list[CheckState]] = {}
    for check in checks:
        grouped.setdefault((check.node, check.service_id), []).append(check)
    return grouped


class TaggedService(NamedTuple):
    """One service instance of a catalog node, of the tag asked for; `address` is the node's when its own is empty."""

    service_id: str
    name: str
    address: str
    port: int
    tags: tuple[str, ...]
    meta: dict[str, str]


class NodeServices(NamedTuple):
    """A catalog node (`GET /v1/catalog/node/<node>`): its name, its address, its services of one tag."""

    node: str
    address: str
    services: tuple[TaggedService, ...]


def node_services(catalog_node: wire.CatalogNode, tag: str) -> NodeServices:
    """The services of a validated catalog node that carry `tag`."""
    node = catalog_node.node
    services = tuple(
        TaggedService(s.id, s.service, s.address or node.address, s.port, tuple(s.tags), dict(s.meta))
        for s in catalog_node.services.values()
        if tag in s.tags
    )
    return NodeServices(node.node, node.address, services)


def node_services_of_json(body: Any, tag: str) -> NodeServices | None:
    """`node_services` of a decoded `/v1/catalog/node/<node>` answer without building its models, or None
    when it is not plainly what `wire.CatalogNode` takes (the caller then validates it with pydantic)."""
    if not plain.CATALOG_NODE.plain(body):
        return None
    node = body["Node"]
    address = node.get("Address", "")
    tagged = []
    for service in (body.get("Services") or {}).values():
        tags = service.get("Tags") or ()
        if tag in tags:
            meta = service.get("Meta") or {}
            tagged.append(TaggedService(
                service["ID"], service["Service"], service.get("Address") or address, service.get("Port", 0),
                tuple(tags), meta,
            ))
    return NodeServices(node["Node"], address, tuple(tagged))


def _not_passing(checks: Iterable[CheckState]) -> set[tuple[str, str]]:
    """The (node, service id) of every check that does not pass or is a maintenance mode (whose status does
    not matter): an instance under none of them passes, with no output, and is not aggregated check by check."""
    return {
        (c.node, c.service_id) for c in checks
        if c.status != _PASSING or c.check_id == NODE_MAINTENANCE_CHECK
        or c.check_id.startswith(SERVICE_MAINTENANCE_PREFIX)
    }


def instances_of_services(nodes: Iterable[NodeServices], checks: Sequence[CheckState]) -> tuple[ServiceInstance, ...]:
    """The instances of `nodes`, each with its node's and its own checks, as `GET /v1/health/service/<name>`
    would show them: one pass over the checks, one over the services."""
    failing = _not_passing(checks)
    grouped = checks_by_instance(checks) if failing else {}
    instances = []
    passing: CheckStatus | None = CheckStatus.PASSING
    for node in nodes:
        name, node_checks = node.node, grouped.get((node.node, ""), [])
        node_passing = (name, "") not in failing
        for s in node.services:
            down = False
            if node_passing and (name, s.service_id) not in failing:
                status, output = passing, ""
            else:
                status, output = status_of(node_checks + grouped.get((name, s.service_id), []))
                down = not node_passing and node_critical(node_checks)
            instances.append(
                ServiceInstance(s.service_id, s.name, name, node.address, s.address, s.port, s.tags, s.meta,
                                status, output, down)
            )
    return tuple(instances)


def with_statuses(
    instances: Iterable[ServiceInstance], checks: Iterable[CheckState], before: Iterable[CheckState] | None = None
) -> tuple[ServiceInstance, ...]:
    """The same instances with the statuses `checks` give them (the catalog did not move, the checks did),
    as `instances_of_services` would build them again; an instance whose status stands is the same object.
    `before`: the checks the instances' statuses were made from; an instance whose own checks and
    node's checks are equal to those is not aggregated again."""
    grouped = checks_by_instance(checks)
    previous = checks_by_instance(before) if before is not None else None
    result = []
    for instance in instances:
        node_key, own_key = (instance.node, ""), (instance.node, instance.service_id)
        node_checks, own_checks = grouped.get(node_key, []), grouped.get(own_key, [])
        if previous is not None and (
            previous.get(node_key, []) == node_checks and previous.get(own_key, []) == own_checks
        ):
            result.append(instance)
            continue
        status, output = status_of(node_checks + own_checks)
        down = node_critical(node_checks)
        same = instance.status == status and instance.output == output and instance.node_critical == down
        result.append(instance if same else replace(instance, status=status, output=output, node_critical=down))
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


def observed_queries_of_json(body: Any) -> dict[str, ObservedQuery] | None:
    """`observed_queries_of` a decoded `/v1/query` answer without building its models, or None when any
    query is not plainly what `wire.PreparedQuery` takes (the caller then validates it with pydantic)."""
    if type(body) is not list or not plain.QUERY.all_plain(body):
        return None
    named = [query for query in body if query.get("Name")]
    count, services = len(named), list(map(itemgetter("Service"), named))
    names = list(map(itemgetter("Name"), named))
    tags = [tuple(found) if found else () for found in map(dict.get, services, repeat("Tags", count))]
    observed = map(
        ObservedQuery, map(itemgetter("ID"), named), names, map(itemgetter("Service"), services), tags,
        map(dict.get, services, repeat("OnlyPassing", count), repeat(False, count)),
    )
    return dict(zip(names, observed, strict=True))


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
