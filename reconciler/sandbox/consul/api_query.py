"""Prepared-query and status endpoints (`/v1/query/...`, `/v1/status/...`) (sandbox layer).

Create is POST and answers `{"ID"}`; read, update and delete take the query's UUID; execute and
explain take a UUID or a name (names may contain dots). Reading or executing an unknown query answers
404 "Query not found"; updating or deleting one is the RPC's 500 (agent/prepared_query_endpoint.go).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from reconciler.sandbox.consul.catalog import Instance
from reconciler.sandbox.consul.http_wire import (
    ConsulHTTPError,
    block,
    json_response,
    json_text_response,
    read_json,
    text_response,
)
from reconciler.sandbox.consul.queries import NOT_FOUND, PreparedQuery, not_modifiable
from reconciler.sandbox.consul.render import check_json, health_service_json, node_json
from reconciler.sandbox.consul.state import ConsulState, state_of

routes = web.RouteTableDef()
SERVER_RPC_PORT = 8300


@routes.post("/v1/query")
async def post_query(request: web.Request) -> web.Response:
    state = state_of(request)
    body = await read_json(request)
    session = body.get("Session", "") if isinstance(body, dict) else ""
    query = state.queries.create(body, known_session=session in state.sessions.sessions)
    return json_response({"ID": query.id}, request)


@routes.get("/v1/query")
async def get_queries(request: web.Request) -> web.Response:
    """A blocking read on the prepared-queries table's index (PreparedQuery.List runs in blockingQuery;
    state/prepared_query.go PreparedQueryList reports maxIndexTxn(tx, "prepared-queries"))."""
    state = state_of(request)

    def read() -> tuple[int, list[PreparedQuery]]:
        return state.queries.table_index, sorted(state.queries.queries.values(), key=lambda q: q.create_index)

    index, queries = await block(request, state.raft, read, lambda: state.queries.table_index)
    if "pretty" in request.query:
        return json_response([q.to_json() for q in queries], request, index)
    return json_text_response(state.query_texts.array(queries), request, index)


def _stored(state: ConsulState, query_id: str) -> PreparedQuery:
    query = state.queries.queries.get(query_id)
    if query is None:
        raise NOT_FOUND
    return query


@routes.get("/v1/query/{query_id:[^/]*}")
async def get_query(request: web.Request) -> web.Response:
    """PreparedQuery.Get blocks too, on the same table index (PreparedQueryGet)."""
    state, query_id = state_of(request), request.match_info["query_id"]

    def read() -> tuple[int, PreparedQuery]:
        return state.queries.table_index, _stored(state, query_id)

    index, query = await block(request, state.raft, read, lambda: state.queries.table_index)
    return json_response([query.to_json()], request, index)


@routes.put("/v1/query/{query_id:[^/]*}")
async def put_query(request: web.Request) -> web.Response:
    state = state_of(request)
    state.queries.update(request.match_info["query_id"], await read_json(request))
    return text_response(200, "")


@routes.delete("/v1/query/{query_id:[^/]*}")
async def delete_query(request: web.Request) -> web.Response:
    state = state_of(request)
    if not state.queries.delete(request.match_info["query_id"]):
        raise not_modifiable(request.match_info["query_id"])
    return text_response(200, "")


def _resolve(state: ConsulState, id_or_name: str) -> PreparedQuery:
    query = state.queries.resolve(id_or_name)
    if query is None:
        raise NOT_FOUND
    return query


def _node_entry(state: ConsulState, instance: Instance) -> dict[str, Any]:
    return {"Node": node_json(instance.node, state.datacenter), "Service": health_service_json(instance.service),
            "Checks": [check_json(c, state.catalog) for c in instance.checks]}


def _limit(request: web.Request) -> int:
    """agent/prepared_query_endpoint.go parseLimit: strconv.Atoi, its error a plain 500; <= 0 is no limit."""
    raw = request.query.get("limit", "")
    digits = raw[1:] if raw[:1] in ("+", "-") else raw
    if not raw:
        return 0
    if not (digits.isascii() and digits.isdigit()):
        raise ConsulHTTPError(500, f'Bad limit: strconv.Atoi: parsing "{raw}": invalid syntax')
    return int(raw)


@routes.get("/v1/query/{query:.+}/execute")
async def get_execute(request: web.Request) -> web.Response:
    state = state_of(request)
    query = _resolve(state, request.match_info["query"])
    instances = state.queries.execute(query)
    limit = _limit(request)
    if limit > 0:
        instances = instances[:limit]
    body = {"Service": query.service["Service"], "Nodes": [_node_entry(state, i) for i in instances],
            "DNS": query.dns, "Datacenter": state.datacenter, "Failovers": 0}
    # PreparedQuery.Execute is not a blocking RPC and never sets reply.Index; setMeta shows the 0 as 1.
    return json_response(body, request, 0)


@routes.get("/v1/query/{query:.+}/explain")
async def get_explain(request: web.Request) -> web.Response:
    state = state_of(request)
    query = _resolve(state, request.match_info["query"])
    return json_response({"Query": query.to_json()}, request, state.raft.current)


@routes.get("/v1/status/leader")
async def get_leader(request: web.Request) -> web.Response:
    state = state_of(request)
    return json_response(f"{state.catalog.nodes[state.server_node].address}:{SERVER_RPC_PORT}", request)


@routes.get("/v1/status/peers")
async def get_peers(request: web.Request) -> web.Response:
    state = state_of(request)
    return json_response([f"{state.catalog.nodes[state.server_node].address}:{SERVER_RPC_PORT}"], request)
