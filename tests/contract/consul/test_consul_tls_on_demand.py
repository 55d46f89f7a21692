"""A Consul client for an http:// agent over real HTTP on loopback: it loads no CA bundle (about 25 ms of a
cold command), nor do the clients it makes for other http:// agents; the client of an https:// agent loads
the bundle as it always did (and meets an agent speaking no TLS). A small aiohttp server plays Consul.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from reconciler.consul.client import ConsulClient
from reconciler.errors import RemoteUnavailable
from tests.contract.conftest import serving

SERVICE = {"web-1": {"ID": "web-1", "Service": "web", "Address": "10.0.0.1", "Port": 8080, "Tags": ["a"]}}


@pytest.fixture
async def agent() -> AsyncIterator[str]:
    """A Consul agent over plain HTTP that runs one service."""

    async def services(request: web.Request) -> web.Response:
        return web.json_response(SERVICE, headers={"X-Consul-Index": "7"})

    app = web.Application()
    app.add_routes([web.get("/v1/agent/services", services)])
    async with serving(app) as url:
        yield url


async def test_reading_an_http_agent_loads_no_ca_bundle(agent: str, ca_loads: list[object]) -> None:
    async with ConsulClient(agent, token="s3cret") as client:
        services = await client.get_agent_services()
        other = client.for_agent(agent.replace("127.0.0.1", "localhost"))
        assert other is not client and list(await other.get_agent_services()) == ["web-1"]
    assert list(services) == ["web-1"] and services["web-1"].port == 8080
    assert ca_loads == []


async def test_an_https_agent_gets_verified_tls(agent: str, ca_loads: list[object]) -> None:
    """The plain-HTTP agent speaks no TLS: reached as https, the handshake fails (after retries)."""
    async with ConsulClient(agent, retries=0) as client:
        tls = client.for_agent(agent.replace("http://", "https://"))
        assert len(ca_loads) == 1
        with pytest.raises(RemoteUnavailable):
            await tls.get_agent_services()
