"""`?dc`, `?node-meta` and `?stale` as Consul answers them: vmagent's Consul discovery
(VictoriaMetrics lib/promscrape/discovery/consul/watch.go) sends `?dc=<agent's datacenter>&stale` on
every catalog and health read, and `&node-meta=key:value` for its `node_meta` setting.

Sources: agent/http.go parseDC, parseMetaFilter and parseMetaPair; agent/consul/rpc.go forwardDC and
agent/structs/errors.go errNoDCPath; structs.SatisfiesMetaFilters; agent/consul/state/catalog.go
ServicesByNodeMeta (index of the services and nodes tables); structs.QueryOptions.ConsistencyLevel.
"""

from __future__ import annotations

import httpx

from reconciler.sandbox.consul import ConsulSandbox


async def register(http: httpx.AsyncClient, base: str, node: str, meta: dict[str, str], service: str) -> None:
    body = {"Node": node, "Address": "10.0.0.9", "NodeMeta": meta, "Service": {"Service": service, "Port": 80},
            "Check": {"CheckID": "up", "Name": "up", "Status": "passing", "ServiceID": service}}
    assert (await http.put(f"{base}/v1/catalog/register", json=body)).status_code == 200


async def test_another_datacenter_has_no_path_and_the_agent_endpoints_ignore_dc(
    consul_sandbox: ConsulSandbox, http: httpx.AsyncClient
) -> None:
    base = consul_sandbox.url
    for path in ("/v1/catalog/services", "/v1/health/service/consul", "/v1/session/list", "/v1/catalog/nodes"):
        ours = await http.get(f"{base}{path}", params={"dc": "dc1"})
        assert ours.status_code == 200, (path, ours.text)
        other = await http.get(f"{base}{path}", params={"dc": "DC1"})  # names compare exactly
        assert (other.status_code, other.text) == (500, "No path to datacenter"), path
    put = await http.put(f"{base}/v1/kv/a", params={"dc": "dc2"}, content=b"x")
    assert (put.status_code, put.text) == (500, "No path to datacenter")
    assert (await http.get(f"{base}/v1/kv/a")).status_code == 404  # nothing was written
    for path in ("/v1/agent/self?dc=dc2", "/v1/catalog/datacenters?dc=dc2", "/v1/catalog/services?dc="):
        assert (await http.get(f"{base}{path}")).status_code == 200, path  # an empty `?dc` is our own
    assert (await http.get(f"{base}/v1/catalog/nothing-here", params={"dc": "dc2"})).status_code == 404


async def test_node_meta_keeps_the_instances_on_matching_nodes(
    consul_sandbox: ConsulSandbox, http: httpx.AsyncClient
) -> None:
    base = consul_sandbox.url
    await register(http, base, "db-1", {"rack": "r1", "zone": "eu:west"}, "db")
    await register(http, base, "db-2", {"rack": "r2"}, "db")
    await register(http, base, "web-1", {"rack": "r1"}, "web")

    async def names(*filters: str) -> set[str]:
        answer = await http.get(f"{base}/v1/catalog/services", params=[("node-meta", f) for f in filters])
        return set(answer.json())

    assert await names("rack:r1") == {"db", "web"}
    assert await names("rack:r1", "zone:eu:west") == {"db"}  # every filter holds; split at the first `:`
    assert await names("rack") == set()  # no `:`: the value is empty, and no rack is ""
    assert await names("rack:r3") == set()
    health = await http.get(f"{base}/v1/health/service/db", params={"node-meta": "rack:r2", "dc": "dc1", "stale": ""})
    assert [e["Node"]["Node"] for e in health.json()] == ["db-2"]
    catalog = await http.get(f"{base}/v1/catalog/service/db", params={"node-meta": "rack:r1"})
    assert [e["Node"] for e in catalog.json()] == ["db-1"]
    nodes = await http.get(f"{base}/v1/catalog/nodes", params={"node-meta": "rack:r1"})
    assert [n["Node"] for n in nodes.json()] == ["db-1", "web-1"]
    checks = await http.get(f"{base}/v1/health/state/any", params={"node-meta": "rack:r2"})
    assert [(c["Node"], c["CheckID"]) for c in checks.json()] == [("db-2", "up")]


async def test_services_by_node_meta_move_with_the_nodes_table(
    consul_sandbox: ConsulSandbox, http: httpx.AsyncClient
) -> None:
    base = consul_sandbox.url
    await register(http, base, "db-1", {"rack": "r1"}, "db")

    async def index(params: dict[str, str]) -> int:
        return int((await http.get(f"{base}/v1/catalog/services", params=params)).headers["X-Consul-Index"])

    plain, by_meta = await index({}), await index({"node-meta": "rack:r1"})
    # A node without services: the nodes table moves, the services table does not.
    body = {"Node": "spare", "Address": "10.0.0.10", "NodeMeta": {"rack": "r1"}}
    assert (await http.put(f"{base}/v1/catalog/register", json=body)).status_code == 200
    assert await index({}) == plain
    assert await index({"node-meta": "rack:r1"}) > by_meta


async def test_effective_consistency_says_what_the_read_asked_for(
    consul_sandbox: ConsulSandbox, http: httpx.AsyncClient
) -> None:
    base = consul_sandbox.url
    header = "X-Consul-Effective-Consistency"
    for params, expected in (({}, "leader"), ({"stale": ""}, "stale"), ({"consistent": ""}, "consistent")):
        answer = await http.get(f"{base}/v1/health/service/consul", params=params)
        assert answer.headers[header] == expected, params
    assert header not in (await http.get(f"{base}/v1/agent/self", params={"stale": ""})).headers
