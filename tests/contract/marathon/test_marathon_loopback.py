"""The Marathon client over real HTTP on loopback: a standby that redirects the event stream to the
leader (FACTS.md §11), Jetty-style CRLF frames written in small chunks with keep-alive lines, basic
auth on the wire, a read timeout, and a refused connection. Small aiohttp servers play Marathon.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from reconciler.errors import DeploymentLocked, RemoteUnavailable
from reconciler.marathon import MarathonAuth, MarathonClient, Timeouts


async def serve(routes: list[web.RouteDef]) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


@pytest.fixture
async def servers() -> AsyncIterator[list[web.AppRunner]]:
    runners: list[web.AppRunner] = []
    yield runners
    for runner in runners:
        await runner.cleanup()


def frame(event: str, payload: dict[str, object]) -> bytes:
    return f"event: {event}\r\ndata: {json.dumps(payload)}\r\n\r\n".encode()


async def test_event_stream_through_a_standby_redirect(servers: list[web.AppRunner]) -> None:
    seen_auth: list[str | None] = []

    async def leader_events(request: web.Request) -> web.StreamResponse:
        seen_auth.append(request.headers.get("Authorization"))
        assert request.headers["Accept"] == "text/event-stream"
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        body = frame("event_stream_attached", {"remoteAddress": "127.0.0.1", "eventType": "event_stream_attached"})
        body += b"\r\n"  # keep-alive
        body += frame("deployment_success", {"id": "d-1", "eventType": "deployment_success", "timestamp": "t"})
        for start in range(0, len(body), 5):
            await response.write(body[start : start + 5])
        await response.write_eof()
        return response

    leader, leader_url = await serve([web.get("/v2/events", leader_events)])
    servers.append(leader)

    async def standby_events(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(f"{leader_url}/v2/events?{request.query_string}")

    standby, standby_url = await serve([web.get("/v2/events", standby_events)])
    servers.append(standby)

    seen: list[str] = []
    async with MarathonClient(standby_url, auth=MarathonAuth(user="ops", password="pw"), retries=0) as client:
        async with asyncio.timeout(10):
            async for event_type in client.stream_event_types(["deployment_success"]):
                seen.append(event_type)
    assert seen == ["event_stream_attached", "deployment_success"]
    assert seen_auth == ["Basic b3BzOnB3"]


async def test_reads_and_writes_over_http(servers: list[web.AppRunner]) -> None:
    async def apps(request: web.Request) -> web.StreamResponse:
        assert request.query.getall("embed") == ["apps.tasks", "apps.counts", "apps.deployments"]
        return web.json_response({"apps": [{"id": "/e/redis", "instances": 2, "tasks": []}]})

    async def deployments(request: web.Request) -> web.StreamResponse:
        return web.json_response([])

    async def put_apps(request: web.Request) -> web.StreamResponse:
        if (await request.json())[0]["id"] == "/e/locked":
            locked = {"message": "App is locked by one or more deployments.", "deployments": [{"id": "d-7"}]}
            return web.json_response(locked, status=409)
        return web.json_response({"deploymentId": "d-8", "version": "2024-05-01T10:00:00.000Z"})

    runner, url = await serve(
        [web.get("/v2/apps", apps), web.get("/v2/deployments", deployments), web.put("/v2/apps", put_apps)]
    )
    servers.append(runner)
    async with MarathonClient(url, retries=0) as client:
        actual = await client.observe()
        assert actual.apps["/e/redis"].instances == 2
        assert (await client.put_apps([{"id": "/e/redis", "instances": 3}])).deployment_id == "d-8"
        with pytest.raises(DeploymentLocked, match="locked by deployments d-7"):
            await client.put_apps([{"id": "/e/locked", "instances": 3}])


async def test_read_timeout_is_unavailable(servers: list[web.AppRunner]) -> None:
    release = asyncio.Event()

    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.wait_for(release.wait(), timeout=5)
        return web.json_response([])

    runner, url = await serve([web.get("/v2/deployments", slow)])
    servers.append(runner)
    try:
        async with MarathonClient(url, retries=1, backoff_seconds=0.0, timeouts=Timeouts(read=0.2)) as client:
            with pytest.raises(RemoteUnavailable, match="no answer in time"):
                await client.get_deployments()
    finally:
        release.set()


async def test_refused_connection_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port any more: the connection is refused.
    async with MarathonClient(f"http://127.0.0.1:{port}", retries=2, backoff_seconds=0.0) as client:
        with pytest.raises(RemoteUnavailable, match="cannot reach Marathon"):
            await client.get_info()
        assert await client.ping() is False
