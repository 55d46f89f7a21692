"""Benchmark: the Consul side of a cold cycle at the recording's scale, each round in a fresh process.

    python -m tests.bench.bench_consul_cold [--recording /tmp/bench-cycle-10000] [--rounds 5]

Serves a bench_cycle recording (Marathon and Consul answers, specs) from static loopback servers in
their own processes, then per round starts a fresh process that times, wall and CPU: Consul's read
alone (`read_consul`: nodes, checks, queries, every node's services, nothing remembered), and, after
Marathon's observation and the Marathon comparison (`build_plan`, untimed, as a plan runs it first),
the first `plan_registrations`, `plan_queries` and `decide_heals` with empty memos. Prints the medians
(and each round's load average). Run heavy recordings under the benchmarks' lock. Benchmarks only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.bench.bench_cycle import PROJECT, Static

STEPS = ("consul read", "registrations", "queries", "heals")


def clocked(step: Callable[[], Any], into: dict[str, list[float]], name: str) -> Any:
    cpu, wall = time.process_time(), time.perf_counter()
    result = step()
    into[name] = [time.perf_counter() - wall, time.process_time() - cpu]
    return result


async def one_round(specs: Path, marathon_url: str, consul_url: str) -> dict[str, list[float]]:
    """The figures of one fresh process (the collector paused, as `reconciler plan` runs)."""
    import gc

    from reconciler.consul.client import ConsulClient
    from reconciler.core.decision_memo import DecisionMemos
    from reconciler.core.heal import HealMemory, decide_heals
    from reconciler.core.plan import PlanOptions, build_plan
    from reconciler.core.queries import plan_queries
    from reconciler.core.registrations import plan_registrations
    from reconciler.engine.consul_read import read_consul
    from reconciler.engine.observe import Observation
    from reconciler.marathon import MarathonClient
    from reconciler.spec import load_desired

    gc.disable()
    figures: dict[str, list[float]] = {}
    desired = load_desired(specs)
    async with MarathonClient(marathon_url) as marathon, ConsulClient(consul_url) as consul:
        cpu, wall = time.process_time(), time.perf_counter()
        read = await read_consul(consul)
        figures["consul read"] = [time.perf_counter() - wall, time.process_time() - cpu]
        observation = Observation(await marathon.observe(), read.observation)
    actual, observed = observation.actual, observation.consul
    build_plan(desired, actual, PlanOptions())
    memos = DecisionMemos()
    clocked(lambda: plan_registrations(desired, actual, observed, memos.registrations), figures, "registrations")
    clocked(lambda: plan_queries(desired, actual, observed, memos=memos), figures, "queries")
    clocked(lambda: decide_heals(desired, actual, observed, HealMemory(), 0.0, memos.heals), figures, "heals")
    figures["instances, queries"] = [float(len(observed.instances)), float(len(observed.queries))]
    return figures


async def main(recording: Path, rounds: int) -> None:
    async with Static(recording / "marathon") as marathon, Static(recording / "consul") as consul:
        results = []
        for _ in range(rounds):
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.bench.bench_consul_cold", "--one", str(recording / "specs"),
                marathon.url, consul.url, cwd=PROJECT, stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await process.communicate()
            results.append(json.loads(out))
            print(f"round {len(results)}: load average {os.getloadavg()[0]:.2f}", file=sys.stderr)
    print(f"{recording.name}: {results[0]['instances, queries'][0]:.0f} instances, "
          f"{results[0]['instances, queries'][1]:.0f} queries, median of {rounds} fresh processes")
    for step in STEPS:
        wall = statistics.median(r[step][0] for r in results)
        cpu = statistics.median(r[step][1] for r in results)
        print(f"| {step} (s) | {wall:.3f} (CPU {cpu:.3f}) |")
    decisions = statistics.median(sum(r[s][1] for s in STEPS[1:]) for r in results)
    print(f"| Consul decisions, CPU (s) | {decisions:.3f} |")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        specs, marathon_url, consul_url = sys.argv[2:5]
        print(json.dumps(asyncio.run(one_round(Path(specs), marathon_url, consul_url))))
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--recording", type=Path, default=Path("/tmp/bench-cycle-10000"))
        parser.add_argument("--rounds", type=int, default=5)
        options = parser.parse_args()
        asyncio.run(main(options.recording, options.rounds))
