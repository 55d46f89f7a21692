"""Benchmark: the autoscaler's reaction, throughput and stability (figures, not assertions).

Run with `.venv/bin/python -m tests.bench.bench_autoscale [RUNS] [TICK]` from the project root.
1. Reaction time: from a load change through the sandbox's fault API to the first decision that
   scales, sampling every agent's `/monitor/statistics` through MesosStatistics and deciding every
   TICK seconds (default 0.5), over RUNS load changes (default 5) made at random points of a tick.
   Through the controller: from the load change to the scale request (the cycle that sent the
   `instances` write), with the Controller resyncing every TICK and its Autoscaler sampling the agents.
2. Decisions per second: decide() for 1,000 autoscaled apps of 5 synthetic tasks each.
3. Flaps: replay() of 10 minutes (40 steps of 15 s) of flat load at the target with +-10% noise per
   task; a flap is a change of direction of the instance count (the figure must be 0).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from reconciler.core.autoscale import decide
from reconciler.core.autoscale_metrics import TaskSample, TaskView
from reconciler.core.autoscale_policy import AutoscalePolicy, MetricKind, MetricTarget
from reconciler.core.autoscale_replay import Step, replay
from reconciler.core.model import ActionKind
from reconciler.metrics.mesos import MesosStatistics
from reconciler.sandbox.marathon import MarathonSandbox
from tests.e2e.autoscale_support import autoscaled_shop, controller, sampled_views
from tests.sandbox.marathon.fixtures import fast_config, until

POLICY = AutoscalePolicy(1, 20, (MetricTarget(MetricKind.CPU, 0.5),))
APP = {"id": "/web", "cmd": "serve", "cpus": 1.0, "mem": 128, "instances": 2}


async def one_reaction(api: httpx.AsyncClient, sandbox: MarathonSandbox, tick: float, rng: random.Random) -> float:
    """Seconds from a load change (at a random point of the third tick) to the first decision that scales."""
    await api.put("/_sandbox/load", json={"app": "/web", "cpu": 0.5})
    source = MesosStatistics(api, port=sandbox.agent_stats_port)
    changed: list[float] = []

    async def raise_load() -> None:
        await asyncio.sleep((2 + rng.random()) * tick)
        await api.put("/_sandbox/load", json={"app": "/web", "cpu": 0.95})
        changed.append(time.monotonic())

    change = asyncio.create_task(raise_load())
    start = time.monotonic()
    for beat in range(40):
        views = await sampled_views(api, source, "/web")
        samples = [v.sample for v in views if v.sample is not None]
        decision = decide(POLICY, 2, views, now=max((s.at for s in samples), default=0.0))
        if changed and decision.instances > 2:
            await change
            return time.monotonic() - changed[0]
        await asyncio.sleep(max(0.0, start + (beat + 1) * tick - time.monotonic()))
    raise RuntimeError("no scale-up within 40 ticks")


async def reaction_times(runs: int, tick: float) -> list[float]:
    rng = random.Random(7)
    async with (
        MarathonSandbox(fast_config(agents=3)) as sandbox,
        httpx.AsyncClient(base_url=sandbox.url, timeout=10.0) as api,
    ):
        await api.post("/v2/apps", json=APP)
        await sandbox.wait_idle()
        return [await one_reaction(api, sandbox, tick, rng) for _ in range(runs)]


SPEC = autoscaled_shop("1s")


async def controller_reactions(runs: int, tick: float) -> list[float]:
    """Seconds from a load change (at a random point of a tick) to the end of the cycle that sent the scale-up."""
    rng = random.Random(5)
    reactions = []
    with tempfile.TemporaryDirectory(prefix="bench-autoscale-") as folder:
        async with controller(Path(folder), SPEC, tick) as running:
            for _ in range(runs):
                await asyncio.sleep(rng.random() * tick)
                mark = len(running.results)
                await running.load(0.95)
                changed = time.monotonic()
                await until(lambda at=mark: any(a.kind == ActionKind.SCALE for a in running.executed(at)), "up", 60)
                reactions.append(time.monotonic() - changed)
                await until(lambda: running.settled_at(6), "the scale-up to max done", 60)
                await running.load(0.2)
                await until(lambda: running.settled_at(2), "back at 2", 60)
    return reactions


def synthetic_apps(count: int, tasks: int, rng: random.Random) -> list[list[TaskView]]:
    return [
        [
            TaskView(f"a{a}.t{t}", "TASK_RUNNING", True, -3600, -3590, 1.0, 512, TaskSample(-5, 30, cpu=rng.random()))
            for t in range(tasks)
        ]
        for a in range(count)
    ]


def decisions_per_second(apps: int = 1000, rounds: int = 5) -> float:
    fleet = synthetic_apps(apps, 5, random.Random(11))
    started = time.perf_counter()
    for round_index in range(rounds):
        for tasks in fleet:
            decide(POLICY, 5, tasks, now=float(round_index))
    return apps * rounds / (time.perf_counter() - started)


def noisy_flaps(seed: int = 3) -> tuple[int, int]:
    """(flaps, changes) of a 10-minute replay at the target with +-10% noise on every task."""
    rng = random.Random(seed)
    steps = [
        Step(
            at=index * 15.0,
            tasks=tuple(
                TaskView(f"t{t}", "TASK_RUNNING", True, -3600, -3590, 1.0, 512,
                         TaskSample(index * 15.0 - 5, 30, cpu=0.5 * rng.uniform(0.9, 1.1)))
                for t in range(4)
            ),
        )
        for index in range(40)
    ]
    counts = [4, *(decision.instances for _, decision in replay(POLICY, 4, steps))]
    moves = [b - a for a, b in itertools.pairwise(counts) if b != a]
    flaps = sum(1 for a, b in itertools.pairwise(moves) if (a > 0) != (b > 0))
    return flaps, len(moves)


def main(runs: int, tick: float) -> None:
    reactions = asyncio.run(reaction_times(runs, tick))
    print(f"reaction time, load change -> scaling decision (tick {tick:.2f}s, {runs} runs):")
    print(
        f"  median {statistics.median(reactions):.3f}s  max {max(reactions):.3f}s  "
        f"(in ticks: median {statistics.median(reactions) / tick:.2f}, max {max(reactions) / tick:.2f})"
    )
    through = asyncio.run(controller_reactions(runs, tick))
    print(f"reaction time through the controller, load change -> scale request (resync {tick:.2f}s, {runs} runs):")
    print(
        f"  median {statistics.median(through):.3f}s  max {max(through):.3f}s  "
        f"(in ticks: median {statistics.median(through) / tick:.2f}, max {max(through) / tick:.2f})"
    )
    print(f"decisions per second, 1,000 autoscaled apps x 5 tasks: {decisions_per_second():,.0f}")
    flaps, changes = noisy_flaps()
    print(f"flaps in a 10-minute replay (40 x 15s, +-10% noise at the target): {flaps} (count changes: {changes})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5, float(sys.argv[2]) if len(sys.argv) > 2 else 0.5)
