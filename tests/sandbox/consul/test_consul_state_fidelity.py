"""Consul state rules the sandbox follows, each citing the hashicorp/consul source it mirrors.

KV flags and presence flags, `?index`/`?wait` parsing, which writes move indexes, session TTL timers,
re-registration keeping check results, prepared-query templates and HTTP/TCP check stagger.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from reconciler.sandbox.consul import ConsulSandbox
from reconciler.sandbox.consul.http_wire import Blocking
from tests.sandbox.consul.fixtures import SandboxFactory, eventually


async def test_put_without_flags_resets_them(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    """agent/kvs_endpoint.go KVSPut builds a new DirEntry with Flags 0 and sets them only from `?flags`."""
    kv = f"{consul_sandbox.url}/v1/kv/flagged"
    await http.put(kv, content=b"a", params={"flags": "7"})
    await http.put(kv, content=b"b")
    assert (await http.get(kv)).json()[0]["Flags"] == 0


async def test_recurse_and_raw_are_presence_flags(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    """kvs_endpoint.go KVSGet/KVSDelete test `params["recurse"]` / `params["raw"]` for presence only."""
    kv = f"{consul_sandbox.url}/v1/kv"
    for key in ("tree/a", "tree/b"):
        await http.put(f"{kv}/{key}", content=key.encode())
    listed = await http.get(f"{kv}/tree/", params={"recurse": "false"})
    assert [e["Key"] for e in listed.json()] == ["tree/a", "tree/b"]
    raw = await http.get(f"{kv}/tree/a", params={"raw": "0"})
    assert raw.content == b"tree/a"
    assert (await http.delete(f"{kv}/tree/", params={"recurse": "no"})).text == "true"
    assert (await http.get(f"{kv}/tree/", params={"recurse": ""})).status_code == 404


@pytest.mark.parametrize("index", ["-1", "+5", " 5", "1_000", "18446744073709551616", "x"])
async def test_index_must_be_an_unsigned_integer(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient,
                                                  index: str) -> None:
    """agent/http.go parseWait: strconv.ParseUint(index, 10, 64), else 400 `Invalid index`."""
    answer = await http.get(f"{consul_sandbox.url}/v1/catalog/services", params={"index": index})
    assert (answer.status_code, answer.text) == (400, "Invalid index")


def test_wait_zero_is_the_default_wait() -> None:
    """agent/consul/rpc.go blockingQuery: MaxQueryTime <= 0 becomes the default 5m, never 'answer now'."""
    class Query:
        def __init__(self, **params: str) -> None:
            self.query = params

    for params in ({"wait": "0s"}, {"wait": "0"}, {"wait": ""}, {}):
        assert Blocking.from_request(Query(index="3", **params)).wait == 300.0  # type: ignore[arg-type]
    assert Blocking.from_request(Query(index="3", wait="20m")).wait == 600.0  # type: ignore[arg-type]


async def test_wait_zero_blocks(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    kv = f"{consul_sandbox.url}/v1/kv/zero"
    await http.put(kv, content=b"1")
    index = (await http.get(kv)).headers["X-Consul-Index"]
    waiting = asyncio.create_task(http.get(kv, params={"index": index, "wait": "0s"}))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await http.put(kv, content=b"2")
    assert (await asyncio.wait_for(waiting, 10)).status_code == 200


async def _index(http: httpx.AsyncClient, url: str) -> int:
    return int((await http.get(url)).headers["X-Consul-Index"])


async def test_identical_registrations_and_output_only_changes_move_no_index(
        consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    """agent/consul/state/catalog.go ensureServiceTxn/ensureCheckTxn skip an identical service or check;
    agent/local/state.go UpdateCheck defers an output-only change (check_update_interval)."""
    base = consul_sandbox.url
    body = {"Name": "api", "ID": "api-1", "Port": 80, "Check": {"TTL": "1h", "Status": "passing"}}  # no expiry here
    await http.put(f"{base}/v1/agent/service/register", json=body)
    health = f"{base}/v1/health/service/api"
    before = await _index(http, health)
    waiting = asyncio.create_task(http.get(health, params={"index": before, "wait": "2s"}))
    await http.put(f"{base}/v1/agent/service/register", json=body)
    await http.put(f"{base}/v1/agent/check/pass/service:api-1", params={"note": "still fine"})
    woken = await waiting
    assert int(woken.headers["X-Consul-Index"]) == before  # timed out: nothing woke it
    assert await _index(http, health) == before
    changed = dict(body, Port=81)
    await http.put(f"{base}/v1/agent/service/register", json=changed)
    assert await _index(http, health) > before


async def test_catalog_services_moves_only_with_the_services_table(consul_sandbox: ConsulSandbox,
                                                                   http: httpx.AsyncClient) -> None:
    """catalog.go catalogServicesMaxIndex: /v1/catalog/services reports the services table's index."""
    base = consul_sandbox.url
    await http.put(f"{base}/v1/agent/service/register", json={"Name": "api", "Check": {"TTL": "60s"}})
    services = f"{base}/v1/catalog/services"
    before = await _index(http, services)
    await http.put(f"{base}/v1/agent/check/pass/service:api")
    await http.put(f"{base}/v1/catalog/register", json={"Node": "extra", "Address": "127.0.0.50"})
    assert await _index(http, services) == before
    await http.put(f"{base}/v1/agent/service/register", json={"Name": "other"})
    assert await _index(http, services) > before


