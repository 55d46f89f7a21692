"""Which environments a live controller owns, as a hand-run apply reads it from the leader lock
(engine/ownership.py) against the Consul sandbox over real HTTP: the elector writes its record; the
guard refuses (exit 4) over owned environments only, names the owner, and yields to --force; a
released lock owns nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from reconciler.consul.client import ConsulClient
from reconciler.engine.leader import LeaderElector, LeaderOptions
from reconciler.engine.ownership import LockRecord, live_owner, ownership_guard
from reconciler.errors import ExitCode, GuardRefused
from reconciler.sandbox.consul import ConsulSandbox
from tests.sandbox.consul.fixtures import SandboxFactory, consul_sandbox_factory  # noqa: F401

IDENTITY = "ctl-1.example:9090 pid 41"


async def leading(elector: LeaderElector, timeout: float = 15.0) -> None:
    started = time.monotonic()
    while not elector.may_write():
        assert time.monotonic() - started < timeout, "the elector never took the lock"
        await asyncio.sleep(0.02)


@pytest.fixture
async def sandbox(consul_sandbox_factory: SandboxFactory) -> ConsulSandbox:  # noqa: F811
    return await consul_sandbox_factory(session_time_scale=0.2)


async def test_the_guard_refuses_over_owned_environments_names_the_owner_and_yields_to_force(
    sandbox: ConsulSandbox,
) -> None:
    async with ConsulClient(sandbox.url, retries=0) as consul:
        elector = LeaderElector(consul, LeaderOptions(identity=IDENTITY, ttl=10.0, time_scale=0.2),
                                owned=lambda: ["integration"])
        task = asyncio.create_task(elector.run())
        try:
            await leading(elector)
            owner = await live_owner(consul, ["integration", "func-1"])
            assert owner is not None and owner.envs == ("integration",) and owner.record.holder == IDENTITY
            assert owner.record.since.endswith("Z")
            assert await live_owner(consul, ["func-1"]) is None  # not its environment: no refusal

            with pytest.raises(GuardRefused) as refused:
                await ownership_guard(consul, ["integration"], force=False)
            assert refused.value.exit_code == ExitCode.REFUSED
            text = str(refused.value)
            assert IDENTITY in text and f"leader since {owner.record.since}" in text and "--force" in text

            warning = await ownership_guard(consul, ["integration"], force=True)
            assert warning is not None and IDENTITY in warning
        finally:
            elector.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 10)
        # A clean stop releases the lock: nobody owns anything, no refusal, no warning.
        assert await ownership_guard(consul, ["integration"], force=False) is None


async def test_the_guard_without_consul_or_with_an_unreachable_one_does_not_block_the_apply() -> None:
    assert await ownership_guard(None, ["integration"], force=False) is None
    async with ConsulClient("http://127.0.0.1:9", retries=0, timeout=2.0) as consul:
        warning = await ownership_guard(consul, ["integration"], force=False)
    assert warning is not None and "could not read the leader lock" in warning


def test_a_record_without_environments_or_unreadable_owns_every_environment() -> None:
    assert LockRecord.decode(b'{"holder": "old-ctl:9090"}').owns("anything")
    assert LockRecord.decode(b"not json").owns("anything")
    record = LockRecord("ctl:9090", "2026-12-07T00:00:00Z", ("a", "b"))
    assert LockRecord.decode(record.encode()) == record and not record.owns("c")
