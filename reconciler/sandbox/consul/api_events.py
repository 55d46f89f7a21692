"""User events and network coordinates (`/v1/event/...`, `/v1/coordinate/...`) (sandbox layer).

agent/event_endpoint.go: fire answers the event (LTime 0), list answers the newest 256 with an
`X-Consul-Index` derived from the newest event's ID and blocks while that index is unchanged.
agent/coordinate_endpoint.go: node coordinates block on the coordinates table's index; an unknown node
is a 404 with an empty body. Node, service and tag filters are validated but not used for delivery
(every sandbox agent receives every event).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp import web

from reconciler.sandbox.consul.events import origin_coordinate, valid_coordinate
from reconciler.sandbox.consul.http_wire import (
    Blocking,
    ConsulHTTPError,
    block,
    json_response,
    read_json,
    set_query_meta,
    text_response,
)
from reconciler.sandbox.consul.state import ConsulState, state_of

routes = web.RouteTableDef()


def _filters(request: web.Request) -> tuple[str, str, str]:
    """agent/user_event.go validateUserEventParams: regexps that compile, and no tag without a service."""
    node, service, tag = (request.query.get(k, "") for k in ("node", "service", "tag"))
    if tag and not service:
        raise ConsulHTTPError(500, "cannot provide tag filter without service filter")
    for pattern in (node, service, tag):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConsulHTTPError(500, f"invalid filter: error parsing regexp: {exc}") from exc
    return node, service, tag


@routes.put("/v1/event/fire/{name:.*}")
async def put_event_fire(request: web.Request) -> web.Response:
    state, name = state_of(request), request.match_info["name"]
    if not name:
        raise ConsulHTTPError(400, "Missing name")
    node, service, tag = _filters(request)
    payload = await request.read()
    event = state.events.fire(name, payload or None, node, service, tag)
    return json_response(event.to_json(), request)


@routes.get("/v1/event/list")
async def get_event_list(request: web.Request) -> web.Response:
    state, name = state_of(request), request.query.get("name", "")
    blocking = Blocking.from_request(request)
    if blocking.index > 0:
        # event_endpoint.go EventList: block while the newest event is still the one the index names.
        deadline = asyncio.get_running_loop().time() + blocking.wait
        while state.events.index(name) == blocking.index and (left := deadline - asyncio.get_running_loop().time()) > 0:
            await state.events.wait_change(left)
    events = [e.to_json() for e in state.events.events if not name or e.name == name]
    return json_response(events, request, state.events.index(name))


def _coordinates(state: ConsulState) -> dict[str, dict[str, Any]]:
    """Every agent node starts at the origin, as a fresh serf pool does."""
    for node in state.catalog.nodes.values():
        if node.has_agent and node.name not in state.coordinates:
            state.coordinates[node.name] = origin_coordinate()
    return state.coordinates


def _entries(state: ConsulState, node: str | None) -> list[dict[str, Any]]:
    return [{"Node": name, "Segment": "", "Coord": coord} for name, coord in sorted(_coordinates(state).items())
            if node is None or name == node]


@routes.get("/v1/coordinate/datacenters")
async def get_coordinate_datacenters(request: web.Request) -> web.Response:
    state = state_of(request)
    server = f"{state.server_node}.{state.datacenter}"
    coord = _coordinates(state).get(state.server_node, origin_coordinate())
    body = [{"Datacenter": state.datacenter, "AreaID": "wan", "Coordinates": [{"Node": server, "Coord": coord}]}]
    return json_response(body, request)


@routes.get("/v1/coordinate/nodes")
async def get_coordinate_nodes(request: web.Request) -> web.Response:
    state = state_of(request)
    index, entries = await block(request, state.raft, lambda: (state.coordinate_index, _entries(state, None)),
                                 lambda: state.coordinate_index)
    return json_response(entries, request, index)


@routes.get("/v1/coordinate/node/{node:[^/]*}")
async def get_coordinate_node(request: web.Request) -> web.Response:
    state, node = state_of(request), request.match_info["node"]
    index, entries = await block(request, state.raft, lambda: (state.coordinate_index, _entries(state, node)),
                                 lambda: state.coordinate_index)
    if not entries:
        response = text_response(404, "")
        set_query_meta(response, index)
        return response
    return json_response(entries, request, index)


@routes.put("/v1/coordinate/update")
async def put_coordinate_update(request: web.Request) -> web.Response:
    state, body = state_of(request), await read_json(request)
    node = body.get("Node", "") if isinstance(body, dict) else ""
    coord = body.get("Coord") if isinstance(body, dict) else None
    if node not in state.catalog.nodes or not valid_coordinate(coord):
        # agent/consul/coordinate_endpoint.go Update refuses a coordinate it cannot use.
        raise ConsulHTTPError(500, "invalid coordinate", rpc=True)
    _coordinates(state)[node] = coord  # type: ignore[assignment]
    state.coordinate_index = state.raft.advance()
    return text_response(200, "")
