"""Prepared queries of the Consul sandbox over real HTTP: CRUD, execute by id and dotted name, tags, OnlyPassing."""

from __future__ import annotations

import httpx

from reconciler.sandbox.consul import ConsulSandbox
from tests.sandbox.consul.fixtures import consul_sandbox_at_real_periods  # noqa: F401


async def seed(http: httpx.AsyncClient, base: str) -> None:
    for sid, tags, status in (("r1", ["integration"], "passing"), ("r2", ["integration", "experimental"], "passing"),
                              ("r3", ["func-1"], "warning"), ("r4", ["func-1"], "critical")):
        body = {"Name": "redis", "ID": sid, "Tags": tags, "Port": 6379, "Check": {"TTL": "60s", "Status": status}}
        assert (await http.put(f"{base}/v1/agent/service/register", json=body)).status_code == 200


async def create(http: httpx.AsyncClient, base: str, body: dict[str, object]) -> str:
    response = await http.post(f"{base}/v1/query", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["ID"])


async def execute(http: httpx.AsyncClient, base: str, id_or_name: str) -> list[str]:
    response = await http.get(f"{base}/v1/query/{id_or_name}/execute")
    assert response.status_code == 200, response.text
    return sorted(n["Service"]["ID"] for n in response.json()["Nodes"])


async def test_crud(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    base = consul_sandbox.url
    qid = await create(http, base, {"Name": "redis.integration", "Service": {"Service": "redis"},
                                    "DNS": {"TTL": "10s"}})
    listed = (await http.get(f"{base}/v1/query")).json()
    assert [q["ID"] for q in listed] == [qid]
    one = (await http.get(f"{base}/v1/query/{qid}")).json()
    assert one[0]["Name"] == "redis.integration" and one[0]["DNS"] == {"TTL": "10s"}
    assert one[0]["Service"]["OnlyPassing"] is False
    update = await http.put(f"{base}/v1/query/{qid}", json={"Name": "redis.integration",
                                                            "Service": {"Service": "redis", "OnlyPassing": True}})
    assert update.status_code == 200
    assert (await http.get(f"{base}/v1/query/{qid}")).json()[0]["Service"]["OnlyPassing"] is True
    # Validation errors come back from the PreparedQuery.Apply RPC: 500 with the error text
    # (agent/consul/prepared_query_endpoint.go parseService, state/prepared_query.go preparedQuerySetTxn).
    clash = await http.post(f"{base}/v1/query", json={"Name": "REDIS.integration", "Service": {"Service": "x"}})
    assert (clash.status_code, clash.text) == (500, "name 'REDIS.integration' aliases an existing query name")
    empty = await http.post(f"{base}/v1/query", json={"Name": "empty"})
    assert (empty.status_code, empty.text) == (500, "Invalid prepared query: Must provide a Service name to query")
    assert (await http.delete(f"{base}/v1/query/{qid}")).status_code == 200
    assert (await http.get(f"{base}/v1/query")).json() == []
    gone = await http.get(f"{base}/v1/query/{qid}")
    assert (gone.status_code, gone.text) == (404, "Query not found")
    assert (await http.get(f"{base}/v1/query/nope/execute")).status_code == 404


async def test_execute_by_id_and_dotted_name_with_tags(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    base = consul_sandbox.url
    await seed(http, base)
    qid = await create(http, base, {"Name": "redis.integration",
                                    "Service": {"Service": "redis", "Tags": ["integration", "!experimental"]}})
    assert await execute(http, base, qid) == ["r1"]
    assert await execute(http, base, "redis.integration") == ["r1"]
    await create(http, base, {"Name": "redis.func-1", "Service": {"Service": "redis", "Tags": ["func-1"]}})
    assert await execute(http, base, "redis.func-1") == ["r3"], "critical dropped, warning kept"
    await create(http, base, {"Name": "redis.func-1.strict",
                              "Service": {"Service": "redis", "Tags": ["func-1"], "OnlyPassing": True}})
    assert await execute(http, base, "redis.func-1.strict") == []
    body = (await http.get(f"{base}/v1/query/redis.func-1/execute")).json()
    assert body["Service"] == "redis" and body["Datacenter"] == "dc1" and body["Failovers"] == 0
    # agent/prepared_query_endpoint.go parseLimit + PreparedQuery.Execute: only a limit above 0 cuts.
    unlimited = (await http.get(f"{base}/v1/query/redis.func-1/execute", params={"limit": "0"})).json()
    assert [n["Service"]["ID"] for n in unlimited["Nodes"]] == ["r3"]
    assert (await http.get(f"{base}/v1/query/{qid}/execute", params={"limit": "1"})).json()["Nodes"] != []
    bad = await http.get(f"{base}/v1/query/{qid}/execute", params={"limit": "x"})
    assert (bad.status_code, bad.text) == (500, 'Bad limit: strconv.Atoi: parsing "x": invalid syntax')


async def test_template_and_explain(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    base = consul_sandbox.url
    await seed(http, base)
    await create(http, base, {"Name": "env-", "Template": {"Type": "name_prefix_match", "Regexp": "^env-(.+)$"},
                              "Service": {"Service": "redis", "Tags": ["${match(1)}"]}})
    assert await execute(http, base, "env-integration") == ["r1", "r2"]
    explained = (await http.get(f"{base}/v1/query/env-func-1/explain")).json()
    assert explained["Query"]["Service"]["Tags"] == ["func-1"]


async def test_query_bound_to_session_goes_with_it(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    base = consul_sandbox.url
    sid = (await http.put(f"{base}/v1/session/create", json={})).json()["ID"]
    await create(http, base, {"Name": "temp", "Session": sid, "Service": {"Service": "redis"}})
    await http.put(f"{base}/v1/session/destroy/{sid}")
    assert (await http.get(f"{base}/v1/query")).json() == []
