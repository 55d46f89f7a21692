"""Pytest fixtures that start the embedded Consul sandbox; importable from any test folder.

    from tests.sandbox.consul.fixtures import consul_sandbox, consul_sandbox_factory  # noqa: F401

`consul_sandbox` is a started sandbox with fast checks (interval scale 0.01) and fast sessions (TTL and
lock-delay scale 0.01), one extra agent node `agent-1` on 127.0.0.2. `consul_sandbox_factory(**config)`
starts sandboxes with any ConsulSandboxConfig fields; all are stopped at teardown. `eventually` waits for
a condition with a deadline instead of sleeping a fixed time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest

from reconciler.sandbox.consul import ConsulSandbox, ConsulSandboxConfig

T = TypeVar("T")
FAST = {"check_interval_scale": 0.01, "session_time_scale": 0.01, "nodes": (("agent-1", "127.0.0.2"),)}
SandboxFactory = Callable[..., Awaitable[ConsulSandbox]]


@pytest.fixture
async def consul_sandbox_factory() -> AsyncIterator[SandboxFactory]:
    started: list[ConsulSandbox] = []

    async def make(**overrides: Any) -> ConsulSandbox:
        sandbox = ConsulSandbox(ConsulSandboxConfig(**{**FAST, **overrides}))
        await sandbox.start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in reversed(started):
        await sandbox.stop()


@pytest.fixture
async def consul_sandbox(consul_sandbox_factory: SandboxFactory) -> ConsulSandbox:
    return await consul_sandbox_factory()


@pytest.fixture(name="consul_sandbox")
async def consul_sandbox_at_real_periods(consul_sandbox_factory: SandboxFactory) -> ConsulSandbox:
    """`consul_sandbox` with checks and TTLs at their real periods, for a module that imports it (it then
    replaces the fast one there): its tests register TTL checks (9 to 60 s) and read their status or what
    they select back, and the fast scale (0.01) lets them expire between two requests on a loaded machine."""
    return await consul_sandbox_factory(check_interval_scale=1.0)


async def eventually(probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], timeout: float = 5.0,
                     period: float = 0.02) -> T:
    """Re-run `probe` until `accept` says yes; fail with the last value once `timeout` has passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        await asyncio.sleep(period)
