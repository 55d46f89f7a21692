"""Stopping an asyncio listener so that it closes every connection it accepted, however late (shared by
the controller's web server and the sandbox's listeners, like errors.py: it imports no layer).

asyncio accepts in a task of its own, which makes the transport; the protocol (and a stream handler)
starts later still. A client that connects just as a listener stops is accepted before the close and
served after it: on Python 3.11 its transport asserted the server open and the socket was dropped
unclosed (a ResourceWarning at some later garbage collection), and a handler that starts after the stop
holds its connection until the loop ends (aiohttp's cleanup waits its 60 s shutdown timeout for it).
`Server.wait_closed()` returns at once there, so it cannot tell.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

SETTLE_DEADLINE_S = 2.0
StreamHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def count_late_accepts(server: asyncio.Server) -> asyncio.Server:
    """CPython 3.11: a connection the kernel accepted just before its server closed gets its transport
    after the close, where `Server._attach` asserts the server is open; `_accept_connection2` swallows
    the AssertionError and drops the socket unclosed. Counted instead, the transport is made and its
    protocol starts, so the listener's stop can close it."""
    attach = getattr(server, "_attach", None)
    if sys.version_info >= (3, 12) or attach is None:
        return server

    def attach_even_closed() -> None:
        state = vars(server)
        if state.get("_sockets") is None:
            state["_active_count"] = state.get("_active_count", 0) + 1
        else:
            attach()

    vars(server)["_attach"] = attach_even_closed
    return server


def _accepting(task: asyncio.Task[Any]) -> bool:
    """An asyncio task that accepted a connection and is making its transport (its protocol not started)."""
    return getattr(task.get_coro(), "__qualname__", "").endswith("_accept_connection2")


async def accepts_settled(busy: Callable[[], bool] = lambda: False) -> None:
    """Waits (bounded) until no accepted connection is on its way to its protocol, nor `busy()`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_DEADLINE_S
    while loop.time() < deadline and (busy() or any(_accepting(t) for t in asyncio.all_tasks())):
        await asyncio.sleep(0.005)
    await asyncio.sleep(0)  # the last abort closes its socket one iteration later


class StreamConnections:
    """The connections of an `asyncio.start_server` listener: `serving` wraps its handler, so that
    `close` ends every one, those accepted just before the close included."""

    def __init__(self) -> None:
        self.closed = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[Any]] = set()

    def serving(self, handler: StreamHandler) -> StreamHandler:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if self.closed:  # accepted just before the listener closed
                writer.transport.abort()
                return
            task = asyncio.current_task()
            assert task is not None  # start_server runs each handler in a task of its own
            self._handlers.add(task)
            self._writers.add(writer)
            try:
                await handler(reader, writer)
            finally:
                self._handlers.discard(task)
                self._writers.discard(writer)

        return serve

    async def close(self, server: asyncio.Server) -> None:
        self.closed = True
        server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await accepts_settled(lambda: bool(self._handlers))
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1.0)


async def start_site(site: web.BaseSite) -> None:
    """Starts an aiohttp site whose late accepts `stop_runners` closes too."""
    await site.start()
    server = getattr(site, "_server", None)  # aiohttp keeps the asyncio.Server there, unexposed
    if isinstance(server, asyncio.Server):
        count_late_accepts(server)


async def stop_runners(*runners: web.BaseRunner) -> None:
    """Stops every site of `runners`, lets the connections accepted meanwhile reach their handlers,
    then cleans the runners up, which closes every connection a handler holds."""
    for runner in runners:
        for site in list(runner.sites):
            await site.stop()
    await accepts_settled()
    for runner in runners:
        await runner.cleanup()
