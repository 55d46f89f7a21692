"""Stopping an asyncio listener so that it closes every connection it accepted, however late (shared by
the controller's web server and the sandbox's listeners, like errors.py: it imports no layer).

asyncio accepts in a task of its own, which makes the transport; the protocol (and a stream handler)
starts later still. A client that connects just as a listener stops is accepted before the close and
served after it: on Python 3.11 its transport asserted the server open and the socket was dropped
unclosed (a ResourceWarning at some later garbage collection), and a handler that starts after the stop
holds its connection until the loop ends (aiohttp's cleanup waits its 60 s shutdown timeout for it).
`Server.wait_closed()` returns at once there, so it cannot tell. Starting one is made safe to cancel
too (`opened_or_undone`): a bind given up halfway leaves no listener behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from aiohttp import web

SETTLE_DEADLINE_S = 2.0
StreamHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
T = TypeVar("T")


async def opened_or_undone(opening: Coroutine[Any, Any, T], undo: Callable[[T], Awaitable[None]]) -> T:
    """Runs `opening` (a bind: `loop.create_server`, an aiohttp site's start) so that cancelling the
    caller cannot leave a listener behind. `create_server` binds, starts serving, then yields once
    (`await sleep(0)`): cancelled there, it drops its Server, whose socket goes on accepting on the
    loop and is dropped unclosed when the loop ends (a ResourceWarning at some later garbage
    collection). Here the bind runs to its end in a task of its own; a caller cancelled meanwhile waits for
    it (one loop iteration), undoes what it opened, and is cancelled."""
    job = asyncio.ensure_future(opening)
    try:
        return await asyncio.shield(job)
    except asyncio.CancelledError:
        while not job.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([job])
        if not job.cancelled() and job.exception() is None:
            await undo(job.result())
        raise


async def close_server(server: asyncio.Server) -> None:
    """`opened_or_undone`'s undo for `loop.create_server`."""
    server.close()


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
    """Starts an aiohttp site whose late accepts `stop_runners` closes too; a caller cancelled during
    the start leaves the site stopped (`opened_or_undone`)."""

    async def started() -> web.BaseSite:
        await site.start()
        return site

    async def stopped(_: web.BaseSite) -> None:
        await site.stop()

    await opened_or_undone(started(), stopped)
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
