"""Every listener (the sandboxes' and the controller's web server) closes the connections it accepted,
however late, when it stops.

A client (a Consul TCP check, a resolver over TCP, the controller's HTTP pool, the autoscaler reading
agent statistics, a Prometheus scrape of the controller) that connects just as a listener stops is
accepted by the kernel before asyncio makes its transport; on Python 3.11 that transport came after the
listener's close, and asyncio dropped the socket unclosed (a ResourceWarning at some later garbage
collection, failing whichever test ran then), or its handler started after the stop and aiohttp's cleanup
waited its 60 s shutdown timeout for it. Here clients connect to each server, the loop runs `yields`
iterations, then the server stops: no socket may be left behind, every client sees its connection end,
and the stop does not wait for a connection's handler (reconciler/listeners.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import sys
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from reconciler.engine.telemetry import ControllerMetrics
from reconciler.sandbox.consul import ConsulSandbox
from reconciler.sandbox.consul.dns_server import DnsServer
from reconciler.sandbox.consul.server import ConsulSandboxConfig
from reconciler.sandbox.consul.state import ConsulState
from reconciler.sandbox.marathon import MarathonSandbox
from reconciler.web.server import HttpServer, Readiness, ServerHooks
from tests.sandbox.marathon.fixtures import fast_config, server_end_closed

CLIENTS = 4
YIELDS = range(8)
STOP_DEADLINE_S = 20.0  # generous under load; a handler waited for holds the stop 60 s

Stop = Callable[[], Awaitable[None]]
Server = Callable[[], contextlib.AbstractAsyncContextManager[tuple[tuple[str, int], Stop]]]


@contextlib.asynccontextmanager
async def consul_dns() -> AsyncIterator[tuple[tuple[str, int], Stop]]:
    server = DnsServer(ConsulState.build("dc1", "consul", "consul-server", 1.0, 1.0), "127.0.0.1", 0)
    await server.start()
    try:
        yield ("127.0.0.1", server.port), server.stop
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def consul_http() -> AsyncIterator[tuple[tuple[str, int], Stop]]:
    async with ConsulSandbox(ConsulSandboxConfig()) as sandbox:
        yield ("127.0.0.1", sandbox.port), sandbox.stop_http


@contextlib.asynccontextmanager
async def marathon_api() -> AsyncIterator[tuple[tuple[str, int], Stop]]:
    async with MarathonSandbox(fast_config(task_listeners=False)) as sandbox:
        yield ("127.0.0.1", int(sandbox.url.rsplit(":", 1)[1])), sandbox.stop


@contextlib.asynccontextmanager
async def agent_statistics() -> AsyncIterator[tuple[tuple[str, int], Stop]]:
    async with MarathonSandbox(fast_config(task_listeners=False, agents=1)) as sandbox:
        host = sandbox.state.agents[0].host
        yield (host, sandbox.agent_stats_port), sandbox.agent_statistics.stop


@contextlib.asynccontextmanager
async def controller_web() -> AsyncIterator[tuple[tuple[str, int], Stop]]:
    hooks = ServerHooks(status=dict, readiness=lambda: Readiness(True, "ready"), on_git_push=lambda _: None,
                        metrics=ControllerMetrics())
    server = HttpServer(hooks, "127.0.0.1", 0)
    address = await server.start()
    try:
        yield address, server.stop
    finally:
        await server.stop()


SERVERS: dict[str, Server] = {"consul-dns-tcp": consul_dns, "consul-http": consul_http,
                              "marathon-api": marathon_api, "agent-statistics": agent_statistics,
                              "controller-web": controller_web}


@pytest.mark.parametrize("yields", YIELDS)
@pytest.mark.parametrize("name", sorted(SERVERS))
async def test_a_stopping_server_closes_connections_accepted_at_any_stage(name: str, yields: int) -> None:
    unraisable: list[Any] = []
    previous, sys.unraisablehook = sys.unraisablehook, unraisable.append
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            async with SERVERS[name]() as (address, stop):
                clients = [socket.create_connection(address) for _ in range(CLIENTS)]
                for _ in range(yields):
                    await asyncio.sleep(0)
                started = time.monotonic()
                await stop()
                stopped_in = time.monotonic() - started
                closed = [await server_end_closed(client) for client in clients]
            gc.collect()  # a socket dropped unclosed warns here
    finally:
        sys.unraisablehook = previous
    assert [f"{u.exc_type.__name__}: {u.exc_value}" for u in unraisable] == []
    assert closed == [True] * CLIENTS
    assert stopped_in < STOP_DEADLINE_S, f"the stop took {stopped_in:.1f} s"  # not aiohttp's 60 s shutdown timeout


async def test_dns_start_cancelled_between_its_two_binds_leaves_no_listener(monkeypatch: pytest.MonkeyPatch) -> None:
    """The DNS server binds TCP, then UDP on the same number. A start cancelled while the UDP bind is in
    progress (a sandbox start given up, a test timing out) undoes the TCP listener it already had."""
    loop = asyncio.get_running_loop()
    udp_bind_began = asyncio.Event()

    async def never_bound(*args: object, **kwargs: object) -> None:
        udp_bind_began.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(loop, "create_datagram_endpoint", never_bound)
    server = DnsServer(ConsulState.build("dc1", "consul", "consul-server", 1.0, 1.0), "127.0.0.1", 0)
    starting = asyncio.create_task(server.start())
    await asyncio.wait_for(udp_bind_began.wait(), 30)
    starting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await starting
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
