"""Catalog and health endpoints of the Consul sandbox over real HTTP, including `?passing`, `?tag`, `?filter`."""

from __future__ import annotations

import httpx
import pytest

from reconciler.sandbox.consul import ConsulSandbox
from tests.sandbox.consul.fixtures import consul_sandbox_at_real_periods  # noqa: F401


async def seed(http: httpx.AsyncClient, sandbox: ConsulSandbox) -> None:
    """Three redis instances on two nodes: passing (primary), warning (replica), critical (replica)."""
    for base, sid, tags, status, env in (
        (sandbox.url, "redis-a", ["primary", "v1"], "passing", "prod"),
        (sandbox.agent_url("agent-1"), "redis-b", ["replica"], "warning", "prod"),
        (sandbox.agent_url("agent-1"), "redis-c", ["replica"], "critical", "qa"),
    ):
        body = {"Name": "redis", "ID": sid, "Tags": tags, "Port": 6379, "Meta": {"env": env},
                "Check": {"TTL": "60s", "Status": status}}
        assert (await http.put(f"{base}/v1/agent/service/register", json=body)).status_code == 200


async def test_catalog_reads(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    await seed(http, consul_sandbox)
    base = consul_sandbox.url
    services = await http.get(f"{base}/v1/catalog/services")
    assert {k: sorted(v) for k, v in services.json().items()} == {"redis": ["primary", "replica", "v1"]}
    assert int(services.headers["X-Consul-Index"]) >= 1
    assert services.headers["X-Consul-KnownLeader"] == "true"
    entries = (await http.get(f"{base}/v1/catalog/service/redis")).json()
    assert sorted(e["ServiceID"] for e in entries) == ["redis-a", "redis-b", "redis-c"]
    assert all("Checks" not in e and e["ServicePort"] == 6379 for e in entries)
    tagged = (await http.get(f"{base}/v1/catalog/service/redis", params={"tag": "replica"})).json()
    assert sorted(e["ServiceID"] for e in tagged) == ["redis-b", "redis-c"]
    assert (await http.get(f"{base}/v1/catalog/service/nope")).json() == []
    nodes = (await http.get(f"{base}/v1/catalog/nodes")).json()
    assert [n["Node"] for n in nodes] == ["agent-1", "consul-server"]
    node = (await http.get(f"{base}/v1/catalog/node/agent-1")).json()
    assert sorted(node["Services"]) == ["redis-b", "redis-c"]
    listed = (await http.get(f"{base}/v1/catalog/node-services/agent-1")).json()
    assert sorted(s["ID"] for s in listed["Services"]) == ["redis-b", "redis-c"]
    unknown = await http.get(f"{base}/v1/catalog/node/nope")
    assert (unknown.status_code, unknown.text) == (200, "null")
    assert (await http.get(f"{base}/v1/catalog/datacenters")).json() == ["dc1"]


async def test_catalog_register_external_service_and_deregister(consul_sandbox: ConsulSandbox,
                                                                http: httpx.AsyncClient) -> None:
    base = consul_sandbox.url
    body = {"Node": "ext", "Address": "192.0.2.10", "NodeMeta": {"external-node": "true"},
            "Service": {"Service": "search", "Port": 80},
            "Check": {"Name": "probe", "Status": "passing", "ServiceID": "search",
                      "Definition": {"HTTP": "http://192.0.2.10/", "Interval": "5s"}}}
    response = await http.put(f"{base}/v1/catalog/register", json=body)
    assert (response.status_code, response.text) == (200, "true")
    entry = (await http.get(f"{base}/v1/health/service/search")).json()[0]
    assert entry["Node"]["Meta"] == {"external-node": "true"}
    assert [c["Status"] for c in entry["Checks"]] == ["passing"]
    assert entry["Checks"][0]["Definition"]["HTTP"] == "http://192.0.2.10/"
    missing = await http.put(f"{base}/v1/catalog/register", json={"Node": "x"})
    assert missing.status_code == 500  # the Catalog.Register RPC's validation (catalog_endpoint.go Register)
    await http.put(f"{base}/v1/catalog/deregister", json={"Node": "ext", "ServiceID": "search"})
    assert (await http.get(f"{base}/v1/catalog/service/search")).json() == []
    await http.put(f"{base}/v1/catalog/deregister", json={"Node": "ext"})
    assert (await http.get(f"{base}/v1/catalog/node/ext")).text == "null"


@pytest.mark.parametrize(("value", "expected"), [("", ["redis-a"]), ("1", ["redis-a"]), ("t", ["redis-a"]),
                                                 ("false", ["redis-a", "redis-b", "redis-c"])])
async def test_health_passing_parse_bool(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient, value: str,
                                         expected: list[str]) -> None:
    await seed(http, consul_sandbox)
    entries = (await http.get(f"{consul_sandbox.url}/v1/health/service/redis", params={"passing": value})).json()
    assert sorted(e["Service"]["ID"] for e in entries) == expected


async def test_health_entries_and_errors(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    await seed(http, consul_sandbox)
    base = consul_sandbox.url
    junk = await http.get(f"{base}/v1/health/service/redis", params={"passing": "maybe"})
    assert (junk.status_code, junk.text) == (400, "Invalid value for ?passing")
    entries = (await http.get(f"{base}/v1/health/service/redis", params={"tag": "replica"})).json()
    assert sorted(e["Service"]["ID"] for e in entries) == ["redis-b", "redis-c"]
    checks = {c["CheckID"] for c in entries[0]["Checks"]}
    assert checks == {"serfHealth", f"service:{entries[0]['Service']['ID']}"}
    assert (await http.get(f"{base}/v1/health/service/nope")).json() == []
    service_checks = (await http.get(f"{base}/v1/health/checks/redis")).json()
    assert sorted(c["CheckID"] for c in service_checks) == ["service:redis-a", "service:redis-b", "service:redis-c"]
    critical = (await http.get(f"{base}/v1/health/state/critical")).json()
    assert [c["CheckID"] for c in critical] == ["service:redis-c"]
    assert len((await http.get(f"{base}/v1/health/state/any")).json()) == 5
    assert (await http.get(f"{base}/v1/health/state/bogus")).status_code == 400
    node = (await http.get(f"{base}/v1/health/node/agent-1")).json()
    assert [c["CheckID"] for c in node] == ["serfHealth", "service:redis-b", "service:redis-c"]


@pytest.mark.parametrize(("expression", "expected"), [
    ('Service.Tags contains "replica"', ["redis-b", "redis-c"]),
    ('"primary" in Service.Tags', ["redis-a"]),
    ('"primary" not in Service.Tags', ["redis-b", "redis-c"]),
    ('Service.Meta.env == "qa"', ["redis-c"]),
    ('Service.Meta.env != "qa"', ["redis-a", "redis-b"]),
    ('Service.ID == "redis-a" or Node.Node == "agent-1" and Service.Meta.env == "qa"', ["redis-a", "redis-c"]),
    ('(Service.ID == "redis-a" or Node.Node == "agent-1") and Service.Meta.env == "prod"', ["redis-a", "redis-b"]),
    ('not (Service.Meta.env == "prod")', ["redis-c"]),
    ('Checks.Status contains "critical"', ["redis-c"]),
    ('Checks.Status == "warning"', ["redis-b"]),
    ('Service.Meta["env"] matches "^pr"', ["redis-a", "redis-b"]),
    ("Service.Tags is empty", []),
])
async def test_health_filter_expressions(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient, expression: str,
                                         expected: list[str]) -> None:
    await seed(http, consul_sandbox)
    response = await http.get(f"{consul_sandbox.url}/v1/health/service/redis", params={"filter": expression})
    assert response.status_code == 200, response.text
    assert sorted(e["Service"]["ID"] for e in response.json()) == expected


async def test_bad_filter_is_an_error_not_ignored(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    await seed(http, consul_sandbox)
    response = await http.get(f"{consul_sandbox.url}/v1/health/service/redis", params={"filter": "Service.ID =="})
    assert response.status_code == 400
    assert "Service.ID ==" in response.text
