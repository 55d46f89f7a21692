"""Registration bodies (agent and catalog) turned into catalog objects (sandbox layer, Consul emulator).

Go's JSON decoding matches field names case-insensitively and Consul's agent also accepts snake_case,
so every field is looked up by its folded name. Generated check ids follow the agent's rules:
`service:<id>` for a lone `Check`, `service:<id>:<n>` (from 1) for the items of `Checks`.
"""

from __future__ import annotations

from typing import Any

from reconciler.sandbox.consul.catalog import Check, CheckDefinition, CheckStatus, Node, Service
from reconciler.sandbox.consul.durations import DurationError, duration_field
from reconciler.sandbox.consul.http_wire import ConsulHTTPError

MIN_DEREGISTER_AFTER = 60.0
RUNNABLE = ("HTTP", "TCP", "TTL")
SCRIPTS_DISABLED = (
    "Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or "
    "'enable_local_script_checks' to true"
)


def fold(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


def pick(body: dict[str, Any], name: str, default: Any = None) -> Any:
    """The value of field `name` whatever its casing (PascalCase, camelCase, snake_case)."""
    wanted = fold(name)
    for key, value in body.items():
        if fold(key) == wanted:
            return value
    return default


def _duration(body: dict[str, Any], name: str) -> float:
    try:
        return duration_field(pick(body, name, ""))
    except DurationError as exc:
        raise ConsulHTTPError(400, f"Request decode failed: {name}: {exc}") from exc


def _status(value: Any) -> CheckStatus:
    try:
        return CheckStatus(value or CheckStatus.CRITICAL)
    except ValueError as exc:
        raise ConsulHTTPError(400, f"Invalid check status: {value!r}") from exc


def check_definition(body: dict[str, Any]) -> CheckDefinition:
    """The runnable part of an agent check body; refuses what a default agent refuses."""
    if pick(body, "Args") or pick(body, "Script"):
        raise ConsulHTTPError(400, SCRIPTS_DISABLED)
    definition = CheckDefinition(
        http=pick(body, "HTTP", "") or "", method=pick(body, "Method", "") or "", header=pick(body, "Header"),
        body=pick(body, "Body", "") or "", tcp=pick(body, "TCP", "") or "", interval=_duration(body, "Interval"),
        timeout=_duration(body, "Timeout"), ttl=_duration(body, "TTL"),
        deregister_after=_duration(body, "DeregisterCriticalServiceAfter"),
        tls_skip_verify=bool(pick(body, "TLSSkipVerify", False)), tls_server_name=pick(body, "TLSServerName", "") or "",
    )
    if (definition.http or definition.tcp) and definition.interval <= 0:
        raise ConsulHTTPError(400, "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP or UDP checks")
    if not (definition.http or definition.tcp or definition.ttl or _data_only_kind(body)):
        raise ConsulHTTPError(400, "Invalid check: Must specify one of Args, TTL, or Interval")
    return definition


def _data_only_kind(body: dict[str, Any]) -> bool:
    """Check kinds the emulator stores but never runs (their status stays what was registered)."""
    return any(pick(body, k) for k in ("GRPC", "UDP", "H2PING", "DockerContainerID", "AliasService", "AliasNode"))


def agent_check(body: dict[str, Any], node: str, service_id: str = "", generated_id: str = "",
                service_name: str = "") -> Check:
    """A check from an agent body; `generated_id`/`service_name` fill the defaults of service checks."""
    name = pick(body, "Name", "") or (f"Service '{service_name}' check" if service_name else "")
    if not name:
        raise ConsulHTTPError(400, "Missing check name")
    check_id = pick(body, "CheckID", "") or pick(body, "ID", "") or generated_id or name
    return Check(
        node=node, check_id=check_id, name=name, status=_status(pick(body, "Status")),
        notes=pick(body, "Notes", "") or "", service_id=service_id or pick(body, "ServiceID", "") or "",
        definition=check_definition(body), runs_on_agent=True,
    )


def agent_service(body: dict[str, Any], node: str) -> tuple[Service, list[Check]]:
    """The service and its checks from a `PUT /v1/agent/service/register` body."""
    if not isinstance(body, dict):
        raise ConsulHTTPError(400, "Request decode failed: body must be a JSON object")
    name = pick(body, "Name", "") or pick(body, "Service", "")
    if not isinstance(name, str) or not name:
        raise ConsulHTTPError(400, "Missing service name")
    service = _service(body, node, name)
    bodies = ([pick(body, "Check")] if pick(body, "Check") else []) + list(pick(body, "Checks") or [])
    # Consul numbers generated ids only when the registration carries more than one check.
    checks = [agent_check(item, node, service.id,
                          f"service:{service.id}" if len(bodies) == 1 else f"service:{service.id}:{n}", name)
              for n, item in enumerate(bodies, start=1)]
    return service, checks


def _service(body: dict[str, Any], node: str, name: str) -> Service:
    weights = pick(body, "Weights") or {}
    return Service(
        node=node, id=pick(body, "ID", "") or name, name=name, tags=list(pick(body, "Tags") or []),
        address=pick(body, "Address", "") or "", port=int(pick(body, "Port", 0) or 0),
        meta=dict(pick(body, "Meta") or {}),
        weights={"Passing": int(pick(weights, "Passing", 1) or 1), "Warning": int(pick(weights, "Warning", 1) or 1)},
        tagged_addresses=dict(pick(body, "TaggedAddresses") or {}),
        enable_tag_override=bool(pick(body, "EnableTagOverride", False)), kind=pick(body, "Kind", "") or "",
    )


def catalog_node(body: dict[str, Any]) -> Node:
    """The node of a catalog registration; its validation is the Catalog.Register RPC's, so errors are 500.

    agent/consul/catalog_endpoint.go Register: nodePreApply, then an address unless SkipNodeUpdate.
    """
    name, address = pick(body, "Node", ""), pick(body, "Address", "")
    if not name:
        raise ConsulHTTPError(500, "Must provide node", rpc=True)
    if not address and not pick(body, "SkipNodeUpdate", False):
        raise ConsulHTTPError(500, "Must provide address if SkipNodeUpdate is not set", rpc=True)
    return Node(name=name, address=address, id=pick(body, "ID", "") or "", meta=dict(pick(body, "NodeMeta") or {}),
                tagged_addresses=pick(body, "TaggedAddresses"))


def catalog_service(body: dict[str, Any], node: str) -> Service:
    name = pick(body, "Service", "")
    if not name:
        raise ConsulHTTPError(500, "Must provide service name with ID", rpc=True)  # catalog_endpoint.go servicePreApply
    return _service(body, node, name)


def catalog_check(body: dict[str, Any], node: str) -> Check:
    """A catalog check: its `Definition` is data only and its status is whatever was written."""
    name = pick(body, "Name", "")
    if not name:
        raise ConsulHTTPError(400, "Missing check name")
    definition = pick(body, "Definition") or {}
    return Check(
        node=node, check_id=pick(body, "CheckID", "") or name, name=name, status=_status(pick(body, "Status")),
        notes=pick(body, "Notes", "") or "", output=pick(body, "Output", "") or "",
        service_id=pick(body, "ServiceID", "") or "",
        definition=CheckDefinition(http=pick(definition, "HTTP", "") or "", tcp=pick(definition, "TCP", "") or "",
                                   interval=_duration(definition, "Interval"), timeout=_duration(definition, "Timeout"),
                                   deregister_after=_duration(definition, "DeregisterCriticalServiceAfter")),
    )
