"""Wire conventions shared by every Consul emulator endpoint (sandbox layer, Consul emulator).

Plain-text errors, compact JSON bodies, the always-on ACL policy header, query-meta headers,
Go `ParseBool` query flags, blocking-query parameters and waits, and the fault middleware.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from reconciler.sandbox.consul.durations import DurationError, parse_duration
from reconciler.sandbox.consul.faults import HttpFaults
from reconciler.sandbox.consul.raft import RaftIndex
from reconciler.sandbox.write_log import WriteLog

DEFAULT_WAIT = 300.0
MAX_WAIT = 600.0
JITTER_FRACTION = 16  # agent/consul/rpc.go jitterFraction
FAULTS_KEY = web.AppKey("faults", HttpFaults)
WRITES_KEY = web.AppKey("writes", WriteLog)
# True on the server agent's listener, False on a client agent's (see ConsulHTTPError.rpc).
SERVER_AGENT_KEY = web.AppKey("server_agent", bool)
# agent/pool/pool.go ConnPool.rpc wraps every error a client agent's RPC to a server returns.
RPC_CALL_PREFIX = "rpc error making call: "
T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ConsulHTTPError(Exception):
    """An answer with a plain-text body, as Consul's HTTP layer writes every error.

    `rpc` marks an error a server's RPC endpoint returned (Session.Apply, KVS.Apply, Catalog.Register,
    PreparedQuery.Apply, a `?dc` forward...). A server agent calls its own endpoints in memory
    (agent/consul/server.go Server.RPC: the error text as is), a client agent through its connection
    pool (agent/consul/client.go Client.RPC -> agent/pool/pool.go ConnPool.rpc: `rpc error making
    call: <error>`), so the same failure reads differently depending on the agent asked.
    """

    def __init__(self, status: int, text: str, *, rpc: bool = False) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.rpc = rpc


def text_response(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/plain")


def json_response(body: Any, request: web.Request, index: int | None = None, status: int = 200) -> web.Response:
    """A JSON body (indented with `?pretty`), with query-meta headers when an index is given."""
    pretty = "pretty" in request.query
    text = json.dumps(body, indent=4) if pretty else json.dumps(body, separators=(",", ":"))
    response = web.Response(status=status, text=text, content_type="application/json")
    if index is not None:
        set_query_meta(response, index)
    return response


def json_text_response(text: str, request: web.Request, index: int) -> web.Response:
    """A body already encoded compactly (kept texts joined); `?pretty` asks for `json_response` instead."""
    response = web.Response(status=200, text=text, content_type="application/json")
    set_query_meta(response, index)
    return response


def set_query_meta(response: web.StreamResponse, index: int) -> None:
    response.headers["X-Consul-Index"] = str(max(index, 1))
    response.headers["X-Consul-KnownLeader"] = "true"
    response.headers["X-Consul-LastContact"] = "0"
    response.headers["X-Consul-Effective-Consistency"] = "leader"


def consistency_of(request: web.Request) -> str:
    """agent/structs/structs.go QueryOptions.ConsistencyLevel: `?consistent`, else `?stale` (vmagent's
    and Prometheus' Consul discovery send it by default), else `leader`; presence is enough."""
    if "consistent" in request.query:
        return "consistent"
    return "stale" if "stale" in request.query else "leader"


def path_param(request: web.Request, name: str, missing: str) -> str:
    """A trailing path parameter; an empty one (`/v1/health/service/`) is Consul's 400 with the `missing` text."""
    value = request.match_info[name]
    if not value:
        raise ConsulHTTPError(400, missing)
    return value


def parse_bool(text: str) -> bool | None:
    """Go's strconv.ParseBool; None for anything it refuses."""
    if text in {"1", "t", "T", "true", "TRUE", "True"}:
        return True
    if text in {"0", "f", "F", "false", "FALSE", "False"}:
        return False
    return None


def flag(request: web.Request, name: str) -> bool:
    """A presence-or-ParseBool flag such as `?passing`: 400 `Invalid value for ?<name>` on junk."""
    if name not in request.query:
        return False
    raw = request.query[name]
    value = True if raw == "" else parse_bool(raw)
    if value is None:
        raise ConsulHTTPError(400, f"Invalid value for ?{name}")
    return value


async def read_json(request: web.Request, *, optional: bool = False) -> Any:
    raw = await request.read()
    if not raw.strip() and optional:
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ConsulHTTPError(400, f"Request decode failed: {exc}") from exc


@dataclass(frozen=True)
class Blocking:
    """The blocking-query state a request carries: `?index` (0 = do not block) and `?wait`."""

    index: int
    wait: float

    @property
    def hold(self) -> float:
        """How long a read blocked on an unchanged index is held: `wait` plus a random stagger below
        wait/16 (agent/consul/rpc.go blockingQuery: `queryTimeout += lib.RandomStagger(queryTimeout /
        jitterFraction)`), so that clients must allow for more than `wait`."""
        return jittered(self.wait, random.random())

    @classmethod
    def from_request(cls, request: web.Request) -> Blocking:
        """agent/http.go parseWait: an empty value is no value; `index` is a Go ParseUint.

        A `wait` of zero or less is the default wait, never "answer at once" (agent/consul/rpc.go
        blockingQuery sets MaxQueryTime to defaultQueryTime when it is <= 0, and caps it at 10m).
        """
        wait = 0.0
        if request.query.get("wait"):
            try:
                wait = parse_duration(request.query["wait"])
            except DurationError as exc:
                raise ConsulHTTPError(400, "Invalid wait time") from exc
        index = parse_uint(request.query.get("index") or "0")
        if index is None:
            raise ConsulHTTPError(400, "Invalid index")
        if "stale" in request.query and "consistent" in request.query:
            raise ConsulHTTPError(400, "Cannot specify ?stale with ?consistent, conflicting semantics.")
        return cls(index=index, wait=DEFAULT_WAIT if wait <= 0 else min(wait, MAX_WAIT))


def jittered(wait: float, draw: float) -> float:
    """`wait` plus `draw` (in [0, 1)) of its 1/16th: lib.RandomStagger(wait / 16) is uniform in [0, wait/16)."""
    return wait + draw * wait / JITTER_FRACTION


def parse_uint(text: str) -> int | None:
    """Go's strconv.ParseUint(text, 10, 64): ASCII digits only (no sign, space or `_`), below 2**64."""
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value < 2**64 else None


def uint_param(request: web.Request, name: str) -> int | None:
    """A numeric query parameter the KV endpoint parses with ParseUint and whose error it returns as is.

    agent/kvs_endpoint.go KVSPut returns the strconv error unwrapped, so the HTTP layer answers 500.
    """
    if name not in request.query:
        return None
    raw = request.query[name]
    value = parse_uint(raw)
    if value is None:
        reason = "value out of range" if raw.isascii() and raw.isdigit() else "invalid syntax"
        raise ConsulHTTPError(500, f'strconv.ParseUint: parsing "{raw}": {reason}')
    return value


async def block(request: web.Request, raft: RaftIndex, read: Callable[[], tuple[int, T]],
                index_of: Callable[[], int] | None = None) -> tuple[int, T]:
    """Wait until the read's index passes the request's `?index` or `?wait` elapses, then read.

    `index_of` is a cheap way to learn the index alone: with hundreds of watchers, every write wakes
    them all, and each should only look at a number before going back to sleep.
    """
    blocking = Blocking.from_request(request)
    peek = index_of or (lambda: read()[0])
    if blocking.index > 0:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + blocking.hold
        while peek() <= blocking.index and (left := deadline - loop.time()) > 0:
            await raft.wait_change(left)
    return read()


@web.middleware
async def consul_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Faults first, then the handler; every answer gets the ACL policy header and errors are plain text."""
    faults = request.app[FAULTS_KEY]
    if faults.latency > 0:
        await asyncio.sleep(faults.latency)
    if faults.should_fail():
        response: web.StreamResponse = text_response(faults.error_status, faults.error_text)
    else:
        response = await _answer(request, handler)
    if "X-Consul-Effective-Consistency" in response.headers:
        response.headers["X-Consul-Effective-Consistency"] = consistency_of(request)
    response.headers["X-Consul-Default-ACL-Policy"] = "allow"
    request.app[WRITES_KEY].record(request, response.status)
    return response


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ConsulHTTPError as exc:
        through_pool = exc.rpc and not request.app.get(SERVER_AGENT_KEY, True)
        return text_response(exc.status, RPC_CALL_PREFIX + exc.text if through_pool else exc.text)
    except web.HTTPMethodNotAllowed as exc:
        response = text_response(405, f"method {request.method} not allowed")
        response.headers["Allow"] = ", ".join(sorted(set(exc.allowed_methods) - {"HEAD"}))
        return response
    except web.HTTPNotFound:
        return text_response(404, "404 page not found")
    except web.HTTPException as exc:
        return text_response(exc.status, exc.text or exc.reason)
