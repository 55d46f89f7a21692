"""Contract: every GET of ConsulClient retries a 200 answer whose body is not JSON, as it retries an
unanswered one (same count, same backoff), over real loopback HTTP: a proxy in front of the Consul
sandbox answers one path with garbage (and the sandbox's X-Consul-Index) a given number of times.
A read that decodes nothing (an unchanged index) still decodes nothing, so it notices no garbage."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from reconciler.consul import wire
from reconciler.consul.blocking import BlockingState
from reconciler.consul.client import ConsulClient
from reconciler.core.registry import MANAGED_TAG
from reconciler.errors import RemoteUnavailable
from reconciler.sandbox.consul import ConsulSandbox
from tests.contract.conftest import serving
from tests.sandbox.consul import fixtures
from tests.sandbox.consul.fixtures import SandboxFactory

consul_sandbox_factory = fixtures.consul_sandbox_factory

GARBAGE = b"<html><body>502 from a proxy, with a 200 status</body></html>"
RETRIES = 2
QUERY = wire.PreparedQueryDefinition(
    name="redis.func-1", service=wire.QueryService(service="redis", tags=["integration", MANAGED_TAG])
)
REGISTRATION = wire.ServiceRegistration(
    id="integration_redis.t1", name="redis", tags=["integration", MANAGED_TAG], address="127.0.0.2", port=31001,
    check=wire.CheckDefinition(ttl="30s", status="passing"),
)


class Garbling:
    """In front of `upstream`: answers `path` with GARBAGE (status 200, the upstream's index) `times` times,
    forwards everything else; `requests` counts the requests of each path."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.path = ""
        self.times = 0
        self.requests: Counter[str] = Counter()
        self.session: aiohttp.ClientSession | None = None

    def garble(self, path: str, times: int) -> None:
        self.path, self.times = path, times
        self.requests.clear()

    async def forward(self, request: web.Request) -> web.Response:
        assert self.session is not None
        self.requests[request.path] += 1
        async with self.session.request(
            request.method, self.upstream + request.path_qs, data=await request.read()
        ) as answer:
            body = await answer.read()
            headers = {k: v for k, v in answer.headers.items() if k in ("X-Consul-Index", "Content-Type")}
        if request.path == self.path and self.times > 0:
            self.times -= 1
            return web.Response(status=200, body=GARBAGE, headers={**headers, "Content-Type": "text/html"})
        return web.Response(status=answer.status, body=body, headers=headers)


@asynccontextmanager
async def garbling(upstream: str) -> AsyncIterator[tuple[Garbling, str]]:
    proxy = Garbling(upstream)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy.forward)
    async with aiohttp.ClientSession() as proxy.session, serving(app) as url:
        yield proxy, url


@pytest.fixture
async def world(consul_sandbox_factory: SandboxFactory) -> AsyncIterator[tuple[Garbling, ConsulClient]]:
    """A sandbox with one service, one key and one prepared query, and a client reaching it through Garbling.
    Checks at their nominal pace: the service's TTL check must not expire (moving the index) between reads."""
    sandbox: ConsulSandbox = await consul_sandbox_factory(check_interval_scale=1.0)
    async with ConsulClient(sandbox.url) as direct:
        await direct.put_agent_service_register(REGISTRATION)
        await direct.put_kv("reconciler/leader", b"me")
        await direct.post_query(QUERY)
    async with garbling(sandbox.url) as (proxy, url), ConsulClient(url, retries=RETRIES, backoff=0.01) as client:
        yield proxy, client


Read = Callable[[ConsulClient], Awaitable[Any]]
# Every GET of ConsulClient: the path it reads and a call of it (blocking ones as a first read and as a
# read blocked on an index that the sandbox has moved past, so it answers at once).
READS: dict[str, tuple[str, Read]] = {
    "agent services": ("/v1/agent/services", lambda c: c.get_agent_services()),
    "agent checks": ("/v1/agent/checks", lambda c: c.get_agent_checks()),
    "agent self": ("/v1/agent/self", lambda c: c.get_agent_self()),
    "health service": ("/v1/health/service/redis", lambda c: c.get_health_service("redis")),
    "health service, blocked": (
        "/v1/health/service/redis", lambda c: c.get_health_service("redis", block=BlockingState(index=1)),
    ),
    "health state": ("/v1/health/state/any", lambda c: c.get_health_state()),
    "health state, blocked": ("/v1/health/state/any", lambda c: c.get_health_state(block=BlockingState(index=1))),
    "watched checks": ("/v1/health/state/any", lambda c: c.get_watched_checks(MANAGED_TAG)),
    "watched checks, blocked": (
        "/v1/health/state/any", lambda c: c.get_watched_checks(MANAGED_TAG, block=BlockingState(index=1)),
    ),
    "check states": ("/v1/health/state/any", lambda c: c.get_check_states_since(0)),
    "check states since an index": ("/v1/health/state/any", lambda c: c.get_check_states_since(1)),
    "catalog services": ("/v1/catalog/services", lambda c: c.get_catalog_services()),
    "catalog services index": ("/v1/catalog/services", lambda c: c.get_catalog_services_index()),
    "catalog nodes": ("/v1/catalog/nodes", lambda c: c.get_catalog_nodes()),
    "catalog node services": (
        "/v1/catalog/node/agent-1", lambda c: c.get_catalog_node_services("agent-1", MANAGED_TAG),
    ),
    "kv": ("/v1/kv/reconciler/leader", lambda c: c.get_kv("reconciler/leader")),
    "queries": ("/v1/query", lambda c: c.get_queries()),
    "observed queries": ("/v1/query", lambda c: c.get_observed_queries()),
    "query execute": ("/v1/query/redis.func-1/execute", lambda c: c.get_query_execute("redis.func-1")),
}


@pytest.mark.parametrize("name", sorted(READS))
async def test_a_body_that_is_not_json_is_retried(world: tuple[Garbling, ConsulClient], name: str) -> None:
    proxy, client = world
    path, read = READS[name]
    expected = await read(client)
    proxy.garble(path, times=1)
    assert await read(client) == expected
    assert proxy.requests[path] == 2  # the garbage, then the retry


@pytest.mark.parametrize("name", sorted(READS))
async def test_a_body_never_json_fails_naming_the_path_after_every_retry(
    world: tuple[Garbling, ConsulClient], name: str
) -> None:
    proxy, client = world
    path, read = READS[name]
    proxy.garble(path, times=RETRIES + 5)
    with pytest.raises(RemoteUnavailable, match=rf"Consul GET {path} answered 200 with a body that is not (a )?JSON"):
        await read(client)
    assert proxy.requests[path] == 1 + RETRIES


async def test_an_unchanged_index_is_still_not_decoded(world: tuple[Garbling, ConsulClient]) -> None:
    """What sending these reads undecoded saves: an answer at the index already read is not decoded, so
    the garbage behind it goes unnoticed (and unretried)."""
    proxy, client = world
    _, state = await client.get_check_states_since(0)
    proxy.garble("/v1/health/state/any", times=RETRIES + 5)
    assert await client.get_check_states_since(state.index) == (None, state)
    watched, after = await client.get_watched_checks(MANAGED_TAG, block=BlockingState(state.index, wait="50ms"))
    assert (watched, after.index) == (None, state.index)
    assert proxy.requests["/v1/health/state/any"] == 2
