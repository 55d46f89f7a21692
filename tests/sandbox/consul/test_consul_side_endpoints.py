"""Endpoints common Consul clients call beside the catalog: events, coordinates and KV transactions.

Each follows the hashicorp/consul source named in its test (agent/event_endpoint.go,
agent/coordinate_endpoint.go, agent/txn_endpoint.go and agent/consul/state/txn.go).
"""

from __future__ import annotations

import asyncio
import base64

import httpx

from reconciler.sandbox.consul import ConsulSandbox
from tests.sandbox.consul.test_consul_blocking import blocked
from tests.sandbox.marathon.fixtures import until


async def test_event_fire_and_blocking_list(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    """event_endpoint.go: fire answers the event (LTime 0 until delivered); list blocks on the newest ID."""
    base = consul_sandbox.url
    fired = await http.put(f"{base}/v1/event/fire/deploy", content=b"v2", params={"service": "web"})
    event = fired.json()
    assert fired.status_code == 200 and event["Name"] == "deploy" and event["LTime"] == 0
    assert base64.b64decode(event["Payload"]) == b"v2" and event["ServiceFilter"] == "web" and event["Version"] == 1
    listed = await http.get(f"{base}/v1/event/list", params={"name": "deploy"})
    assert [e["ID"] for e in listed.json()] == [event["ID"]] and listed.json()[0]["LTime"] == 1
    index = listed.headers["X-Consul-Index"]
    waiting = asyncio.create_task(http.get(f"{base}/v1/event/list", params={"index": index, "wait": "30s"}))
    events = consul_sandbox.state.events
    await until(lambda: events.waiting >= 1, "the blocking list asleep", timeout=10)  # the fire below wakes it
    assert not waiting.done()
    await http.put(f"{agent(consul_sandbox)}/v1/event/fire/deploy")
    woken = await asyncio.wait_for(waiting, 10)
    assert woken.headers["X-Consul-Index"] != index and len(woken.json()) == 2
    assert woken.json()[1]["Payload"] is None
    assert (await http.put(f"{base}/v1/event/fire/")).text == "Missing name"
    no_service = await http.put(f"{base}/v1/event/fire/x", params={"tag": "blue"})
    assert (no_service.status_code, no_service.text) == (500, "cannot provide tag filter without service filter")


def agent(sandbox: ConsulSandbox) -> str:
    return sandbox.agent_url("agent-1")


async def test_coordinates(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    """coordinate_endpoint.go: nodes block on the coordinates index; an unknown node is a bare 404."""
    base = consul_sandbox.url
    nodes = await http.get(f"{base}/v1/coordinate/nodes")
    assert sorted(e["Node"] for e in nodes.json()) == ["agent-1", "consul-server"]
    assert len(nodes.json()[0]["Coord"]["Vec"]) == 8 and int(nodes.headers["X-Consul-Index"]) >= 1
    datacenters = (await http.get(f"{base}/v1/coordinate/datacenters")).json()
    assert datacenters[0]["Datacenter"] == "dc1" and datacenters[0]["Coordinates"][0]["Node"] == "consul-server.dc1"
    missing = await http.get(f"{base}/v1/coordinate/node/nope")
    assert (missing.status_code, missing.text) == (404, "") and "X-Consul-Index" in missing.headers
    index = nodes.headers["X-Consul-Index"]
    waiting = asyncio.create_task(http.get(f"{base}/v1/coordinate/node/agent-1", params={"index": index}))
    coord = {"Vec": [0.001] * 8, "Error": 0.2, "Adjustment": 0.0, "Height": 0.0001}
    await blocked(consul_sandbox)
    assert (await http.put(f"{base}/v1/coordinate/update", json={"Node": "agent-1", "Coord": coord})).status_code == 200
    woken = await asyncio.wait_for(waiting, 10)
    assert woken.json()[0]["Coord"] == coord
    bad = await http.put(f"{base}/v1/coordinate/update", json={"Node": "agent-1", "Coord": {"Vec": [1.0]}})
    assert bad.status_code == 500


async def test_txn_applies_atomically_with_one_index(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    """txn_endpoint.go Txn + state/txn.go txnKVS: one index for all writes, values dropped from write results."""
    base = consul_sandbox.url
    ops = [{"KV": {"Verb": "set", "Key": "cfg/a", "Value": base64.b64encode(b"1").decode(), "Flags": 3}},
           {"KV": {"Verb": "set", "Key": "cfg/b", "Value": base64.b64encode(b"2").decode()}},
           {"KV": {"Verb": "get", "Key": "cfg/a"}}]
    applied = await http.put(f"{base}/v1/txn", json=ops)
    assert applied.status_code == 200 and applied.json()["Errors"] is None
    results = [r["KV"] for r in applied.json()["Results"]]
    assert [r["Key"] for r in results] == ["cfg/a", "cfg/b", "cfg/a"]
    assert results[0]["Value"] is None and base64.b64decode(results[2]["Value"]) == b"1" and results[0]["Flags"] == 3
    assert len({r["ModifyIndex"] for r in results}) == 1


async def test_txn_rolls_back_on_the_first_failure(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    base = consul_sandbox.url
    await http.put(f"{base}/v1/kv/cfg/a", content=b"old")
    index = (await http.get(f"{base}/v1/kv/cfg/a")).json()[0]["ModifyIndex"]
    ops = [{"KV": {"Verb": "set", "Key": "cfg/a", "Value": base64.b64encode(b"new").decode()}},
           {"KV": {"Verb": "check-index", "Key": "cfg/a", "Index": index}}]
    failed = await http.put(f"{base}/v1/txn", json=ops)
    assert failed.status_code == 409
    assert failed.json() == {"Results": None, "Errors": [
        {"OpIndex": 1, "What": f"current modify index {index + 1} != {index}"}]}
    assert (await http.get(f"{base}/v1/kv/cfg/a", params={"raw": ""})).content == b"old"
    too_many = await http.put(f"{base}/v1/txn", json=[{"KV": {"Verb": "get", "Key": "x"}}] * 65)
    assert (too_many.status_code, too_many.text) == (413, "Transaction contains too many operations (65 > 64)")
    reads = await http.put(f"{base}/v1/txn", json=[{"KV": {"Verb": "get-tree", "Key": "cfg/"}}])
    assert reads.headers["X-Consul-KnownLeader"] == "true" and len(reads.json()["Results"]) == 1
