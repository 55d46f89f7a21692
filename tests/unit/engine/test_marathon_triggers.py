"""The controller's Marathon event stream against the Marathon sandbox on loopback: when the stream
opens again after a break (the server went away and came back), one cycle is asked for, since events
sent meanwhile are lost; its first opening asks for none (the start cycle looks anyway)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from reconciler.engine.controller import Controller, ControllerOptions
from reconciler.engine.cycle import CycleResult
from reconciler.engine.triggers import RECONNECTED, StreamConnects, marathon_events
from reconciler.marathon.client import MarathonClient
from reconciler.sandbox.marathon import MarathonSandbox
from tests.sandbox.marathon.fixtures import fast_config

DEADLINE_S = 30.0


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


async def test_the_stream_asks_for_one_cycle_when_it_connects_again_and_none_at_its_first_connect() -> None:
    triggers: list[str] = []

    async def cycle(trigger: str) -> CycleResult:
        triggers.append(trigger)
        return CycleResult("c", trigger)

    first = MarathonSandbox(fast_config(keep_event_history=False))
    await first.start()
    port = int(first.url.rsplit(":", 1)[1])
    connects = StreamConnects()
    options = ControllerOptions(resync_seconds=3600, min_interval_seconds=0.0, source_retry_seconds=0.05,
                                max_source_retry_seconds=0.2)
    async with MarathonClient(first.url, backoff_seconds=0.05) as marathon:
        controller = Controller(cycle, options, sources=(lambda: marathon_events(marathon, connects),))
        running = asyncio.create_task(controller.run())
        try:
            await until(lambda: connects.count == 1, "the stream opens")
            controller.trigger("marker")  # every reason asked for before it is consumed by its cycle
            await until(lambda: any("marker" in t for t in triggers), "the marker's cycle")
            assert not any(RECONNECTED in t for t in triggers), triggers
            await first.stop()  # the stream breaks; while the server is away, opening it fails
            second = MarathonSandbox(fast_config(keep_event_history=False, port=port))
            await second.start()
            try:
                await until(lambda: any(RECONNECTED in t for t in triggers), "a cycle for the reconnect")
                assert connects.count == 2
                assert first.core.state.bus.subscriptions == [] and len(second.core.state.bus.subscriptions) == 1
            finally:
                controller.stop()
                await asyncio.wait_for(running, 10)
                await second.stop()
        finally:
            controller.stop()
            await asyncio.wait_for(running, 10)
    assert sum(RECONNECTED in t for t in triggers) == 1, triggers
