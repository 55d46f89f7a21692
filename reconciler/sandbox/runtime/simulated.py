"""Simulated task runtime (sandbox layer): no processes, one real loopback listener per task port.

A healthy running task answers any HTTP request with 200 on host:port (`GET /metrics` with its
simulated counters in Prometheus' text format); an unhealthy or stopped
task has no listener, so Consul's real HTTP and TCP checks against it fail as they would.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
from collections.abc import Callable

from reconciler.listeners import accepts_settled, close_server, count_late_accepts, opened_or_undone
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
        self._connections: dict[str, set[asyncio.Transport]] = {}
        self._closed = False  # after close_all nothing opens again (a late start timer must not leak a socket)
        self._host_ports = HostPorts()

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
        loop = asyncio.get_running_loop()
        try:
            for port in ports:
                server = await opened_or_undone(loop.create_server(lambda: _Answer(self, task_id), host, port),
                                                close_server)
                servers.append(count_late_accepts(server))
        except asyncio.CancelledError:  # the task's start given up (the sandbox stopping): no listener stays
            self._wanted.discard(task_id)
            raise
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

    def answered(self, task_id: str, transport: asyncio.Transport) -> bool:
        """A connection accepted for `task_id`: kept to be closed with its task, or aborted when the task
        is gone (accepted just before its listener closed)."""
        if task_id not in self._wanted:
            transport.abort()
            return False
        self._connections.setdefault(task_id, set()).add(transport)
        return True

    def hung_up(self, task_id: str, transport: asyncio.Transport) -> None:
        self._connections.get(task_id, set()).discard(transport)

    def answer_for(self, task_id: str, head: bytes) -> bytes:
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
        """Waits (bounded) until no accepted connection is on its way to its protocol: one accepted just
        before its listener closed meets its protocol (which aborts it) only then (reconciler/listeners.py)."""
        await accepts_settled()

    def close(self, task_id: str) -> None:
        self._wanted.discard(task_id)
        for server in self._servers.pop(task_id, []):
            server.close()
        for transport in self._connections.pop(task_id, set()):
            transport.abort()

    async def close_all(self) -> None:
        self._closed = True
        servers = [server for group in self._servers.values() for server in group]
        for task_id in list(self._wanted | set(self._connections)):
            self.close(task_id)
        await self._settled()
        for server in servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)


class _Answer(asyncio.Protocol):
    """One connection to a task's port: the first request head gets its answer, then the connection closes;
    a peer that only connects (a TCP check) and hangs up costs nothing more. A protocol, not a stream
    handler: at 10,000 checks a handler task, a stream pair and a timeout per probe were most of the
    listening side's CPU."""

    def __init__(self, listeners: TaskListeners, task_id: str) -> None:
        self.listeners, self.task_id = listeners, task_id
        self.transport: asyncio.Transport | None = None
        self.head = bytearray()
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if self.listeners.answered(self.task_id, transport):
            self.transport = transport
            self.timer = asyncio.get_running_loop().call_later(READ_TIMEOUT_S, transport.close)

    def data_received(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end >= 0:
            self.transport.write(self.listeners.answer_for(self.task_id, bytes(self.head[: end + 4])))
            self.transport.close()
        elif len(self.head) > MAX_REQUEST_BYTES:
            self.transport.close()

    def eof_received(self) -> bool:
        return False  # the peer is done: close our end too

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.transport is not None:
            self.listeners.hung_up(self.task_id, self.transport)
