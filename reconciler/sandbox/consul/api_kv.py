"""The KV and session endpoints (`/v1/kv/...`, `/v1/session/...`) (sandbox layer, Consul emulator).

KV values are raw bytes on PUT and with `?raw`, base64 in JSON reads; a missing key is a 404 with
an empty body that still carries the index headers; a PUT without `?flags` stores flags 0. Session
reads block on `?index`.
"""

from __future__ import annotations

import base64
from typing import Any

from aiohttp import web

from reconciler.sandbox.consul.http_wire import (
    ConsulHTTPError,
    block,
    json_response,
    path_param,
    read_json,
    set_query_meta,
    uint_param,
)
from reconciler.sandbox.consul.kv import KVEntry
from reconciler.sandbox.consul.sessions import Session
from reconciler.sandbox.consul.state import ConsulState, node_of, state_of

routes = web.RouteTableDef()
MISSING_SESSION = "Missing session"
MAX_VALUE = 512 * 1024


def entry_json(entry: KVEntry) -> dict[str, Any]:
    body: dict[str, Any] = {
        "LockIndex": entry.lock_index, "Key": entry.key, "Flags": entry.flags,
        "Value": base64.b64encode(entry.value).decode() if entry.value else None,
        "CreateIndex": entry.create_index, "ModifyIndex": entry.modify_index,
    }
    if entry.session:
        body["Session"] = entry.session
    return body


def _keys(entries: list[KVEntry], prefix: str, separator: str) -> list[str]:
    keys: list[str] = []
    for entry in entries:
        rest = entry.key[len(prefix):]
        cut = rest.find(separator) if separator else -1
        key = prefix + rest[: cut + len(separator)] if cut >= 0 else entry.key
        if not keys or keys[-1] != key:
            keys.append(key)
    return keys


def _empty_404(index: int) -> web.Response:
    response = web.Response(status=404)
    set_query_meta(response, index)
    return response


@routes.get("/v1/kv/{key:.*}")
async def get_kv(request: web.Request) -> web.Response:
    state, key = state_of(request), request.match_info["key"]
    # agent/kvs_endpoint.go: `keys`, `recurse` and `raw` are presence flags (`?recurse=false` recurses).
    listing = "keys" in request.query
    recurse = listing or "recurse" in request.query
    if not key and not recurse:
        raise ConsulHTTPError(400, "Missing key name")

    def read() -> tuple[int, list[KVEntry]]:
        if recurse:
            return state.kv.prefix_index(key), state.kv.under(key)
        entry = state.kv.entries.get(key)
        return state.kv.key_index(key), [entry] if entry else []

    index, entries = await block(request, state.raft, read)
    if listing:
        separator = request.query.get("separator", request.query.get("seperator", ""))
        if not entries and key:
            return _empty_404(index)
        return json_response(_keys(entries, key, separator), request, index)
    if not entries:
        return _empty_404(index)
    if "raw" in request.query:
        response = web.Response(body=entries[0].value, content_type="text/plain")
        set_query_meta(response, index)
        return response
    return json_response([entry_json(e) for e in entries], request, index)


def _lock_flags(request: web.Request) -> tuple[int | None, str | None, str | None]:
    cas = uint_param(request, "cas")
    acquire, release = request.query.get("acquire"), request.query.get("release")
    if sum(x is not None for x in (cas, acquire, release)) > 1:
        raise ConsulHTTPError(400, "Conflicting flags: cas=, acquire=, release= are mutually exclusive")
    return cas, acquire, release


@routes.put("/v1/kv/{key:.*}")
async def put_kv(request: web.Request) -> web.Response:
    state, key = state_of(request), request.match_info["key"]
    if not key:
        raise ConsulHTTPError(400, "Missing key name")
    cas, acquire, release = _lock_flags(request)
    value = await request.read()
    if len(value) > MAX_VALUE:
        raise ConsulHTTPError(413, f"Request body({len(value)} bytes) too large, max size: {MAX_VALUE} bytes. "
                                   "See https://developer.hashicorp.com/docs/agent/config/config-files#kv_max_value_size.")
    flags = uint_param(request, "flags")
    if acquire is not None:
        if acquire not in state.sessions.sessions:
            # Consul's state store refuses the lock outright; the RPC error surfaces as a 500.
            raise ConsulHTTPError(500, f'invalid session "{acquire}"', rpc=True)
        done = state.kv.acquire(key, value, flags, acquire)
    elif release is not None:
        done = state.kv.release(key, value, flags, release)
    elif cas is not None:
        done = state.kv.cas(key, value, flags, cas)
    else:
        done = state.kv.put(key, value, flags)
    return json_response(done, request)


@routes.delete("/v1/kv/{key:.*}")
async def delete_kv(request: web.Request) -> web.Response:
    state, key = state_of(request), request.match_info["key"]
    recurse = "recurse" in request.query
    cas = uint_param(request, "cas")
    if recurse and cas is not None:
        raise ConsulHTTPError(400, "Conflicting flags: cas= and recurse= are mutually exclusive")
    if not key and not recurse:
        raise ConsulHTTPError(400, "Missing key name")
    if cas is not None:
        return json_response(state.kv.delete_cas(key, cas), request)
    if recurse:
        state.kv.delete_tree(key)
    else:
        state.kv.delete(key)
    return json_response(True, request)


@routes.put("/v1/session/create")
async def put_session_create(request: web.Request) -> web.Response:
    state = state_of(request)
    body = await read_json(request, optional=True)
    if not isinstance(body, dict):
        raise ConsulHTTPError(400, "Request decode failed: body must be a JSON object")
    session = state.sessions.create(body, node_of(request))
    return json_response({"ID": session.id}, request)


@routes.put("/v1/session/renew/{session_id:[^/]*}")
async def put_session_renew(request: web.Request) -> web.Response:
    state, session_id = state_of(request), path_param(request, "session_id", MISSING_SESSION)
    session = state.sessions.renew(session_id)
    if session is None:
        raise ConsulHTTPError(404, f"Session id '{session_id}' not found")
    return json_response([session.to_json()], request, state.sessions.index_of([session]))


@routes.put("/v1/session/destroy/{session_id:[^/]*}")
async def put_session_destroy(request: web.Request) -> web.Response:
    state = state_of(request)
    state.sessions.invalidate(path_param(request, "session_id", MISSING_SESSION))
    return json_response(True, request)


async def _session_read(request: web.Request, state: ConsulState, select: Any) -> web.Response:
    def read() -> tuple[int, list[Session]]:
        found = sorted((s for s in state.sessions.sessions.values() if select(s)), key=lambda s: s.create_index)
        return state.sessions.table_index, found

    index, sessions = await block(request, state.raft, read)
    return json_response([s.to_json() for s in sessions], request, index)


@routes.get("/v1/session/info/{session_id:[^/]*}")
async def get_session_info(request: web.Request) -> web.Response:
    wanted = path_param(request, "session_id", MISSING_SESSION)
    return await _session_read(request, state_of(request), lambda s: s.id == wanted)


@routes.get("/v1/session/list")
async def get_session_list(request: web.Request) -> web.Response:
    return await _session_read(request, state_of(request), lambda s: True)


@routes.get("/v1/session/node/{node:[^/]*}")
async def get_session_node(request: web.Request) -> web.Response:
    wanted = path_param(request, "node", "Missing node name")
    return await _session_read(request, state_of(request), lambda s: s.node == wanted)
