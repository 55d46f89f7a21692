"""The catalog and health endpoints (`/v1/catalog/...`, `/v1/health/...`) (sandbox layer, Consul emulator).

Catalog reads carry no health; health reads pair each instance with its node and service checks.
Reads block on `?index`; the index of a service read moves only when that service's instances,
their checks or the nodes table change.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from reconciler.sandbox.consul.catalog import Check, CheckStatus, Instance
from reconciler.sandbox.consul.filter_selectors import CATALOG_ENTRY, CHECK, HEALTH_ENTRY, NODE, NODE_SERVICE
from reconciler.sandbox.consul.filtering import Predicate, Selectors, apply_filter, compile_request_filter
from reconciler.sandbox.consul.http_wire import (
    ConsulHTTPError,
    block,
    flag,
    json_response,
    json_text_response,
    path_param,
    read_json,
)
from reconciler.sandbox.consul.registration import catalog_check, catalog_node, catalog_service, pick
from reconciler.sandbox.consul.render import (
    catalog_entry_json,
    check_json,
    health_service_json,
    node_json,
    node_service_json,
)
from reconciler.sandbox.consul.scoping import node_meta_filters, satisfies
from reconciler.sandbox.consul.state import ConsulState, state_of

routes = web.RouteTableDef()
MISSING_SERVICE, MISSING_NODE = "Missing service name", "Missing node name"
STATES = ("any", "passing", "warning", "critical")


def _has_tags(tags: list[str], wanted: list[str]) -> bool:
    """agent/consul/state/catalog.go serviceTagFilter: `?tag=` compares case-insensitively."""
    present = {t.lower() for t in tags}
    return all(t.lower() in present for t in wanted)


def _node_meta(state: ConsulState, node: str) -> dict[str, str]:
    known = state.catalog.nodes.get(node)
    return known.meta if known else {}


def _filter(request: web.Request, kind: Selectors) -> Predicate | None:
    return compile_request_filter(request.query.get("filter"), kind)


@routes.put("/v1/catalog/register")
async def put_register(request: web.Request) -> web.Response:
    state = state_of(request)
    body = await read_json(request)
    node = catalog_node(body)
    if not pick(body, "SkipNodeUpdate", False) or node.name not in state.catalog.nodes:
        known = state.catalog.nodes.get(node.name)
        node.has_agent = bool(known and known.has_agent)
        node.id = node.id or (known.id if known else "")
        state.catalog.upsert_node(node)
    if pick(body, "Service"):
        state.catalog.upsert_service(catalog_service(pick(body, "Service"), node.name))
    checks = ([pick(body, "Check")] if pick(body, "Check") else []) + list(pick(body, "Checks") or [])
    for check in checks:
        state.catalog.upsert_check(catalog_check(check, node.name))
    return json_response(True, request)


@routes.put("/v1/catalog/deregister")
async def put_deregister(request: web.Request) -> web.Response:
    state = state_of(request)
    body = await read_json(request)
    node = pick(body, "Node", "")
    if not node:
        raise ConsulHTTPError(500, "Must provide node", rpc=True)  # the Catalog.Deregister RPC's error
    if pick(body, "ServiceID"):
        state.catalog.remove_service(node, pick(body, "ServiceID"))
    elif pick(body, "CheckID"):
        state.catalog.remove_check(node, pick(body, "CheckID"))
    else:
        state.catalog.remove_node(node)
    return json_response(True, request)


@routes.get("/v1/catalog/datacenters")
async def get_datacenters(request: web.Request) -> web.Response:
    return json_response([state_of(request).datacenter], request)


def _filtered_service_names(state: ConsulState, keep: Predicate | None, meta: dict[str, str]) -> dict[str, list[str]]:
    """Consul filters `/catalog/services` on each instance (catalog entry), then unions the tags by name;
    with `?node-meta`, only instances on nodes whose meta matches (state/catalog.go ServicesByNodeMeta)."""
    if keep is None and not meta:
        return state.catalog.service_names()
    names: dict[str, list[str]] = {}
    for name in state.catalog.service_names():
        entries = [catalog_entry_json(i.node, i.service, state.datacenter) for i in state.catalog.instances(name)
                   if satisfies(i.node.meta, meta)]
        for entry in apply_filter(entries, keep) if keep is not None else entries:
            tags = names.setdefault(name, [])
            tags.extend(t for t in entry["ServiceTags"] if t not in tags)
    return names


@routes.get("/v1/catalog/services")
async def get_services(request: web.Request) -> web.Response:
    state, keep, meta = state_of(request), _filter(request, CATALOG_ENTRY), node_meta_filters(request)

    def index() -> int:
        """catalog.go catalogServicesMaxIndex: the services table's index alone, not the checks' or
        nodes'; ServicesByNodeMeta (`?node-meta`) takes the nodes table's too."""
        tables = state.catalog.table_index
        return max(tables["services"], tables["nodes"]) if meta else tables["services"]

    index_now, names = await block(request, state.raft, lambda: (index(), _filtered_service_names(state, keep, meta)),
                                   index)
    if keep is None and not meta and "pretty" not in request.query:
        return json_text_response(state.names_text.text(names), request, index_now)
    return json_response(names, request, index_now)


@routes.get("/v1/catalog/service/{name:[^/]*}")
async def get_service(request: web.Request) -> web.Response:
    state, name = state_of(request), path_param(request, "name", MISSING_SERVICE)
    tags, keep, meta = request.query.getall("tag", []), _filter(request, CATALOG_ENTRY), node_meta_filters(request)

    def read() -> tuple[int, list[dict[str, Any]]]:
        entries = [catalog_entry_json(i.node, i.service, state.datacenter) for i in state.catalog.instances(name)
                   if _has_tags(i.service.tags, tags) and satisfies(i.node.meta, meta)]
        return state.catalog.service_index(name), entries

    index, entries = await block(request, state.raft, read, lambda: state.catalog.service_index(name))
    return json_response(apply_filter(entries, keep), request, index)


@routes.get("/v1/catalog/nodes")
async def get_nodes(request: web.Request) -> web.Response:
    state, keep, meta = state_of(request), _filter(request, NODE), node_meta_filters(request)

    def read() -> tuple[int, list[dict[str, Any]]]:
        nodes = sorted((n for n in state.catalog.nodes.values() if satisfies(n.meta, meta)), key=lambda n: n.name)
        return state.catalog.table_index["nodes"], [node_json(n, state.datacenter) for n in nodes]

    index, nodes = await block(request, state.raft, read, lambda: state.catalog.table_index["nodes"])
    return json_response(apply_filter(nodes, keep), request, index)


def _node_services(state: ConsulState, name: str) -> list[dict[str, Any]]:
    services = sorted((s for s in state.catalog.services.values() if s.node == name), key=lambda s: s.id)
    return [node_service_json(s) for s in services]


@routes.get("/v1/catalog/node/{node:[^/]*}")
async def get_node(request: web.Request) -> web.Response:
    state, name = state_of(request), path_param(request, "node", MISSING_NODE)
    keep = _filter(request, NODE_SERVICE)

    def read() -> tuple[int, dict[str, Any] | None]:
        node = state.catalog.nodes.get(name)
        if node is None:
            return 0, None
        services = apply_filter(_node_services(state, name), keep)
        return state.catalog.node_services_index(name), {"Node": node_json(node, state.datacenter),
                                                         "Services": {s["ID"]: s for s in services}}

    index, body = await block(request, state.raft, read, lambda: state.catalog.node_services_index(name))
    return json_response(body, request, index)


@routes.get("/v1/catalog/node-services/{node:[^/]*}")
async def get_node_services(request: web.Request) -> web.Response:
    state, name = state_of(request), path_param(request, "node", MISSING_NODE)
    keep = _filter(request, NODE_SERVICE)

    def read() -> tuple[int, dict[str, Any] | None]:
        node = state.catalog.nodes.get(name)
        if node is None:
            return 0, None
        services = apply_filter(_node_services(state, name), keep)
        listed = {"Node": node_json(node, state.datacenter), "Services": services}
        return state.catalog.node_services_index(name), listed

    index, body = await block(request, state.raft, read, lambda: state.catalog.node_services_index(name))
    return json_response(body, request, index)


def _health_entry(state: ConsulState, instance: Instance) -> dict[str, Any]:
    return {"Node": node_json(instance.node, state.datacenter), "Service": health_service_json(instance.service),
            "Checks": [check_json(c, state.catalog) for c in instance.checks]}


@routes.get("/v1/health/service/{name:[^/]*}")
async def get_health_service(request: web.Request) -> web.Response:
    state, name = state_of(request), path_param(request, "name", MISSING_SERVICE)
    passing = flag(request, "passing")
    tags, keep, meta = request.query.getall("tag", []), _filter(request, HEALTH_ENTRY), node_meta_filters(request)

    def read() -> tuple[int, list[dict[str, Any]]]:
        instances = [i for i in state.catalog.instances(name) if _has_tags(i.service.tags, tags)
                     and satisfies(i.node.meta, meta) and (not passing or i.status == CheckStatus.PASSING)]
        return state.catalog.service_index(name), [_health_entry(state, i) for i in instances]

    index, entries = await block(request, state.raft, read, lambda: state.catalog.service_index(name))
    return json_response(apply_filter(entries, keep), request, index)


@routes.get("/v1/health/checks/{name:[^/]*}")
async def get_health_checks(request: web.Request) -> web.Response:
    state, name = state_of(request), path_param(request, "name", MISSING_SERVICE)
    keep = _filter(request, CHECK)

    def read() -> tuple[int, list[dict[str, Any]]]:
        checks = [check_json(c, state.catalog) for i in state.catalog.instances(name) for c in i.checks
                  if c.service_id == i.service.id]
        return state.catalog.service_index(name), checks

    index, checks = await block(request, state.raft, read, lambda: state.catalog.service_index(name))
    return json_response(apply_filter(checks, keep), request, index)


@routes.get("/v1/health/state/{state:[^/]*}")
async def get_health_state(request: web.Request) -> web.Response:
    state, wanted = state_of(request), path_param(request, "state", "Missing check state")
    if wanted not in STATES:
        raise ConsulHTTPError(400, "Invalid check state")
    keep, meta = _filter(request, CHECK), node_meta_filters(request)

    def chosen() -> list[Check]:
        checks = sorted(state.catalog.checks.values(), key=lambda c: (c.node, c.check_id))
        return [c for c in checks if wanted in ("any", c.status)
                and (not meta or satisfies(_node_meta(state, c.node), meta))]

    def index() -> int:
        return state.catalog.table_index["checks"]

    if keep is None and "pretty" not in request.query:
        # What a watch reads on every wake-up: the kept texts of the checks, joined (encoded.py).
        at, text = await block(request, state.raft, lambda: (index(), state.check_texts.array(chosen())), index)
        return json_text_response(text, request, at)
    at, checks = await block(request, state.raft, lambda: (index(), [check_json(c, state.catalog) for c in chosen()]),
                             index)
    return json_response(apply_filter(checks, keep), request, at)


@routes.get("/v1/health/node/{node:[^/]*}")
async def get_health_node(request: web.Request) -> web.Response:
    state, name = state_of(request), path_param(request, "node", MISSING_NODE)
    keep = _filter(request, CHECK)

    def read() -> tuple[int, list[dict[str, Any]]]:
        checks = sorted((c for c in state.catalog.checks.values() if c.node == name), key=lambda c: c.check_id)
        return state.catalog.table_index["checks"], [check_json(c, state.catalog) for c in checks]

    index, checks = await block(request, state.raft, read, lambda: state.catalog.table_index["checks"])
    return json_response(apply_filter(checks, keep), request, index)
