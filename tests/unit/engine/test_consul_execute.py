"""Executing Consul actions (engine layer) against httpx.MockTransport: which agent gets what, outcomes, and how
many writes are in flight at once (in all and to one agent)."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from reconciler.consul.client import ConsulClient
from reconciler.core.model import Action, ActionKind, Outcome, Plan
from reconciler.engine.consul_execute import (
    MAX_CONCURRENT_WRITES,
    MAX_WRITES_PER_AGENT,
    agent_url,
    execute_consul,
)
from reconciler.engine.routing import AgentRouting

REGISTRATION = {
    "ID": "shop_web.a", "Name": "web", "Tags": ["shop", "managed-by-reconciler"], "Address": "127.0.0.3", "Port": 31000,
    "Meta": {"marathon-task-id": "shop_web.a"},
}


def plan() -> Plan:
    return Plan(actions=(
        Action(kind=ActionKind.REGISTER, target="shop_web.a", reason="r", body=REGISTRATION),
        Action(kind=ActionKind.DEREGISTER, target="shop_web.old", reason="gone",
               body={"ServiceID": "shop_web.old", "Node": "agent-2", "AgentAddress": "127.0.0.4"}),
        Action(kind=ActionKind.QUERY_DELETE, target="web.gone", reason="gone", body={"ID": "q-1", "Name": "web.gone"}),
        Action(kind=ActionKind.KILL_TASK, target="shop_web.b", reason="critical", body={"scale": False}),
    ))


def recording(seen: list[str], status_of: dict[str, int] | None = None) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        line = f"{request.method} {request.url.host}:{request.url.port}{request.url.path}"
        seen.append(line)
        status = (status_of or {}).get(request.url.path, 200)
        return httpx.Response(status, text="" if status == 200 else "Unknown service ID")

    return httpx.MockTransport(answer)


async def test_registrations_go_to_the_task_host_agent_and_queries_to_the_configured_one() -> None:
    seen: list[str] = []
    async with ConsulClient("http://127.0.0.1:8500", transport=recording(seen)) as consul:
        done = await execute_consul(plan(), consul)
    assert seen == [
        "PUT 127.0.0.4:8500/v1/agent/service/deregister/shop_web.old",  # deregistrations go first
        "PUT 127.0.0.3:8500/v1/agent/service/register",
        "DELETE 127.0.0.1:8500/v1/query/q-1",
    ]
    outcomes = [a.outcome for a in done.actions]
    assert outcomes == [Outcome.SUCCEEDED, Outcome.SUCCEEDED, Outcome.SUCCEEDED, Outcome.PLANNED]  # kill: Marathon's


async def test_single_agent_routing_sends_everything_to_the_configured_agent() -> None:
    seen: list[str] = []
    async with ConsulClient("http://127.0.0.1:8500", transport=recording(seen)) as consul:
        await execute_consul(plan(), consul, AgentRouting.SINGLE)
    assert {line.split()[1].split("/")[0] for line in seen} == {"127.0.0.1:8500"}


async def test_an_already_gone_instance_succeeds_and_a_refused_write_fails_with_consuls_words() -> None:
    seen: list[str] = []
    transport = recording(seen, {"/v1/agent/service/deregister/shop_web.old": 404, "/v1/agent/service/register": 400})
    async with ConsulClient("http://127.0.0.1:8500", transport=transport) as consul:
        done = await execute_consul(plan(), consul)
    deregister, register = done.actions[1], done.actions[0]
    assert deregister.outcome == Outcome.SUCCEEDED and "already gone" in deregister.detail
    assert register.outcome == Outcome.FAILED and "400" in register.detail


async def test_the_agent_url_keeps_the_configured_scheme_and_port() -> None:
    async with ConsulClient("https://consul.example:8501") as consul:
        assert agent_url(consul, "10.0.0.7") == "https://10.0.0.7:8501"


async def test_single_agent_asks_the_holding_agent_when_it_does_not_know_the_instance() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.host}:{request.url.port}{request.url.path}")
        known_here = request.url.host == "127.0.0.4"  # the node holding shop_web.old (a host-mode registration)
        if "deregister" in request.url.path and not known_here:
            return httpx.Response(404, text="Unknown service ID")
        return httpx.Response(200)

    async with ConsulClient("http://127.0.0.1:8500", transport=httpx.MockTransport(answer)) as consul:
        done = await execute_consul(plan(), consul, AgentRouting.SINGLE)
    deregister = done.actions[1]
    assert seen[:2] == [
        "PUT 127.0.0.1:8500/v1/agent/service/deregister/shop_web.old",
        "PUT 127.0.0.4:8500/v1/agent/service/deregister/shop_web.old",
    ]
    assert deregister.outcome == Outcome.SUCCEEDED and "the agent holding it" in deregister.detail


async def test_single_agent_fails_when_the_holding_agent_cannot_be_reached() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "127.0.0.4":
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(404 if "deregister" in request.url.path else 200, text="Unknown service ID")

    async with ConsulClient("http://127.0.0.1:8500", transport=httpx.MockTransport(answer), retries=0) as consul:
        done = await execute_consul(plan(), consul, AgentRouting.SINGLE)
    assert done.actions[1].outcome == Outcome.FAILED  # never a false "already gone"


def registration_on(host: str, n: int) -> Action:
    body = dict(REGISTRATION, ID=f"shop_web.{host}.{n}", Address=host, Meta={"marathon-task-id": f"shop_web.{n}"})
    return Action(kind=ActionKind.REGISTER, target=f"shop_web.{host}.{n}", reason="r", body=body)


async def test_writes_in_flight_are_bounded_per_agent_and_in_all() -> None:
    in_flight: Counter[str] = Counter()
    most: Counter[str] = Counter()

    async def answer(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        in_flight[host] += 1
        most[host], most["all"] = max(most[host], in_flight[host]), max(most["all"], in_flight.total())
        for _ in range(5):  # let the other writes start meanwhile
            await asyncio.sleep(0)
        in_flight[host] -= 1
        return httpx.Response(200)

    hosts = [f"127.0.0.{n}" for n in range(2, 8)]
    actions = tuple(registration_on(host, n) for host in hosts for n in range(10))
    async with ConsulClient("http://127.0.0.1:8500", transport=httpx.MockTransport(answer)) as consul:
        done = await execute_consul(Plan(actions=actions), consul)
    assert {a.outcome for a in done.actions} == {Outcome.SUCCEEDED}
    assert [most[host] for host in hosts] == [MAX_WRITES_PER_AGENT] * len(hosts)
    assert MAX_WRITES_PER_AGENT < most["all"] <= MAX_CONCURRENT_WRITES


async def test_a_stuck_agent_does_not_hold_back_the_writes_to_the_others() -> None:
    released = asyncio.Event()
    answered: Counter[str] = Counter()

    async def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "127.0.0.2":
            await released.wait()
        answered[request.url.host] += 1
        return httpx.Response(200)

    # More writes to the stuck agent than there are shared slots, listed first.
    actions = tuple(registration_on("127.0.0.2", n) for n in range(2 * MAX_CONCURRENT_WRITES))
    actions += tuple(registration_on("127.0.0.3", n) for n in range(20))
    async with ConsulClient("http://127.0.0.1:8500", transport=httpx.MockTransport(answer)) as consul:
        running = asyncio.create_task(execute_consul(Plan(actions=actions), consul))
        async with asyncio.timeout(30):
            while answered["127.0.0.3"] < 20:
                await asyncio.sleep(0.01)
        assert answered["127.0.0.2"] == 0
        released.set()
        done = await asyncio.wait_for(running, 30)
    assert {a.outcome for a in done.actions} == {Outcome.SUCCEEDED}
