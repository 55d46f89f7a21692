"""Benchmark: the Marathon half of a cold observe, each in a fresh process, against bench_cycle's recording.

    flock /work/wt/bench.lock .venv/bin/python -m tests.bench.bench_marathon_cold --apps 10000 --runs 7

Serves /tmp/bench-cycle-<N>/marathon (bench_cycle record) from another process, then runs `--runs` fresh
processes that import what `reconciler plan` imports, and time (outside the imports) building a
MarathonClient and its first `observe`: as the controller builds it (remembering each app for the next
read) and as `reconciler plan` does (`remember_apps=False`). The result is kept out of `asyncio.run`'s
return value: Python 3.11's runner formats its main task, result included, when it restores the SIGINT
handler (a full repr of 10,000 apps). Prints the median wall and CPU seconds of each. Benchmarks only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys

from tests.bench.bench_cycle import PROJECT, Static, folder_of
from tests.bench.bench_scale import load_average

ONE_OBSERVE = """
import asyncio, gc, json, sys, time
import reconciler.cli.main, reconciler.cli.plan, reconciler.cli.plan_steps
from reconciler.marathon import MarathonClient
kept = []
async def observed(url, remember):
    # Without the keyword when remembering, so that the same lines time a checkout from before it.
    async with (MarathonClient(url) if remember else MarathonClient(url, remember_apps=False)) as client:
        kept.append(await client.observe())
gc.disable()
cpu, wall = time.process_time(), time.perf_counter()
asyncio.run(observed(sys.argv[1], sys.argv[2] == "remember"))
print(json.dumps([time.perf_counter() - wall, time.process_time() - cpu, len(kept[0].apps)]))
"""


async def one_observe(url: str, mode: str) -> list[float]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", ONE_OBSERVE, url, mode, cwd=PROJECT, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(process.communicate(), 300)
    figures: list[float] = json.loads(out)
    return figures


async def main(apps: int, runs: int, ways: list[str]) -> None:
    print(f"load average at start: {load_average()}", flush=True)
    async with Static(folder_of(apps) / "marathon") as server:
        timings: dict[str, list[list[float]]] = {way: [] for way in ways}
        for _ in range(runs):
            for mode, found in timings.items():
                found.append(await one_observe(server.url, mode))
    for mode, found in timings.items():
        wall = statistics.median(f[0] for f in found)
        cpu = statistics.median(f[1] for f in found)
        print(f"  Marathon observe, cold process, {mode} (s, median of {runs}): {wall:.3f} (CPU {cpu:.3f})"
              f", {int(found[0][2])} apps")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--apps", type=int, default=10000, help="the recording's app count (bench_cycle record)")
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per way (median)")
    parser.add_argument("--ways", nargs="+", choices=("remember", "once"), default=["remember", "once"],
                        help="remember: as the controller builds the client; once: as `reconciler plan` does")
    options = parser.parse_args()
    asyncio.run(main(options.apps, options.runs, options.ways))
