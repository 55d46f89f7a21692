"""The agent endpoints (`/v1/agent/...`) of one emulated node's agent (sandbox layer, Consul emulator).

Services and checks registered here belong to the agent's node and are written straight into the
shared catalog (the emulator has no anti-entropy delay). Unknown ids answer Consul's 404 texts.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from reconciler.sandbox.consul.catalog import (
    NODE_MAINTENANCE_ID,
    SERF_CHECK_ID,
    SERVICE_MAINTENANCE_PREFIX,
    Check,
    CheckStatus,
    Service,
    worst_status,
)
from reconciler.sandbox.consul.filter_selectors import AGENT_SERVICE, CHECK
from reconciler.sandbox.consul.filtering import apply_filter, compile_request_filter
from reconciler.sandbox.consul.http_wire import (
    ConsulHTTPError,
    flag,
    json_response,
    path_param,
    read_json,
    text_response,
)
from reconciler.sandbox.consul.registration import agent_check, agent_service, pick
from reconciler.sandbox.consul.render import agent_service_json, check_json, content_hash
from reconciler.sandbox.consul.state import VERSION, ConsulState, node_of, state_of

routes = web.RouteTableDef()
DEFAULT_MAINTENANCE_REASON = (
    "Maintenance mode is enabled for this {what}, but no reason was provided. This is a default message."
)


def _unknown_service(service_id: str) -> ConsulHTTPError:
    return ConsulHTTPError(
        404, f'Unknown service ID "{service_id}". Ensure that the service ID is passed, not the service name.'
    )


def _local_service(state: ConsulState, node: str, service_id: str) -> Service:
    service = state.catalog.services.get((node, service_id))
    if service is None:
        raise _unknown_service(service_id)
    return service


def _local_checks(state: ConsulState, node: str) -> list[Check]:
    return [c for c in state.catalog.checks.values() if c.node == node and c.runs_on_agent]


def _checks_for(state: ConsulState, service: Service) -> list[Check]:
    """What the agent's health endpoints weigh: the service's checks plus the agent's node checks."""
    return [c for c in _local_checks(state, service.node) if c.service_id in ("", service.id)]


def _member(state: ConsulState, node: str) -> dict[str, Any]:
    address = state.catalog.nodes[node].address
    role = "consul" if node == state.server_node else "node"
    return {
        "Name": node,
        "Addr": address,
        "Port": 8301,
        "Tags": {
            "dc": state.datacenter,
            "role": role,
            "port": "8300",
            "build": f"{VERSION}:sandbox",
            "id": state.catalog.nodes[node].id,
            "segment": "",
            "vsn": "2",
            "vsn_max": "3",
            "vsn_min": "2",
        },
        "Status": 1,
        "ProtocolMin": 1,
        "ProtocolMax": 5,
        "ProtocolCur": 2,
        "DelegateMin": 2,
        "DelegateMax": 5,
        "DelegateCur": 4,
    }


@routes.get("/v1/agent/self")
async def get_self(request: web.Request) -> web.Response:
    state, node = state_of(request), node_of(request)
    config = {
        "Datacenter": state.datacenter,
        "PrimaryDatacenter": state.datacenter,
        "NodeName": node,
        "NodeID": state.catalog.nodes[node].id,
        "Revision": "sandbox",
        "Server": node == state.server_node,
        "Version": VERSION,
        "BuildDate": "2024-01-01T00:00:00Z",
    }
    body = {
        "Config": config,
        "DebugConfig": {"Domain": f"{state.domain}."},
        "Coord": {"Adjustment": 0, "Error": 1.5, "Height": 1e-05, "Vec": [0.0] * 8},
        "Member": _member(state, node),
        "Stats": {},
        "Meta": {"consul-network-segment": ""},
    }
    return json_response(body, request)


@routes.get("/v1/agent/members")
async def get_members(request: web.Request) -> web.Response:
    state = state_of(request)
    nodes = [n for n in state.catalog.nodes.values() if n.has_agent]
    return json_response([_member(state, n.name) for n in nodes], request)


