"""The Consul sandbox's check runner keeps at most MAX_PROBES_IN_FLIGHT probes open at once.

One process emulates every agent, so a loop falling behind must queue probes rather than open a
socket for each of 10,000 checks. The probe is replaced by one that holds its slot until released,
so the test sees how many the runner lets in, and that every check is probed once they are released.
"""

from __future__ import annotations

import asyncio

import pytest

from reconciler.sandbox.consul import checks
from reconciler.sandbox.consul.catalog import Catalog, Check, CheckDefinition, CheckStatus
from reconciler.sandbox.consul.raft import RaftIndex
from tests.sandbox.consul.fixtures import eventually


async def test_probes_wait_for_a_slot_and_all_run_once_slots_free(monkeypatch: pytest.MonkeyPatch) -> None:
    released = asyncio.Event()
    in_flight: set[str] = set()
    most, probed = 0, set()

    async def held_probe(address: str, timeout: float) -> tuple[CheckStatus, str]:
        nonlocal most
        in_flight.add(address)
        most = max(most, len(in_flight))
        await released.wait()
        in_flight.discard(address)
        probed.add(address)
        return CheckStatus.PASSING, f"TCP connect {address}: Success"

    monkeypatch.setattr(checks, "probe_tcp", held_probe)
    catalog = Catalog(RaftIndex())
    runner = checks.CheckRunner(catalog, scale=0.001)  # a 1 s interval starts within a millisecond
    runner.start()
    count = 2 * checks.MAX_PROBES_IN_FLIGHT + 10
    try:
        for n in range(count):
            catalog.upsert_check(Check(node="agent-1", check_id=f"c{n}", name="tcp", runs_on_agent=True,
                                       definition=CheckDefinition(tcp=f"127.0.0.1:{20000 + n}", interval=1.0)))

        async def waiting() -> int:
            return len(in_flight)

        await eventually(waiting, lambda n: n == checks.MAX_PROBES_IN_FLIGHT, timeout=30)
        for _ in range(20):  # the others had every chance to start meanwhile
            await asyncio.sleep(0)
        assert most == checks.MAX_PROBES_IN_FLIGHT
        released.set()

        async def done() -> int:
            return len(probed)

        await eventually(done, lambda n: n == count, timeout=30)
        assert all(c.status == CheckStatus.PASSING for c in catalog.checks.values())
    finally:
        released.set()
        await runner.stop()
