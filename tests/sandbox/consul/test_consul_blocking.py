"""Blocking queries of the Consul sandbox: wake-up on change, timeout at `wait`, index rules."""

from __future__ import annotations

import asyncio
import time

import httpx

from reconciler.sandbox.consul import ConsulSandbox
from tests.sandbox.consul.fixtures import consul_sandbox_at_real_periods  # noqa: F401
from tests.sandbox.marathon.fixtures import until


async def blocked(consul_sandbox: ConsulSandbox, readers: int = 1) -> None:
    """Until `readers` blocking queries are asleep in the sandbox: a write after this really wakes them."""
    raft = consul_sandbox.state.raft
    await until(lambda: raft.waiting >= readers, f"{readers} blocking reader(s) waiting", timeout=10)


async def test_health_blocking_query_wakes_on_check_change(consul_sandbox: ConsulSandbox,
                                                           http: httpx.AsyncClient) -> None:
    base = consul_sandbox.url
    await http.put(f"{base}/v1/agent/service/register",
                   json={"Name": "api", "Check": {"TTL": "60s", "Status": "passing"}})
    first = await http.get(f"{base}/v1/health/service/api")
    index = int(first.headers["X-Consul-Index"])
    waiting = asyncio.create_task(http.get(f"{base}/v1/health/service/api", params={"index": index, "wait": "30s"}))
    await blocked(consul_sandbox)
    unrelated = await http.put(f"{base}/v1/kv/noise", content=b"x")
    assert unrelated.status_code == 200
    assert not waiting.done()
    await http.put(f"{base}/v1/agent/check/fail/service:api")
    woken = await asyncio.wait_for(waiting, 10)
    assert int(woken.headers["X-Consul-Index"]) > index
    assert woken.json()[0]["Checks"][1]["Status"] == "critical"


async def test_kv_blocking_query_wakes_on_put(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    kv = f"{consul_sandbox.url}/v1/kv/watched"
    await http.put(kv, content=b"1")
    index = int((await http.get(kv)).headers["X-Consul-Index"])
    waiting = asyncio.create_task(http.get(kv, params={"index": index, "wait": "30s"}))
    await blocked(consul_sandbox)
    assert not waiting.done()
    await http.put(kv, content=b"2")
    woken = await asyncio.wait_for(waiting, 10)
    assert woken.json()[0]["Value"] == "Mg=="


async def test_blocking_query_times_out_at_wait_with_same_index(consul_sandbox: ConsulSandbox,
                                                                http: httpx.AsyncClient) -> None:
    base = consul_sandbox.url
    first = await http.get(f"{base}/v1/catalog/services")
    index = first.headers["X-Consul-Index"]
    started = time.monotonic()
    second = await http.get(f"{base}/v1/catalog/services", params={"index": index, "wait": "300ms"})
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 5
    assert second.headers["X-Consul-Index"] == index
    assert second.json() == first.json()


async def test_session_list_blocks_and_bad_parameters(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    base = consul_sandbox.url
    index = int((await http.get(f"{base}/v1/session/list")).headers["X-Consul-Index"])
    assert index >= 1
    waiting = asyncio.create_task(http.get(f"{base}/v1/session/list", params={"index": index, "wait": "30s"}))
    await blocked(consul_sandbox)
    assert not waiting.done()
    await http.put(f"{base}/v1/session/create", json={})
    assert len((await asyncio.wait_for(waiting, 10)).json()) == 1
    bad_wait = await http.get(f"{base}/v1/catalog/services", params={"index": "1", "wait": "soon"})
    assert (bad_wait.status_code, bad_wait.text) == (400, "Invalid wait time")
    bad_index = await http.get(f"{base}/v1/catalog/services", params={"index": "x"})
    assert (bad_index.status_code, bad_index.text) == (400, "Invalid index")
    both = await http.get(f"{base}/v1/catalog/services", params={"stale": "", "consistent": ""})
    assert both.status_code == 400
