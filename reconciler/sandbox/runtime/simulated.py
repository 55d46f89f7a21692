"""Simulated task runtime (sandbox layer): no processes, one real loopback listener per task port.

A healthy running task answers any HTTP request with 200 on host:port; an unhealthy or stopped
task has no listener, so Consul's real HTTP and TCP checks against it fail as they would.
"""

from __future__ import annotations

import asyncio
import contextlib

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
READ_TIMEOUT_S = 2.0
MAX_REQUEST_BYTES = 65536


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        # A bare TCP connect (TCP check) sends nothing; answer once the request head arrived or on EOF.
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
        writer.write(RESPONSE)
        await writer.drain()
    writer.close()


class TaskListeners:
    """The listeners of every running simulated task, keyed by task id."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._servers: dict[str, list[asyncio.Server]] = {}

    def is_open(self, task_id: str) -> bool:
        return task_id in self._servers

    async def open(self, task_id: str, host: str, ports: list[int]) -> str | None:
        """Listen on every port; returns why it could not (the task then fails), or None."""
        if not self.enabled or task_id in self._servers:
            return None
        servers: list[asyncio.Server] = []
        for port in ports:
            try:
                servers.append(await asyncio.start_server(_answer, host, port, limit=MAX_REQUEST_BYTES))
            except OSError as exc:
                for server in servers:
                    server.close()
                return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        self._servers[task_id] = servers
        return None

    def close(self, task_id: str) -> None:
        for server in self._servers.pop(task_id, []):
            server.close()

    async def close_all(self) -> None:
        servers = [server for group in self._servers.values() for server in group]
        self._servers.clear()
        for server in servers:
            server.close()
        for server in servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)
