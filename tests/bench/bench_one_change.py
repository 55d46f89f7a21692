"""Benchmark: a controller's plan after one real change at N apps, against bench_cycle's recording.

    flock /work/wt/bench.lock .venv/bin/python -m tests.bench.bench_one_change --apps 10000

bench_cycle's "one change" forgets the plan memo over unchanged answers; here one object really changes
between two plans of one Planner (an app scaled in Marathon, a task's check critical, a desired app
redefined, a query changed), as the adapters hand it over: a new container holding the same objects but
the one replaced. Each change is made and undone `--rounds` times; the figures are the medians of the
plan's wall and CPU time, with the load average (a shared machine: compare runs of the same minute).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace

from reconciler.core.heal import HealMemory
from reconciler.core.model import Desired
from reconciler.core.plan import PlanOptions
from reconciler.core.registry import CheckStatus
from reconciler.engine.observe import Observation
from reconciler.engine.planning import Planner
from reconciler.spec import load_desired
from tests.bench.bench_cycle import folder_of, observed_recording

Change = Callable[[Desired, Observation], tuple[Desired, Observation]]


def scaled(desired: Desired, observation: Observation) -> tuple[Desired, Observation]:
    app_id = sorted(observation.actual.apps)[len(observation.actual.apps) // 2]
    app = observation.actual.apps[app_id]
    apps = {**observation.actual.apps, app_id: replace(app, instances=app.instances + 1)}
    return desired, replace(observation, actual=replace(observation.actual, apps=apps))


def critical(desired: Desired, observation: Observation) -> tuple[Desired, Observation]:
    instances = list(observation.consul.instances)
    n = len(instances) // 3
    instances[n] = replace(instances[n], status=CheckStatus.CRITICAL, output="connection refused")
    return desired, replace(observation, consul=replace(observation.consul, instances=tuple(instances)))


def redefined(desired: Desired, observation: Observation) -> tuple[Desired, Observation]:
    app_id = sorted(desired.apps)[len(desired.apps) // 4]
    app = desired.apps[app_id]
    changed = replace(app, definition={**app.definition, "cmd": f"{app.definition.get('cmd', '')} --changed"})
    return replace(desired, apps={**desired.apps, app_id: changed}), observation


def requeried(desired: Desired, observation: Observation) -> tuple[Desired, Observation]:
    name = sorted(observation.consul.queries)[len(observation.consul.queries) // 5]
    query = observation.consul.queries[name]
    queries = {**observation.consul.queries, name: replace(query, tags=("elsewhere", *query.tags[1:]))}
    return desired, replace(observation, consul=replace(observation.consul, queries=queries))


class Controller:
    """A controller's planning: one Planner, each plan from the heal memory the last one returned."""

    def __init__(self, desired: Desired, observation: Observation) -> None:
        self.planner, self.memory = Planner(), HealMemory()
        for _ in range(2):
            self.timed(desired, observation)

    def timed(self, desired: Desired, observation: Observation) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        self.memory = self.planner.plan(desired, observation, PlanOptions(), self.memory, 0.0).memory
        return time.perf_counter() - wall, time.process_time() - cpu


def main(apps: int, rounds: int) -> None:
    print(f"load average at start: {os.getloadavg()}", flush=True)
    desired, observation = load_desired(folder_of(apps) / "specs"), asyncio.run(observed_recording(apps))
    controller = Controller(desired, observation)
    for change in (scaled, critical, redefined, requeried):
        figures = []
        for _ in range(rounds):
            changed_desired, changed = change(desired, observation)
            figures.append(controller.timed(changed_desired, changed))
            figures.append(controller.timed(desired, replace(observation)))  # and back
        print(f"  {change.__name__}: plan wall {statistics.median(f[0] for f in figures):.4f} s,"
              f" CPU {statistics.median(f[1] for f in figures):.4f} s (median of {len(figures)})", flush=True)
    print(f"load average at end: {os.getloadavg()}", flush=True)


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--apps", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5)
    return parser.parse_args(argv)


if __name__ == "__main__":
    options = arguments(sys.argv[1:])
    main(options.apps, options.rounds)