@routes.get("/v1/agent/services")
async def get_services(request: web.Request) -> web.Response:
    state, node = state_of(request), node_of(request)
    keep = compile_request_filter(request.query.get("filter"), AGENT_SERVICE)
    services = sorted((s for s in state.catalog.services.values() if s.node == node), key=lambda s: s.id)
    bodies = [agent_service_json(s, state.datacenter) for s in services]
    return json_response({b["ID"]: b for b in apply_filter(bodies, keep)}, request)


@routes.get("/v1/agent/service/{service_id:(?!register$|deregister/|maintenance/).*}")
async def get_service(request: web.Request) -> web.Response:
    state = state_of(request)
    service = _local_service(state, node_of(request), request.match_info["service_id"])
    body = agent_service_json(service, state.datacenter)
    body["ContentHash"] = content_hash(body)
    response = json_response(body, request)
    response.headers["X-Consul-ContentHash"] = body["ContentHash"]
    return response


@routes.put("/v1/agent/service/register")
async def put_service_register(request: web.Request) -> web.Response:
    state, node = state_of(request), node_of(request)
    service, checks = agent_service(await read_json(request), node)
    replace = flag(request, "replace-existing-checks")
    known = {c.check_id: c for c in state.catalog.service_checks(node, service.id)}
    state.catalog.upsert_service(service)
    for check in checks:
        previous = known.pop(check.check_id, None)
        if previous is not None:
            # Re-registering keeps a check's current result whatever `Status` the body carries.
            check.status, check.output = previous.status, previous.output
        state.catalog.upsert_check(check)
    for stale in known.values() if replace else ():
        if not stale.check_id.startswith(SERVICE_MAINTENANCE_PREFIX):
            state.catalog.remove_check(node, stale.check_id)
    return text_response(200, "")


@routes.put("/v1/agent/service/deregister/{service_id:.*}")
async def put_service_deregister(request: web.Request) -> web.Response:
    state, service_id = state_of(request), request.match_info["service_id"]
    if not state.catalog.remove_service(node_of(request), service_id):
        raise _unknown_service(service_id)
    return text_response(200, "")


def _enable(request: web.Request) -> bool:
    if "enable" not in request.query:
        raise ConsulHTTPError(400, "Missing value for enable")
    return flag(request, "enable")


@routes.put("/v1/agent/service/maintenance/{service_id:.*}")
async def put_service_maintenance(request: web.Request) -> web.Response:
    state, node = state_of(request), node_of(request)
    service_id = path_param(request, "service_id", "Missing service ID")
    enable = _enable(request)
    service = _local_service(state, node, service_id)
    check_id = f"{SERVICE_MAINTENANCE_PREFIX}{service.id}"
    if enable:
        reason = request.query.get("reason") or DEFAULT_MAINTENANCE_REASON.format(what="service")
        state.catalog.upsert_check(
            Check(
                node=node,
                check_id=check_id,
                name="Service Maintenance Mode",
                notes=reason,
                service_id=service.id,
                runs_on_agent=True,
            )
        )
    else:
        state.catalog.remove_check(node, check_id)
    return text_response(200, "")


@routes.put("/v1/agent/maintenance")
async def put_node_maintenance(request: web.Request) -> web.Response:
    state, node = state_of(request), node_of(request)
    if _enable(request):
        reason = request.query.get("reason") or DEFAULT_MAINTENANCE_REASON.format(what="node")
        state.catalog.upsert_check(
            Check(
                node=node, check_id=NODE_MAINTENANCE_ID, name="Node Maintenance Mode", notes=reason, runs_on_agent=True
            )
        )
    else:
        state.catalog.remove_check(node, NODE_MAINTENANCE_ID)
    return text_response(200, "")


@routes.get("/v1/agent/checks")
async def get_checks(request: web.Request) -> web.Response:
    state, node = state_of(request), node_of(request)
    keep = compile_request_filter(request.query.get("filter"), CHECK)
    bodies = [
        check_json(c, state.catalog, agent=True) for c in sorted(_local_checks(state, node), key=lambda c: c.check_id)
    ]
    return json_response({b["CheckID"]: b for b in apply_filter(bodies, keep)}, request)


