"""Checks that really run in the Consul sandbox, against loopback listeners started here; and the fault helpers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from reconciler.sandbox.consul import CheckStatus, ConsulSandbox
from tests.sandbox.consul.fixtures import eventually


class Target:
    """A tiny HTTP listener on loopback whose answer status the test chooses."""

    def __init__(self) -> None:
        self.status = 200
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/health", self.health)
        self.runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        self.port = self.runner.addresses[0][1]

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(status=self.status, text=f"status {self.status}")

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    listener = Target()
    await listener.start()
    yield listener
    await listener.stop()


async def check_of(http: httpx.AsyncClient, sandbox: ConsulSandbox, check_id: str) -> dict[str, str]:
    checks = (await http.get(f"{sandbox.url}/v1/agent/checks")).json()
    return dict(checks.get(check_id, {"Status": "absent", "Output": ""}))


async def register(http: httpx.AsyncClient, sandbox: ConsulSandbox, check: dict[str, object]) -> None:
    body = {"Name": "web", "ID": "web-1", "Port": 80, "Check": check}
    response = await http.put(f"{sandbox.url}/v1/agent/service/register", json=body)
    assert response.status_code == 200, response.text


async def test_http_check_follows_the_listener(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient,
                                               target: Target) -> None:
    await register(http, consul_sandbox, {"HTTP": f"http://127.0.0.1:{target.port}/health", "Interval": "1s"})
    passing = await eventually(lambda: check_of(http, consul_sandbox, "service:web-1"),
                               lambda c: c["Status"] == "passing")
    assert passing["Output"].startswith(f"HTTP GET http://127.0.0.1:{target.port}/health: 200 OK")
    target.status = 429
    await eventually(lambda: check_of(http, consul_sandbox, "service:web-1"), lambda c: c["Status"] == "warning")
    target.status = 500
    await eventually(lambda: check_of(http, consul_sandbox, "service:web-1"), lambda c: c["Status"] == "critical")
    target.status = 200
    await eventually(lambda: check_of(http, consul_sandbox, "service:web-1"), lambda c: c["Status"] == "passing")
    await target.stop()
    gone = await eventually(lambda: check_of(http, consul_sandbox, "service:web-1"),
                            lambda c: c["Status"] == "critical")
    assert "connection refused" in gone["Output"].lower() or "connect" in gone["Output"].lower()


async def test_tcp_check_follows_the_listener(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    await register(http, consul_sandbox, {"TCP": f"127.0.0.1:{port}", "Interval": "1s"})
    passing = await eventually(lambda: check_of(http, consul_sandbox, "service:web-1"),
                               lambda c: c["Status"] == "passing")
    assert passing["Output"] == f"TCP connect 127.0.0.1:{port}: Success"
    server.close()
    await server.wait_closed()
    # A probe that connected just before the close may fail as reset (errno 104) on a loaded machine; the
    # probes after it are refused, which is what a closed listener answers.
    await eventually(lambda: check_of(http, consul_sandbox, "service:web-1"),
                     lambda c: c["Output"] == f"dial tcp 127.0.0.1:{port}: connect: connection refused"
                     and c["Status"] == "critical")


async def test_non_loopback_targets_are_refused(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    await register(http, consul_sandbox, {"HTTP": "http://192.0.2.1/health", "Interval": "1s", "Status": "passing"})
    refused = await eventually(lambda: check_of(http, consul_sandbox, "service:web-1"),
                               lambda c: c["Status"] == "critical")
    assert "only loopback" in refused["Output"]


async def test_ttl_expiry_and_critical_reaping(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    await register(http, consul_sandbox, {"TTL": "10s", "Status": "passing", "DeregisterCriticalServiceAfter": "1m"})
    expired = await eventually(lambda: check_of(http, consul_sandbox, "service:web-1"),
                               lambda c: c["Status"] == "critical")
    assert expired["Output"] == "TTL expired"
    # 1m at scale 0.01 is 0.6 s, reaped on the next 0.3 s sweep.
    await eventually(lambda: _services(http, consul_sandbox), lambda s: s == {}, timeout=5)


async def test_forced_status_overrides_probes_until_released(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient,
                                                             target: Target) -> None:
    await register(http, consul_sandbox, {"HTTP": f"http://127.0.0.1:{target.port}/health", "Interval": "1s"})
    await eventually(lambda: check_of(http, consul_sandbox, "service:web-1"), lambda c: c["Status"] == "passing")
    consul_sandbox.force_check_status("service:web-1", CheckStatus.CRITICAL)
    assert (await check_of(http, consul_sandbox, "service:web-1"))["Status"] == "critical"
    entries = (await http.get(f"{consul_sandbox.url}/v1/health/service/web", params={"passing": ""})).json()
    assert entries == []
    consul_sandbox.force_check_status("service:web-1", None)
    await eventually(lambda: check_of(http, consul_sandbox, "service:web-1"), lambda c: c["Status"] == "passing")
    with pytest.raises(KeyError):
        consul_sandbox.force_check_status("nope", "critical")


async def test_stop_and_start_http_keeps_state(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    await http.put(f"{consul_sandbox.url}/v1/kv/kept", content=b"yes")
    url = consul_sandbox.url
    await consul_sandbox.stop_http()
    with pytest.raises(httpx.ConnectError):
        await http.get(f"{url}/v1/kv/kept")
    with pytest.raises(httpx.ConnectError):
        await http.get(f"{consul_sandbox.agent_url('agent-1')}/v1/agent/self")
    await consul_sandbox.start_http()
    assert consul_sandbox.url == url
    assert (await http.get(f"{url}/v1/kv/kept", params={"raw": ""})).content == b"yes"


async def test_error_fraction_and_latency(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    consul_sandbox.set_error_fraction(1.0, status=503)
    failed = await http.get(f"{consul_sandbox.url}/v1/catalog/services")
    assert failed.status_code == 503
    assert failed.headers["content-type"].startswith("text/plain")
    consul_sandbox.set_error_fraction(0.5)
    statuses = [(await http.get(f"{consul_sandbox.url}/v1/catalog/services")).status_code for _ in range(40)]
    assert 0 < statuses.count(500) < 40 and statuses.count(200) > 0
    consul_sandbox.clear_faults()
    consul_sandbox.set_latency(0.2)
    started = time.monotonic()
    assert (await http.get(f"{consul_sandbox.url}/v1/catalog/services")).status_code == 200
    assert time.monotonic() - started >= 0.2
    consul_sandbox.clear_faults()


async def _services(http: httpx.AsyncClient, sandbox: ConsulSandbox) -> dict[str, object]:
    return dict((await http.get(f"{sandbox.url}/v1/agent/services")).json())
