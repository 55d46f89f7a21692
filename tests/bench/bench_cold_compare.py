"""Benchmark: `build_plan` alone, cold (no comparison remembered), on the recording of bench_cycle.

    flock /work/wt/bench.lock .venv/bin/python -m tests.bench.bench_cold_compare --apps 10000 --rounds 7

Loads the recorded spec tree, observes the recorded Marathon answer once (served from another
process), then plans `--rounds` times with the comparison memo cleared before each: the Marathon half
of a cold plan, without Consul's. Prints wall and CPU seconds (first, median, min). Benchmarks only.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import time

from reconciler.core.plan import build_plan
from reconciler.spec import load_desired
from tests.bench.bench_cycle import folder_of, observed_recording


def main(apps: int, rounds: int) -> None:
    desired = load_desired(folder_of(apps) / "specs")
    actual = asyncio.run(observed_recording(apps)).actual
    gc.disable()  # as `reconciler plan` plans (gc_pause)
    walls, cpus = [], []
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        plan = build_plan(desired, actual)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    gc.enable()
    print(f"build_plan, cold: {len(desired.apps)} desired x {len(actual.apps)} actual, {len(plan.actions)} actions,"
          f" load average {os.getloadavg()[0]:.2f}")
    for name, figures in (("wall", walls), ("CPU", cpus)):
        print(f"  {name}: first {figures[0]:.3f}s median {statistics.median(figures):.3f}s min {min(figures):.3f}s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--apps", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args(sys.argv[1:])
    main(options.apps, options.rounds)
