"""Consul reads per cycle do not grow with the number of apps: the real client against the Consul
sandbox over loopback, every request counted through the client's `on_request` hook.

10 apps and 200 apps (2 instances each, on two agent nodes) cost the same number of requests; a
cycle that hands over the previous cycle's catalog snapshot re-reads no node while nothing moved.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import pytest

from reconciler.consul import wire
from reconciler.consul.client import ConsulClient
from reconciler.core.registry import MANAGED_TAG, META_APP_ID, META_TASK_ID, CheckStatus
from reconciler.engine.consul_read import read_consul
from reconciler.sandbox.consul import ConsulSandbox, ConsulSandboxConfig, agent_nodes

NODES = agent_nodes(2)
INSTANCES = 2


@asynccontextmanager
async def counted(sandbox: ConsulSandbox) -> AsyncIterator[tuple[ConsulClient, Counter[str]]]:
    requests: Counter[str] = Counter()

    def count(method: str, path: str) -> None:
        requests["/".join(path.split("/")[:4])] += 1  # /v1/catalog/node/<n> counts as /v1/catalog/node

    async with ConsulClient(sandbox.url, retries=0, on_request=count) as client:
        yield client, requests


def registration(app: int, instance: int, host: str) -> wire.ServiceRegistration:
    task = f"shop_app-{app}.{instance}"
    return wire.ServiceRegistration.model_validate({
        "ID": task, "Name": f"app-{app}", "Tags": [MANAGED_TAG, "shop"], "Address": host, "Port": 31000 + instance,
        "Meta": {META_APP_ID: f"/shop/app-{app}", META_TASK_ID: task},
        "Check": {"CheckID": f"service:{task}", "TTL": "1h", "Status": "passing"},
    })


SandboxFactory = Callable[[int], Awaitable[ConsulSandbox]]


@pytest.fixture
async def sandbox_with() -> AsyncIterator[SandboxFactory]:
    """Starts Consul sandboxes holding `apps` apps of INSTANCES registered instances each."""
    async with AsyncExitStack() as stack:

        async def start(apps: int) -> ConsulSandbox:
            sandbox = await stack.enter_async_context(ConsulSandbox(ConsulSandboxConfig(nodes=NODES)))
            await register_apps(sandbox, apps)
            return sandbox

        yield start


async def register_apps(sandbox: ConsulSandbox, apps: int) -> None:
    async with ConsulClient(sandbox.url, retries=0) as client:
        for app in range(apps):
            for instance in range(INSTANCES):
                node, host = NODES[instance % len(NODES)]
                await client.for_agent(sandbox.agent_url(node)).put_agent_service_register(
                    registration(app, instance, host)
                )


async def requests_of(client: ConsulClient, requests: Counter[str], read: Awaitable[object]) -> int:
    before = sum(requests.values())
    await read
    return sum(requests.values()) - before


async def test_requests_per_cycle_do_not_grow_with_the_apps(sandbox_with: SandboxFactory) -> None:
    per_size: dict[int, tuple[int, int]] = {}
    for apps in (10, 200):
        sandbox = await sandbox_with(apps)
        async with counted(sandbox) as (client, requests):
            first = await read_consul(client)
            assert len(first.observation.instances) == apps * INSTANCES
            fresh = sum(requests.values())
            again = await requests_of(client, requests, read_consul(client, first.catalog))
        per_size[apps] = (fresh, again)
    assert per_size[10] == per_size[200], per_size
    # 4 constant reads + one per node (the server's and two agents'); then the 4 reads alone.
    assert per_size[200] == (4 + 1 + len(NODES), 4)


async def test_an_idle_cycle_reads_no_node_and_a_check_change_still_shows(
    sandbox_with: SandboxFactory,
) -> None:
    sandbox = await sandbox_with(20)
    async with counted(sandbox) as (client, requests):
        first = await read_consul(client)
        sandbox.force_check_status("service:shop_app-3.1", CheckStatus.CRITICAL, output="HTTP 503")
        requests.clear()
        second = await read_consul(client, first.catalog)
        assert "/v1/catalog/node" not in requests and sum(requests.values()) == 4
        critical = second.observation.instances_of_task("shop_app-3.1")
        assert [(i.status, i.output) for i in critical] == [(CheckStatus.CRITICAL, "HTTP 503")]
        assert second.catalog is not None and first.catalog is not None
        # The nodes were not read again: the instances whose status stands are the snapshot's own objects.
        before, after = ([i for i in read.instances if i.task_id != "shop_app-3.1"] for read in (first.catalog,
                                                                                                  second.catalog))
        assert after and all(map(operator.is_, after, before))
        requests.clear()
        third = await read_consul(client, second.catalog)
        assert sum(requests.values()) == 4 and third.catalog is second.catalog  # nothing decoded again
        assert third.observation.instances == second.observation.instances


async def test_a_new_registration_re_reads_the_nodes(sandbox_with: SandboxFactory) -> None:
    sandbox = await sandbox_with(5)
    async with counted(sandbox) as (client, requests):
        first = await read_consul(client)
        node, host = NODES[0]
        await client.for_agent(sandbox.agent_url(node)).put_agent_service_register(registration(99, 0, host))
        requests.clear()
        second = await read_consul(client, first.catalog)
        assert requests["/v1/catalog/node"] == 1 + len(NODES)
        assert [i.service_id for i in second.observation.instances_of_app("/shop/app-99")] == ["shop_app-99.0"]


async def test_an_unreachable_consul_keeps_the_previous_snapshot(sandbox_with: SandboxFactory) -> None:
    sandbox = await sandbox_with(3)
    async with counted(sandbox) as (client, _):
        first = await read_consul(client)
        await sandbox.stop_http()
        second = await read_consul(client, first.catalog)
    assert not second.observation.complete and "Consul at" in second.observation.problems[0]
    assert second.catalog is first.catalog
