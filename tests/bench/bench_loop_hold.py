"""Benchmark: how long the controller's reads hold the event loop, against recorded answers.

    flock /work/wt/bench.lock .venv/bin/python -m tests.bench.bench_loop_hold MARATHON_URL CONSUL_URL [ROUNDS]

Point it at the static servers of a recording (`python -m tests.bench.recorded_http FOLDER`, e.g. of
/tmp/bench-cycle-10000/marathon and .../consul). Each round, with fresh clients as a controller's
first cycle has them: one observe of both systems, then the health watch's read of every check
(`get_watched_checks`). Meanwhile a ticker asks the loop for a turn every millisecond: the longest wait
for one is the longest the loop was held (no web request, leader beat or webhook ran meanwhile).
Prints the medians over the rounds, with the load average. Benchmarks only.
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from reconciler.consul.client import ConsulClient
from reconciler.core.registry import MANAGED_TAG
from reconciler.engine.observe import observe
from reconciler.marathon import MarathonClient

TICK = 0.001


async def held(step: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """The step's wall time and the longest the loop went without giving the ticker its turn."""
    longest = 0.0
    done = False

    async def tick() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(TICK)
            now = time.perf_counter()
            longest = max(longest, now - last - TICK)
            last = now

    ticker = asyncio.ensure_future(tick())
    await asyncio.sleep(0)
    started = time.perf_counter()
    try:
        await step()
    finally:
        wall = time.perf_counter() - started
        done = True
        await ticker
    return wall, longest


async def one_round(marathon_url: str, consul_url: str) -> dict[str, tuple[float, float]]:
    async with MarathonClient(marathon_url) as marathon, ConsulClient(consul_url) as consul:
        return {
            "observe": await held(lambda: observe(marathon, consul)),
            "health watch read": await held(lambda: consul.get_watched_checks(MANAGED_TAG)),
        }


def main(marathon_url: str, consul_url: str, rounds: int) -> None:
    gc.disable()  # as the CLI runs: collections would add holds of their own
    runs = [asyncio.run(one_round(marathon_url, consul_url)) for _ in range(rounds)]
    print(f"load average {os.getloadavg()[0]:.2f}; medians of {rounds} rounds")
    for name in runs[0]:
        wall = statistics.median(run[name][0] for run in runs)
        hold = statistics.median(run[name][1] for run in runs)
        print(f"  {name}: wall {wall:.3f} s, longest loop hold {hold * 1000:.0f} ms")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 5)
