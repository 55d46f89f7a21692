"""What a read is scoped to besides its path: `?dc` and `?node-meta` (sandbox layer, Consul emulator).

Real clients send both: vmagent's and Prometheus' `consul_sd_configs` put `?dc=<the agent's
datacenter>` on every catalog and health read, and `?node-meta=key:value` for `node_meta`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from reconciler.sandbox.consul.http_wire import ConsulHTTPError
from reconciler.sandbox.consul.state import state_of

# The endpoints that go through a server RPC, which Consul forwards to the `?dc` asked for; the
# agent's own endpoints (/v1/agent/...) and /v1/catalog/datacenters never read `?dc`.
FORWARDED = ("/v1/catalog/", "/v1/health/", "/v1/kv/", "/v1/session/", "/v1/query", "/v1/txn",
             "/v1/coordinate/nodes", "/v1/event/fire/")
NO_DC_PATH = "No path to datacenter"  # agent/structs/errors.go errNoDCPath


@web.middleware
async def datacenter_guard(request: web.Request,
                           handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """A `?dc` other than ours is Consul's 500 `No path to datacenter`: agent/http.go parseDC takes a
    non-empty `?dc` as is, and agent/consul/rpc.go forwardDC finds no route to any other datacenter
    (a single-datacenter sandbox has no WAN peers). The name compares exactly, as the RPC layer does."""
    wanted = request.query.get("dc", "")
    forwarded = request.path.startswith(FORWARDED) and request.path != "/v1/catalog/datacenters"
    forwarded = forwarded and request.match_info.http_exception is None  # an unknown path stays a 404
    if wanted and forwarded and wanted != state_of(request).datacenter:
        raise ConsulHTTPError(500, NO_DC_PATH, rpc=True)
    return await handler(request)


def node_meta_filters(request: web.Request) -> dict[str, str]:
    """agent/http.go parseMetaFilter: each `?node-meta` is `key:value`, split at the first `:` (no
    `:` at all: the value is empty, parseMetaPair); a repeated key keeps its last value."""
    filters: dict[str, str] = {}
    for raw in request.query.getall("node-meta", []):
        key, _, value = raw.partition(":")
        filters[key] = value
    return filters


def satisfies(meta: Mapping[str, str], filters: Mapping[str, str]) -> bool:
    """structs.SatisfiesMetaFilters: the node has every key, each with exactly that value."""
    return all(key in meta and meta[key] == value for key, value in filters.items())
