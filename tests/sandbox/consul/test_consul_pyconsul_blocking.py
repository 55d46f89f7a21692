"""A Registrator-like flow with py-consul's asyncio client and its blocking `index=` reads.

A "registrator" registers and deregisters instances on a client agent (as Registrator does for the
containers of its host) while two watchers hold blocking queries on the server agent, as a load
balancer or a service mesh would: `catalog.services(index=...)` and `health.service(..., passing=True,
index=...)`. They must see each registration appear and disappear, and they must really block: each
answer comes with a new index, never the same one again in a busy loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import consul
import consul.aio
import pytest

from reconciler.sandbox.consul import ConsulSandbox
from tests.sandbox.consul.fixtures import eventually

# py-consul 1.x's asyncio client still builds its aiohttp connector with `ssl_context=`.
pytestmark = pytest.mark.filterwarnings("ignore:ssl_context is deprecated:DeprecationWarning")


@asynccontextmanager
async def aio_client(url: str) -> AsyncIterator[consul.aio.Consul]:
    parts = urlsplit(url)
    client = consul.aio.Consul(host=parts.hostname, port=parts.port)
    try:
        yield client
    finally:
        await client.close()


class Watcher:
    """Runs one blocking read in a loop and keeps every (index, value) it was answered."""

    def __init__(self, read: Callable[[int | None], Awaitable[tuple[Any, Any]]]) -> None:
        self.read = read
        self.seen: list[tuple[int, Any]] = []
        self.task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        index: int | None = None
        while True:
            raw_index, value = await self.read(index)
            index = int(raw_index)
            self.seen.append((index, value))

    async def latest(self) -> Any:
        return self.seen[-1][1] if self.seen else None

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


def passing_ids(entries: list[dict[str, Any]] | None) -> list[str]:
    return sorted(e["Service"]["ID"] for e in entries or [])


async def test_registrator_flow_seen_through_blocking_queries(consul_sandbox: ConsulSandbox) -> None:
    async with aio_client(consul_sandbox.url) as watcher_client, \
            aio_client(consul_sandbox.agent_url("agent-1")) as registrator:
        health = Watcher(lambda index: watcher_client.health.service("web", passing=True, index=index, wait="30s"))
        catalog = Watcher(lambda index: watcher_client.catalog.services(index=index, wait="30s"))
        try:
            await eventually(health.latest, lambda v: v == [], timeout=10)

            for n in (1, 2):
                assert await registrator.agent.service.register(
                    "web", service_id=f"web-{n}", port=8000 + n, tags=["blue"],
                    check=consul.Check.ttl("1h"))
                await registrator.agent.check.ttl_pass(f"service:web-{n}")
            await eventually(health.latest, lambda v: passing_ids(v) == ["web-1", "web-2"], timeout=10)
            await eventually(catalog.latest, lambda v: v is not None and v.get("web") == ["blue"], timeout=10)

            assert await registrator.agent.service.deregister("web-1")
            await eventually(health.latest, lambda v: passing_ids(v) == ["web-2"], timeout=10)

            await registrator.agent.check.ttl_fail("service:web-2", "container stopped")
            await eventually(health.latest, lambda v: v == [], timeout=10)
            assert await registrator.agent.service.deregister("web-2")
            await eventually(catalog.latest, lambda v: v is not None and "web" not in v, timeout=10)
        finally:
            await health.stop()
            await catalog.stop()

    for watcher in (health, catalog):
        indexes = [index for index, _ in watcher.seen]
        # Blocking, not polling: every answer after the first carries an index the watcher had not seen.
        assert indexes == sorted(set(indexes)), indexes
        assert len(indexes) < 20, indexes
