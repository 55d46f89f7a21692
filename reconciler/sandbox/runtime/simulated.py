"""Simulated task runtime (sandbox layer): no processes, one real loopback listener per task port.

A healthy running task answers any HTTP request with 200 on host:port (`GET /metrics` with its
simulated counters in Prometheus' text format); an unhealthy or stopped
task has no listener, so Consul's real HTTP and TCP checks against it fail as they would.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
from collections.abc import Awaitable, Callable
from typing import Any

from reconciler.sandbox.listen import accepts_settled, count_late_accepts
from reconciler.sandbox.runtime import Launch, PortInUse
from reconciler.sandbox.runtime.ports import HostPorts

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
READ_TIMEOUT_S = 2.0
MAX_REQUEST_BYTES = 65536


class TaskListeners:
    """The listeners of every running simulated task, keyed by task id, and their open connections."""

    def __init__(self, enabled: bool, exposition: Callable[[str], str] | None = None) -> None:
        self.enabled = enabled
        # A task's `/metrics` text (Prometheus exposition) by task id; without it `/metrics` is "ok" too.
        self.exposition = exposition
        self._servers: dict[str, list[asyncio.Server]] = {}
        self._wanted: set[str] = set()
        self._connections: dict[str, set[asyncio.StreamWriter]] = {}
        self._closed = False  # after close_all nothing opens again (a late start timer must not leak a socket)
        self._host_ports = HostPorts()
        self._handlers: set[asyncio.Task[Any]] = set()  # connections being answered

    def port_free(self, host: str, port: int) -> bool:
        # Without listeners no task binds, so nothing outside the sandbox can be in its way.
        return not self.enabled or self._host_ports.free(host, port)

    def is_open(self, task_id: str) -> bool:
        return task_id in self._servers

    async def open(
        self, task_id: str, host: str, ports: list[int], paths: tuple[str, ...] = (), launch: Launch | None = None
    ) -> str | None:
        """Listen on every port (any path answers); returns why it could not (the task then fails), or None."""
        if not self.enabled or self._closed or task_id in self._wanted:
            return None
        self._wanted.add(task_id)
        servers: list[asyncio.Server] = []
        port = 0
        try:
            for port in ports:
                servers.append(count_late_accepts(
                    await asyncio.start_server(self._answerer(task_id), host, port, limit=MAX_REQUEST_BYTES)))
        except OSError as exc:
            self._wanted.discard(task_id)
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(host, port) from exc
            return f"cannot listen on {host}:{ports}: {exc.strerror or exc}"
        finally:
            # Closed (or failed) while we were binding: nothing may stay open behind the caller's back.
            if task_id not in self._wanted:
                for server in servers:
                    server.close()
        if task_id in self._wanted:
            self._servers[task_id] = servers
        return None

    def _answerer(self, task_id: str) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            handler = asyncio.current_task()
            assert handler is not None  # start_server runs each handler in a task of its own
            self._handlers.add(handler)
            try:
                await serve(reader, writer)
            finally:
                self._handlers.discard(handler)

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if task_id not in self._wanted:  # accepted just before the task's listener closed: the task is gone
                writer.transport.abort()
                return
            connections = self._connections.setdefault(task_id, set())
            connections.add(writer)
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
                writer.write(self._response(task_id, head))
                await writer.drain()
            except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                pass
            finally:
                connections.discard(writer)
                writer.close()

        return answer

    def _response(self, task_id: str, head: bytes) -> bytes:
        method, _, rest = head.partition(b" ")
        path = rest.split(b" ", 1)[0].split(b"?", 1)[0]
        if self.exposition is None or method != b"GET" or path != b"/metrics":
            return RESPONSE
        body = self.exposition(task_id).encode()
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )

    async def _settled(self) -> None:
        """Waits (bounded) until no accepted connection is on its way to its handler or in it: one
        accepted just before its listener closed gets its handler (which aborts it) only then
        (reconciler/sandbox/listen.py)."""
        await accepts_settled(lambda: bool(self._handlers))

    def close(self, task_id: str) -> None:
        self._wanted.discard(task_id)
        for server in self._servers.pop(task_id, []):
            server.close()
        for writer in self._connections.pop(task_id, set()):
            writer.transport.abort()

    async def close_all(self) -> None:
        self._closed = True
        servers = [server for group in self._servers.values() for server in group]
        for task_id in list(self._wanted | set(self._connections)):
            self.close(task_id)
        await self._settled()
        for server in servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)
