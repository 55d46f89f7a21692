"""Consul sandbox answers checked against Consul's source (hashicorp/consul): the jitter a blocking read
adds to `wait`, the text of a refused session TTL, and check state kept across a re-registration.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from reconciler.sandbox.consul import ConsulSandbox
from reconciler.sandbox.consul.http_wire import JITTER_FRACTION, jittered
from tests.sandbox.consul.test_consul_blocking import blocked


def test_a_blocked_read_is_held_for_wait_plus_a_stagger_below_a_sixteenth() -> None:
    # agent/consul/rpc.go blockingQuery: `queryTimeout += lib.RandomStagger(queryTimeout / jitterFraction)`
    # with jitterFraction 16; lib.RandomStagger(intv) draws uniformly in [0, intv).
    assert JITTER_FRACTION == 16
    assert jittered(160.0, 0.0) == 160.0
    assert jittered(160.0, 0.5) == 165.0
    assert 169.9 < jittered(160.0, 0.999) < 170.0


async def test_blocked_reads_end_between_wait_and_wait_plus_its_jitter(consul_sandbox: ConsulSandbox,
                                                                      http: httpx.AsyncClient) -> None:
    url = f"{consul_sandbox.url}/v1/catalog/services"
    index = (await http.get(url)).headers["X-Consul-Index"]

    async def held() -> float:
        started = time.monotonic()
        answer = await http.get(url, params={"index": index, "wait": "320ms"})
        assert answer.headers["X-Consul-Index"] == index
        return time.monotonic() - started

    durations = await asyncio.gather(*(held() for _ in range(4)))
    # Never before `wait`; the upper bound leaves room for a loaded machine.
    assert all(0.32 <= d < 0.34 + 3.0 for d in durations), durations


async def test_a_refused_session_ttl_names_it_in_nanoseconds(consul_sandbox: ConsulSandbox,
                                                             http: httpx.AsyncClient) -> None:
    # agent/consul/session_endpoint.go Apply: fmt.Errorf("Invalid Session TTL '%d', must be between [%v=%v]",
    # ttl, ...) formats the time.Duration with %d, i.e. as nanoseconds.
    refused = await http.put(f"{consul_sandbox.url}/v1/session/create", json={"TTL": "5s"})
    assert refused.status_code == 500
    assert refused.text.endswith("Invalid Session TTL '5000000000', must be between [10s=24h0m0s]")


async def test_re_registering_a_service_keeps_its_checks_status_and_output(consul_sandbox: ConsulSandbox,
                                                                           http: httpx.AsyncClient) -> None:
    # agent/agent.go addServiceInternal: a snapshot of the check states is taken first and, for a check id
    # that already existed, `check.Output = prev.Output; check.Status = prev.Status` (even over a `Status`
    # in the new registration), so re-registering never flaps a check back to critical.
    base = consul_sandbox.url
    ttl_check = {"CheckID": "web-ttl", "Name": "ttl", "TTL": "300s"}
    registration = {"ID": "web-1", "Name": "web", "Checks": [ttl_check]}
    params = {"replace-existing-checks": "true"}
    assert (await http.put(f"{base}/v1/agent/service/register", json=registration, params=params)).status_code == 200
    assert (await http.get(f"{base}/v1/agent/checks")).json()["web-ttl"]["Status"] == "critical"
    assert (await http.put(f"{base}/v1/agent/check/pass/web-ttl", params={"note": "fine"})).status_code == 200
    again = {**registration, "Tags": ["v2"], "Checks": [{**ttl_check, "Status": "critical"}]}
    assert (await http.put(f"{base}/v1/agent/service/register", json=again, params=params)).status_code == 200
    check = (await http.get(f"{base}/v1/agent/checks")).json()["web-ttl"]
    assert (check["Status"], check["Output"], check["ServiceTags"]) == ("passing", "fine", ["v2"])


async def test_a_node_read_reports_the_nodes_and_services_index_and_1_for_an_unknown_node(
        consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    # state/catalog.go NodeServices/nodeServices: the index is catalogMaxIndex(tx, entMeta, false), the nodes
    # and services tables without the checks table, and 0 for an unknown node, which agent/http.go setIndex
    # answers as 1 ("the very first Raft write is always an internal one").
    base = consul_sandbox.url
    node = (await http.get(f"{base}/v1/agent/self")).json()["Config"]["NodeName"]
    registration = {"ID": "api-1", "Name": "api", "Check": {"CheckID": "api-ttl", "Name": "ttl", "TTL": "300s"}}
    assert (await http.put(f"{base}/v1/agent/service/register", json=registration)).status_code == 200
    before = await http.get(f"{base}/v1/catalog/node/{node}")
    checks_before = (await http.get(f"{base}/v1/health/state/any")).headers["X-Consul-Index"]
    assert (await http.put(f"{base}/v1/agent/check/pass/api-ttl")).status_code == 200
    checks_after = (await http.get(f"{base}/v1/health/state/any")).headers["X-Consul-Index"]
    after = await http.get(f"{base}/v1/catalog/node/{node}")
    assert int(checks_after) > int(checks_before)
    assert after.headers["X-Consul-Index"] == before.headers["X-Consul-Index"]
    assert "api-1" in after.json()["Services"]
    unknown = await http.get(f"{base}/v1/catalog/node/no-such-node")
    assert (unknown.status_code, unknown.text, unknown.headers["X-Consul-Index"]) == (200, "null", "1")


async def test_the_query_list_blocks_on_the_prepared_queries_table_index(consul_sandbox: ConsulSandbox,
                                                                         http: httpx.AsyncClient) -> None:
    # agent/consul/prepared_query_endpoint.go List and Get run in blockingQuery; state/prepared_query.go
    # PreparedQueryList/Get report maxIndexTxn(tx, "prepared-queries"): other writes (a KV key here) do
    # not move it, a query write does. Execute is no blocking RPC and leaves the index at 0 (shown as 1).
    base = consul_sandbox.url
    created = await http.post(f"{base}/v1/query", json={"Name": "web-q", "Service": {"Service": "web"}})
    query_id = created.json()["ID"]
    index = (await http.get(f"{base}/v1/query")).headers["X-Consul-Index"]
    assert (await http.get(f"{base}/v1/query/{query_id}")).headers["X-Consul-Index"] == index
    assert (await http.put(f"{base}/v1/kv/unrelated", content=b"x")).text == "true"
    assert (await http.get(f"{base}/v1/query")).headers["X-Consul-Index"] == index
    waiting = asyncio.create_task(http.get(f"{base}/v1/query", params={"index": index, "wait": "30s"}))
    await blocked(consul_sandbox)
    assert (await http.put(f"{base}/v1/kv/unrelated", content=b"y")).text == "true"
    await blocked(consul_sandbox)
    assert not waiting.done()
    renamed = await http.put(f"{base}/v1/query/{query_id}", json={"Name": "web-r", "Service": {"Service": "web"}})
    assert renamed.status_code == 200
    woken = await asyncio.wait_for(waiting, 10)
    assert int(woken.headers["X-Consul-Index"]) > int(index) and woken.json()[0]["Name"] == "web-r"
    executed = await http.get(f"{base}/v1/query/web-r/execute")
    assert executed.headers["X-Consul-Index"] == "1"
