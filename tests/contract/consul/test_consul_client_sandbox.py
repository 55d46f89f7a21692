"""Contract: ConsulClient against the embedded Consul sandbox over real loopback HTTP (no mocks)."""

from __future__ import annotations

import asyncio

import pytest

from reconciler.consul import wire
from reconciler.consul.blocking import BlockingState
from reconciler.consul.client import ConsulClient
from reconciler.consul.errors import ConsulNotFound
from reconciler.consul.translate import instances_of, observed_queries_of
from reconciler.core.registry import CheckStatus
from reconciler.errors import RemoteUnavailable
from reconciler.sandbox.consul import ConsulSandbox
from tests.sandbox.consul import fixtures
from tests.sandbox.consul.fixtures import SandboxFactory, eventually

consul_sandbox_factory = fixtures.consul_sandbox_factory  # the sandbox's own fixture, reused here


@pytest.fixture
async def sandbox(consul_sandbox_factory: SandboxFactory) -> ConsulSandbox:
    """A started sandbox with fast checks and an extra agent node `agent-1` on 127.0.0.2."""
    return await consul_sandbox_factory()


REGISTRATION = wire.ServiceRegistration(
    id="integration_redis.t1",
    name="redis",
    tags=["integration", "managed-by-reconciler"],
    address="127.0.0.2",
    port=31001,
    meta={"marathon-task-id": "integration_redis.t1", "environment": "integration"},
    check=wire.CheckDefinition(ttl="30s", status="passing"),
)


async def test_register_read_and_deregister(sandbox: ConsulSandbox) -> None:
    async with ConsulClient(sandbox.url) as client:
        await client.put_agent_service_register(REGISTRATION)
        services = await client.get_agent_services()
        assert services["integration_redis.t1"].port == 31001
        entries, state = await client.get_health_service("redis", tag="integration")
        (instance,) = instances_of(entries)
        assert instance.status == CheckStatus.PASSING and instance.task_id == "integration_redis.t1"
        assert state.index >= 1
        await client.put_agent_service_deregister("integration_redis.t1")
        with pytest.raises(ConsulNotFound, match="Unknown service ID"):
            await client.put_agent_service_deregister("integration_redis.t1")


async def test_blocking_read_wakes_on_a_change(sandbox: ConsulSandbox) -> None:
    async with ConsulClient(sandbox.url) as client:
        _, state = await client.get_catalog_services(block=BlockingState(wait="10s"))
        waiting = asyncio.create_task(client.get_catalog_services(block=state))
        done, _ = await asyncio.wait({waiting}, timeout=0.2)
        assert not done  # nothing changed: the read is held by the server
        await client.put_agent_service_register(REGISTRATION)
        services, after = await asyncio.wait_for(waiting, timeout=5)
        assert "redis" in services and after.index > state.index


async def test_kv_cas_and_session_lock(sandbox: ConsulSandbox) -> None:
    async with ConsulClient(sandbox.url) as client:
        assert await client.put_kv("reconciler/leader", b"a", cas=0) is True
        assert await client.put_kv("reconciler/leader", b"b", cas=0) is False
        pair, _ = await client.get_kv("reconciler/leader")
        assert pair is not None and pair.value == b"a"
        session = await client.put_session_create(name="reconciler", ttl="15s", node_checks=[])
        assert await client.put_kv("reconciler/leader", b"me", acquire=session) is True
        pair, _ = await client.get_kv("reconciler/leader")
        assert pair is not None and pair.session == session
        assert (await client.put_session_renew(session)).id == session
        assert await client.put_session_destroy(session) is True
        assert await client.delete_kv("reconciler/leader") is True
        assert (await client.get_kv("reconciler/leader"))[0] is None


async def test_prepared_query_lifecycle(sandbox: ConsulSandbox) -> None:
    definition = wire.PreparedQueryDefinition(
        name="redis.func-1",
        service=wire.QueryService(service="redis", tags=["integration", "managed-by-reconciler"], only_passing=True),
    )
    async with ConsulClient(sandbox.url) as client:
        await client.put_agent_service_register(REGISTRATION)
        query_id = await client.post_query(definition)
        observed = observed_queries_of(await client.get_queries())["redis.func-1"]
        assert observed.query_id == query_id and observed.managed
        result = await eventually(lambda: client.get_query_execute("redis.func-1"), lambda r: len(r.nodes) == 1)
        assert result.nodes[0].service.port == 31001
        await client.put_query(query_id, definition.model_copy(update={"service": wire.QueryService(service="web")}))
        assert observed_queries_of(await client.get_queries())["redis.func-1"].service == "web"
        await client.delete_query(query_id)
        assert await client.get_queries() == []


async def test_consul_down_is_unavailable(sandbox: ConsulSandbox) -> None:
    async with ConsulClient(sandbox.url, retries=1, backoff=0.01, timeout=2.0) as client:
        await sandbox.stop_http()
        with pytest.raises(RemoteUnavailable):
            await client.get_agent_self()
        await sandbox.start_http()
        assert (await client.get_agent_self()).config.node_name


async def test_for_agent_registers_on_the_task_host_agent(sandbox: ConsulSandbox) -> None:
    async with ConsulClient(sandbox.url) as client:
        await client.for_agent(sandbox.agent_url("agent-1")).put_agent_service_register(REGISTRATION)
        entries, _ = await client.get_health_service("redis")
    (instance,) = instances_of(entries)
    assert instance.node == "agent-1" and instance.agent_address == "127.0.0.2"
