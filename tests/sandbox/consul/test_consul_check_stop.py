"""Stopping the Consul sandbox's checks ends every check loop, even one that missed its cancellation.

Python 3.11's asyncio.wait_for, which the probes use, can swallow a cancellation that arrives as its
inner await completes (cpython gh-86296); the sandbox's stop then waited forever on a probe loop that
ran on (a test's teardown hung until pytest-timeout).
"""

from __future__ import annotations

import asyncio

from reconciler.sandbox.consul.catalog import Catalog, Check, CheckStatus
from reconciler.sandbox.consul.checks import CheckRunner
from reconciler.sandbox.consul.raft import RaftIndex


async def test_a_loop_that_swallowed_its_cancellation_still_ends_at_stop() -> None:
    runner = CheckRunner(Catalog(RaftIndex()))
    runner.start()
    swallowed = 0

    async def probe_loop_that_misses_one_cancellation() -> None:
        nonlocal swallowed
        for _ in range(3_000):  # bounded: about 30 s, should stop() never end it
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1  # the race: the cancellation is lost and the loop goes on

    check = Check(node="agent-1", check_id="probe", name="tcp", status=CheckStatus.PASSING)
    loop_task = asyncio.create_task(probe_loop_that_misses_one_cancellation())
    runner._running[("agent-1", "probe")] = (loop_task, check)
    await asyncio.sleep(0.05)
    await asyncio.wait_for(runner.stop(), 10.0)
    assert loop_task.cancelled(), "stop() returned with a check loop still running, or it ended on its own"
    assert swallowed == 1
