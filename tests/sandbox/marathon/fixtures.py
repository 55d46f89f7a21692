"""The `marathon_sandbox` fixture, importable by any test folder (sandbox tests).

    from tests.sandbox.marathon.fixtures import marathon_sandbox, fast_config  # noqa: F401

Function-scoped, on a free loopback port, with millisecond delays and app-level seconds scaled
down 1000x (a 60 s health interval takes 60 ms). `server_end_closed` tells whether a listener that
stopped ended a client's connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from reconciler.sandbox.marathon import DockerUnavailable, MarathonSandbox, MarathonSandboxConfig


def fast_config(**overrides: Any) -> MarathonSandboxConfig:
    """A sandbox config fast enough for tests; any field can be overridden."""
    settings: dict[str, Any] = {
        "port": 0,
        "start_delay_ms": 5,
        "health_delay_ms": 5,
        "seconds_scale": 0.001,
        "offer_retry_ms": 5,
        "keep_event_history": True,
    }
    settings.update(overrides)
    return MarathonSandboxConfig(**settings)


@contextlib.asynccontextmanager
async def docker_marathon(agents: int) -> AsyncIterator[MarathonSandbox]:
    """A sandbox with the docker runtime; the test skips (a failure in CI) when no docker daemon answers."""
    sandbox = MarathonSandbox(fast_config(runtime="docker", agents=agents))
    try:
        await sandbox.start()
    except DockerUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield sandbox
    finally:
        await sandbox.stop()


@pytest.fixture
async def marathon_sandbox() -> AsyncIterator[MarathonSandbox]:
    async with MarathonSandbox(fast_config()) as sandbox:
        yield sandbox


async def until(probe: Any, what: str, timeout: float = 10.0) -> Any:
    """Await `probe()` (sync or async) until it returns something truthy; fail naming `what`."""
    import asyncio
    import inspect

    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout}s")
        await asyncio.sleep(0.005)


def event_types(sandbox: MarathonSandbox) -> list[str]:
    return [event["eventType"] for event in sandbox.state.bus.history]


def events_of(sandbox: MarathonSandbox, event_type: str) -> list[dict[str, Any]]:
    return [event for event in sandbox.state.bus.history if event["eventType"] == event_type]


async def server_end_closed(client: socket.socket) -> bool:
    """True when the listener's end of the connection is gone: end of stream or a reset, within 5 s."""
    client.settimeout(5.0)
    try:
        return await asyncio.get_running_loop().run_in_executor(None, client.recv, 16) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    finally:
        client.close()
