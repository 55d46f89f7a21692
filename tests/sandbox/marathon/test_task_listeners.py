"""The simulated tasks' listeners close every connection they accepted, however late it was accepted.

A probe (a Consul TCP check, Prometheus) that connects just as its task stops is accepted by the kernel
before asyncio makes its transport; on Python 3.11 that transport came after the listener's close and
asyncio dropped the socket unclosed (a ResourceWarning at some later garbage collection, which failed
whichever test was running then). `yields` lets the loop run that many iterations between the
connects and the close, so the close meets the accepts at every stage.
"""

from __future__ import annotations

import asyncio
import gc
import socket
from collections.abc import Awaitable, Callable

import pytest

from reconciler.sandbox.runtime.simulated import TaskListeners
from tests.sandbox.marathon.fixtures import server_end_closed

CLIENTS = 4


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def close_meeting_the_accepts(yields: int, close: Callable[[TaskListeners], Awaitable[None]]) -> None:
    listeners = TaskListeners(enabled=True)
    port = free_port()
    assert await listeners.open("task-1", "127.0.0.1", [port]) is None
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(CLIENTS)]
    for _ in range(yields):
        await asyncio.sleep(0)
    await close(listeners)
    assert [await server_end_closed(client) for client in clients] == [True] * CLIENTS
    gc.collect()  # a dropped socket warns here (warnings are errors in this suite)


@pytest.mark.parametrize("yields", range(8))
async def test_stopping_the_sandbox_closes_connections_accepted_at_any_stage(yields: int) -> None:
    async def close_all(listeners: TaskListeners) -> None:
        await listeners.close_all()

    await close_meeting_the_accepts(yields, close_all)


@pytest.mark.parametrize("yields", range(8))
async def test_a_stopped_task_closes_connections_accepted_at_any_stage(yields: int) -> None:
    async def close_one(listeners: TaskListeners) -> None:
        listeners.close("task-1")

    await close_meeting_the_accepts(yields, close_one)
