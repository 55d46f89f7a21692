"""Reads kept fast at 10,000 instances give what they gave before. Answers from kept texts (encoded.py,
the catalog's service names) are the bytes a fresh encoding gives after every kind of change: a status,
an output alone, a service's tags, a removal, a prepared query's update and deletion (`?pretty` still
encodes everything, so it is the reference here). A service read looks its instances up by name,
case-insensitively, and follows a rename and a deregistration.
"""

from __future__ import annotations

import json

import httpx

from reconciler.sandbox.consul import ConsulSandbox

COMPACT = (",", ":")


async def same_as_fresh(http: httpx.AsyncClient, url: str) -> object:
    """The compact answer is byte for byte the compact encoding of the freshly encoded (`?pretty`) one."""
    kept, fresh = await http.get(url), await http.get(url, params={"pretty": ""})
    assert kept.status_code == fresh.status_code == 200
    assert kept.headers["Content-Type"].startswith("application/json")
    assert kept.headers.get("X-Consul-Index") == fresh.headers.get("X-Consul-Index")
    assert kept.text == json.dumps(fresh.json(), separators=COMPACT)
    return kept.json()


def by_id(checks: object) -> dict[str, dict[str, object]]:
    assert isinstance(checks, list)
    return {c["CheckID"]: c for c in checks}


async def test_every_check_read_follows_each_change(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    agent, state_any = f"{consul_sandbox.url}/v1/agent", f"{consul_sandbox.url}/v1/health/state/any"
    for n in range(3):
        service = {"ID": f"web-{n}", "Name": "web", "Tags": ["a"], "Port": 8000 + n,
                   "Check": {"CheckID": f"ttl-{n}", "TTL": "1000s"}}
        assert (await http.put(f"{agent}/service/register", json=service)).status_code == 200
    services = f"{consul_sandbox.url}/v1/catalog/services"
    assert (await same_as_fresh(http, services))["web"] == ["a"]  # type: ignore[index]
    checks = by_id(await same_as_fresh(http, state_any))
    assert {checks[f"ttl-{n}"]["Status"] for n in range(3)} == {"critical"}

    await http.put(f"{agent}/check/update/ttl-0", json={"Status": "passing", "Output": "first"})
    assert by_id(await same_as_fresh(http, state_any))["ttl-0"]["Output"] == "first"
    # An output alone moves no index (agent/local/state.go UpdateCheck) but the read shows it.
    await http.put(f"{agent}/check/update/ttl-0", json={"Status": "passing", "Output": "second"})
    assert by_id(await same_as_fresh(http, state_any))["ttl-0"]["Output"] == "second"

    retagged = {"ID": "web-1", "Name": "web", "Tags": ["b"], "Port": 8001,
                "Check": {"CheckID": "ttl-1", "TTL": "1000s"}}
    await http.put(f"{agent}/service/register", json=retagged)
    assert by_id(await same_as_fresh(http, state_any))["ttl-1"]["ServiceTags"] == ["b"]

    await http.put(f"{agent}/service/deregister/web-2")
    assert "ttl-2" not in by_id(await same_as_fresh(http, state_any))
    assert (await same_as_fresh(http, services))["web"] == ["a", "b"]  # type: ignore[index]


async def test_query_list_follows_creates_updates_and_deletes(consul_sandbox: ConsulSandbox,
                                                              http: httpx.AsyncClient) -> None:
    queries = f"{consul_sandbox.url}/v1/query"
    made = [(await http.post(queries, json={"Name": f"q-{n}", "Service": {"Service": f"s-{n}"}})).json()["ID"]
            for n in range(3)]
    assert [q["Name"] for q in await same_as_fresh(http, queries)] == ["q-0", "q-1", "q-2"]  # type: ignore[attr-defined]
    await http.put(f"{queries}/{made[1]}", json={"Name": "q-1", "Service": {"Service": "other", "OnlyPassing": True}})
    listed = await same_as_fresh(http, queries)
    assert isinstance(listed, list) and listed[1]["Service"]["Service"] == "other"
    await http.delete(f"{queries}/{made[0]}")
    assert [q["ID"] for q in await same_as_fresh(http, queries)] == made[1:]  # type: ignore[attr-defined]


async def test_service_reads_follow_renames_and_removals(consul_sandbox: ConsulSandbox,
                                                         http: httpx.AsyncClient) -> None:
    agent, health = f"{consul_sandbox.url}/v1/agent", f"{consul_sandbox.url}/v1/health/service"
    for n, name in enumerate(["Web", "web", "api"]):
        await http.put(f"{agent}/service/register", json={"ID": f"s-{n}", "Name": name, "Port": 9000 + n})

    async def ids(name: str) -> list[str]:
        return [e["Service"]["ID"] for e in (await http.get(f"{health}/{name}")).json()]

    assert await ids("WEB") == ["s-0", "s-1"]  # names match in any case (state/catalog.go, service index)
    await http.put(f"{agent}/service/register", json={"ID": "s-1", "Name": "api", "Port": 9001})
    assert (await ids("web"), await ids("api")) == (["s-0"], ["s-1", "s-2"])
    await http.put(f"{agent}/service/deregister/s-0")
    assert await ids("web") == []
    await http.put(f"{agent}/service/register", json={"ID": "s-0", "Name": "web", "Port": 9000})
    assert await ids("web") == ["s-0"]