@routes.put("/v1/agent/check/register")
async def put_check_register(request: web.Request) -> web.Response:
    state, node = state_of(request), node_of(request)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ConsulHTTPError(400, "Request decode failed: body must be a JSON object")
    check = agent_check(body, node)
    if check.check_id == SERF_CHECK_ID:
        raise ConsulHTTPError(400, f'Check ID "{SERF_CHECK_ID}" is reserved')
    if check.service_id and (node, check.service_id) not in state.catalog.services:
        raise ConsulHTTPError(400, f'ServiceID "{check.service_id}" does not exist')
    state.catalog.upsert_check(check)
    return text_response(200, "")


@routes.put("/v1/agent/check/deregister/{check_id:.*}")
async def put_check_deregister(request: web.Request) -> web.Response:
    state, node = state_of(request), node_of(request)
    check = state.agent_check(node, request.match_info["check_id"])
    state.catalog.remove_check(node, check.check_id)
    return text_response(200, "")


TTL_VERBS = {"pass": CheckStatus.PASSING, "warn": CheckStatus.WARNING, "fail": CheckStatus.CRITICAL}


@routes.put("/v1/agent/check/{verb:pass|warn|fail}/{check_id:.*}")
async def put_check_ttl(request: web.Request) -> web.Response:
    state = state_of(request)
    check = state.agent_check(node_of(request), request.match_info["check_id"])
    if check.definition.kind != "ttl":
        raise ConsulHTTPError(500, f'CheckID "{check.check_id}" does not have associated TTL')
    state.checks.update_ttl(check, TTL_VERBS[request.match_info["verb"]], request.query.get("note", ""))
    return text_response(200, "")


@routes.put("/v1/agent/check/update/{check_id:.*}")
async def put_check_update(request: web.Request) -> web.Response:
    state = state_of(request)
    check = state.agent_check(node_of(request), request.match_info["check_id"])
    body = await read_json(request)
    try:
        status = CheckStatus(pick(body, "Status", ""))
    except ValueError as exc:
        raise ConsulHTTPError(400, f"Invalid check status: '{pick(body, 'Status', '')}'") from exc
    if check.definition.kind != "ttl":
        raise ConsulHTTPError(500, f'CheckID "{check.check_id}" does not have associated TTL')
    state.checks.update_ttl(check, status, pick(body, "Output", "") or "")
    return text_response(200, "")


def _aggregated(checks: list[Check]) -> str:
    if any(c.check_id == NODE_MAINTENANCE_ID or c.check_id.startswith(SERVICE_MAINTENANCE_PREFIX) for c in checks):
        return "maintenance"
    return str(worst_status(checks))


HEALTH_CODES = {"passing": 200, "warning": 429, "critical": 503, "maintenance": 503}


def _health_answer(request: web.Request, status: str, body: Any) -> web.Response:
    code = HEALTH_CODES[status]
    if request.query.get("format") == "text":
        return text_response(code, status)
    return json_response(body, request, status=code)


def _health_entry(state: ConsulState, service: Service) -> dict[str, Any]:
    checks = _checks_for(state, service)
    return {
        "AggregatedStatus": _aggregated(checks),
        "Service": agent_service_json(service, state.datacenter),
        "Checks": [check_json(c, state.catalog, agent=True) for c in checks],
    }


@routes.get("/v1/agent/health/service/name/{name:[^/]*}")
async def get_health_by_name(request: web.Request) -> web.Response:
    state, node = state_of(request), node_of(request)
    name = path_param(request, "name", "Missing service Name")
    services = sorted(
        (s for s in state.catalog.services.values() if s.node == node and s.name == name), key=lambda s: s.id
    )
    if not services:
        return _not_found(request, f"ServiceName {name} Not Found")
    entries = [_health_entry(state, s) for s in services]
    order = ["passing", "warning", "critical", "maintenance"]
    worst = max((e["AggregatedStatus"] for e in entries), key=order.index)
    return _health_answer(request, worst, entries)


@routes.get("/v1/agent/health/service/id/{service_id:.*}")
async def get_health_by_id(request: web.Request) -> web.Response:
    state, service_id = state_of(request), path_param(request, "service_id", "Missing serviceID")
    service = state.catalog.services.get((node_of(request), service_id))
    if service is None:
        return _not_found(request, f"ServiceId {service_id} not found")
    entry = _health_entry(state, service)
    return _health_answer(request, entry["AggregatedStatus"], entry)


def _not_found(request: web.Request, text: str) -> web.Response:
    return text_response(404, text)