async def test_reregistration_keeps_the_current_check_status(consul_sandbox: ConsulSandbox,
                                                             http: httpx.AsyncClient) -> None:
    base = consul_sandbox.url
    body = {"Name": "api", "Check": {"TTL": "60s", "Status": "passing"}}
    await http.put(f"{base}/v1/agent/service/register", json=body)
    await http.put(f"{base}/v1/agent/check/warn/service:api", params={"note": "slow"})
    for status in ("passing", "critical"):
        await http.put(f"{base}/v1/agent/service/register", json={**body, "Check": {"TTL": "60s", "Status": status}})
        check = (await http.get(f"{base}/v1/agent/checks")).json()["service:api"]
        assert (check["Status"], check["Output"]) == ("warning", "slow")


async def test_session_ttl_expires_at_twice_the_ttl(consul_sandbox_factory: SandboxFactory,
                                                    http: httpx.AsyncClient) -> None:
    """agent/consul/session_ttl.go resetSessionTimer arms TTL * SessionTTLMultiplier (2)."""
    sandbox = await consul_sandbox_factory(session_time_scale=0.05)  # TTL 10s -> 0.5s, expiry at 1s
    created = await http.put(f"{sandbox.url}/v1/session/create", json={"TTL": "10s"})
    sid, started = created.json()["ID"], time.monotonic()
    info = f"{sandbox.url}/v1/session/info/{sid}"
    await eventually(lambda: http.get(info), lambda r: r.json() == [], timeout=10)
    assert time.monotonic() - started >= 0.95


async def test_template_regexp_is_unanchored_and_validated(consul_sandbox: ConsulSandbox,
                                                           http: httpx.AsyncClient) -> None:
    """agent/consul/prepared_query/template.go: Compile refuses a bad Regexp; Render uses FindStringSubmatch."""
    base = consul_sandbox.url
    await http.put(f"{base}/v1/agent/service/register", json={"Name": "redis", "Tags": ["func-1"]})
    template = {"Name": "", "Template": {"Type": "name_prefix_match", "Regexp": "(func-[0-9]+)$"},
                "Service": {"Service": "redis", "Tags": ["${match(1)}"]}}
    created = await http.post(f"{base}/v1/query", json=template)
    assert created.status_code == 200
    explained = (await http.get(f"{base}/v1/query/redis.func-1/explain")).json()
    assert explained["Query"]["Service"]["Tags"] == ["func-1"]  # matched mid-name: no implicit anchor
    by_id = await http.get(f"{base}/v1/query/{created.json()['ID']}/execute")
    assert (by_id.status_code, by_id.text) == (
        500, "prepared query templates can only be resolved up by name, not by ID")
    for bad in ("(unclosed", "(?=lookahead)", "a\\1"):
        refused = await http.post(f"{base}/v1/query", json={**template, "Name": "x", "Template": {
            "Type": "name_prefix_match", "Regexp": bad}})
        assert refused.status_code == 500 and refused.text.startswith("failed compiling template: Bad Regexp"), bad


async def test_update_and_delete_of_unknown_query_are_rpc_errors(consul_sandbox: ConsulSandbox,
                                                                 http: httpx.AsyncClient) -> None:
    """agent/consul/prepared_query_endpoint.go Apply: `Cannot modify non-existent prepared query`, a 500."""
    unknown = "5e1e24e5-1329-f86f-18c6-3d3734edb2cd"
    for method in ("PUT", "DELETE"):
        answer = await http.request(method, f"{consul_sandbox.url}/v1/query/{unknown}",
                                    json={"Name": "x", "Service": {"Service": "y"}})
        assert (answer.status_code, answer.text) == (500, f"Cannot modify non-existent prepared query: '{unknown}'")
    assert (await http.get(f"{consul_sandbox.url}/v1/query/{unknown}")).status_code == 404


async def test_http_checks_start_after_a_stagger(consul_sandbox_factory: SandboxFactory,
                                                 http: httpx.AsyncClient) -> None:
    """agent/checks/check.go CheckHTTP.run / CheckTCP.run wait lib.RandomStagger(Interval) first: with
    many checks of one interval, their first probes spread over that interval instead of firing at once."""
    sandbox = await consul_sandbox_factory(check_interval_scale=0.1)  # Interval 10s -> 1s
    for n in range(8):
        body = {"Name": f"s{n}", "Check": {"TCP": f"127.0.0.1:{sandbox.port}", "Interval": "10s"}}
        await http.put(f"{sandbox.url}/v1/agent/service/register", json=body)
    seen: dict[str, float] = {}

    async def passing() -> int:
        checks = (await http.get(f"{sandbox.url}/v1/agent/checks")).json()
        for check_id, check in checks.items():
            if check["Status"] == "passing":
                seen.setdefault(check_id, time.monotonic())
        return len(seen)

    await eventually(passing, lambda n: n == 8, timeout=15, period=0.01)
    # The seeded stagger spreads these 8 first probes over ~0.6 s of the 1 s interval.
    assert max(seen.values()) - min(seen.values()) > 0.2


async def test_catalog_rpc_validation_errors_are_500(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    """agent/consul/catalog_endpoint.go Register/Deregister validate in the RPC: the HTTP layer answers 500."""
    base = consul_sandbox.url
    for path, body, text in (
        ("register", {"Address": "127.0.0.60"}, "Must provide node"),
        ("register", {"Node": "n1"}, "Must provide address if SkipNodeUpdate is not set"),
        ("register", {"Node": "n1", "Address": "127.0.0.60", "Service": {"ID": "x"}},
         "Must provide service name with ID"),
        ("deregister", {"ServiceID": "x"}, "Must provide node"),
    ):
        answer = await http.put(f"{base}/v1/catalog/{path}", json=body)
        assert (answer.status_code, answer.text) == (500, text), body
