"""A listener whose start is given up (cancelled, or its server stopped meanwhile) leaves nothing
listening on an agent's address.

CPython's `loop.create_server` (asyncio/base_events.py, `BaseEventLoop.create_server`) binds, starts
serving, then yields once (`await tasks.sleep(0)`); cancelled there, it drops the Server it made, whose
socket goes on accepting on the loop and is dropped unclosed only when the loop ends: a
`ResourceWarning: unclosed <socket.socket ... laddr=('127.0.0.2', ...)>` at a later garbage collection,
failing whichever test ran then. The agent statistics opened an agent's site in a task the sandbox's
stop cancels, the simulated runtime opens a task's listeners in one too, and a Consul client agent
joining while Consul's listeners closed registered its listener after the close. Each is started,
the loop runs `yields` iterations, then it is stopped; afterwards its address must refuse connections
and no socket may be found unclosed (reconciler/listeners.py `opened_or_undone`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from reconciler.sandbox.consul import ConsulSandbox, ConsulSandboxConfig
from reconciler.sandbox.marathon import MarathonSandbox
from reconciler.sandbox.runtime.simulated import TaskListeners
from tests.sandbox.marathon.fixtures import fast_config

YIELDS = range(12)  # past every iteration a bind takes, whatever the Python and aiohttp versions


def refused(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=5.0).close()
    except ConnectionRefusedError:
        return True
    return False


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
    return port


@contextlib.contextmanager
def no_unclosed_sockets() -> Iterator[None]:
    unraisable: list[Any] = []
    previous, sys.unraisablehook = sys.unraisablehook, unraisable.append
    try:
        yield
        gc.collect()  # a socket dropped unclosed warns here
    finally:
        sys.unraisablehook = previous
    assert [f"{u.exc_type.__name__}: {u.exc_value}" for u in unraisable] == []


async def spin(yields: int) -> None:
    for _ in range(yields):
        await asyncio.sleep(0)


@pytest.mark.parametrize("yields", YIELDS)
async def test_an_added_agents_statistics_listener_is_closed_by_a_stop_during_its_start(yields: int) -> None:
    with no_unclosed_sockets():
        async with MarathonSandbox(fast_config(task_listeners=False, agents=1)) as sandbox:
            agent = sandbox.add_agent()
            sandbox.agent_statistics.follow_agents()  # as the next scheduler pass would: its site opens in a task
            await spin(yields)
            port = sandbox.agent_stats_port
        assert refused(agent.host, port), f"{agent.host}:{port} still listens after the sandbox stopped"


@pytest.mark.parametrize("yields", YIELDS)
async def test_a_task_start_cancelled_while_binding_leaves_no_listener(yields: int) -> None:
    host = "127.0.0.2"
    ports = [free_port(host), free_port(host)]
    listeners = TaskListeners(enabled=True)
    with no_unclosed_sockets():
        opening = asyncio.get_running_loop().create_task(listeners.open("app.t1", host, ports))
        await spin(yields)
        opening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await opening
        if opening.cancelled():
            assert not listeners.is_open("app.t1")
            assert [refused(host, port) for port in ports] == [True, True]
        await listeners.close_all()
        assert [refused(host, port) for port in ports] == [True, True]


@pytest.mark.parametrize("yields", YIELDS)
async def test_a_client_agent_joining_while_consul_goes_down_does_not_listen(yields: int) -> None:
    config = ConsulSandboxConfig(check_interval_scale=0.01, nodes=(("agent-1", "127.0.0.2"),))
    with no_unclosed_sockets():
        async with ConsulSandbox(config) as sandbox:
            joining = asyncio.get_running_loop().create_task(sandbox.add_agent_node("agent-2", "127.0.0.3"))
            await spin(yields)
            await sandbox.stop_http()
            await joining
            assert refused("127.0.0.3", agent_port(sandbox)), "agent-2 listens while Consul is down"
            await sandbox.start_http()
            assert not refused("127.0.0.3", agent_port(sandbox))  # it comes back with the others


def agent_port(sandbox: ConsulSandbox) -> int:
    """agent-2's port: the server's, unless it was taken on 127.0.0.3 and the agent moved."""
    return urlsplit(sandbox.agent_url("agent-2")).port or sandbox.port


@pytest.mark.parametrize("yields", YIELDS)
async def test_agents_followed_while_the_statistics_stop_open_nothing(yields: int) -> None:
    """A scheduler pass may still ask the statistics to follow the agents while they stop: no site may open
    on a runner being cleaned up (it would listen on after the stop), and no task may fail for the runner
    being gone (a `Task exception was never retrieved` in the log)."""
    failures: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: failures.append(context))
    try:
        with no_unclosed_sockets():
            async with MarathonSandbox(fast_config(task_listeners=False, agents=1)) as sandbox:
                stats = sandbox.agent_statistics
                agent = sandbox.add_agent()
                stopping = asyncio.ensure_future(stats.stop())
                for _ in range(yields + 1):
                    stats.follow_agents()  # as a scheduler pass during the stop would
                    await asyncio.sleep(0)
                await stopping
                port = sandbox.agent_stats_port
                assert refused(agent.host, port), f"{agent.host}:{port} listens after the statistics stopped"
            gc.collect()  # a task dropped with its exception unretrieved reports it here
    finally:
        loop.set_exception_handler(previous)
    assert [str(c.get("exception") or c.get("message")) for c in failures] == []
