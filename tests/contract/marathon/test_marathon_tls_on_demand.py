"""A Marathon client for an http:// URL over real HTTP on loopback: it loads no CA bundle (about 25 ms of a
cold command) to read Marathon, and still prepares verified TLS the moment a redirect sends it to https.
An https:// client loads the bundle as it always did. Small aiohttp servers play Marathon.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from reconciler.errors import RemoteUnavailable
from reconciler.marathon import MarathonClient
from tests.contract.conftest import serving
from tests.unit.marathon.app_readings import full_app


@pytest.fixture
async def marathon() -> AsyncIterator[str]:
    """A Marathon over plain HTTP whose standby role redirects the event stream to an https leader."""

    async def apps(request: web.Request) -> web.Response:
        return web.json_response({"apps": [full_app()]})

    async def deployments(request: web.Request) -> web.Response:
        return web.json_response([])

    async def events(request: web.Request) -> web.Response:
        # The "leader" is this very server, which speaks no TLS: the handshake must fail.
        raise web.HTTPTemporaryRedirect(f"https://{request.host}/v2/events")

    app = web.Application()
    app.add_routes([web.get("/v2/apps", apps), web.get("/v2/deployments", deployments), web.get("/v2/events", events)])
    async with serving(app) as url:
        yield url


async def test_reading_marathon_over_http_loads_no_ca_bundle(marathon: str, ca_loads: list[object]) -> None:
    async with MarathonClient(marathon) as client:
        actual = await client.observe()
    assert list(actual.apps) == ["/e/web"] and len(actual.apps["/e/web"].tasks) == 2
    assert ca_loads == []


async def test_a_redirect_to_https_gets_verified_tls(marathon: str, ca_loads: list[object]) -> None:
    async with MarathonClient(marathon) as client:
        with pytest.raises(RemoteUnavailable, match="SSL"):
            async for _ in client.stream_event_types():
                pass
    assert len(ca_loads) == 1


async def test_an_https_client_loads_the_ca_bundle_as_before(ca_loads: list[object]) -> None:
    async with MarathonClient("https://127.0.0.1:1"):
        assert len(ca_loads) == 1
