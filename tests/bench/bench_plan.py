"""Benchmark: planning 10,000 desired apps against 10,000 apps in Marathon (figures, not assertions).

Run with `.venv/bin/python -m tests.bench.bench_plan [APPS] [ROUNDS]` from the project root.
Marathon holds the apps as a 1.5+ GET answers them (defaults filled, ports assigned); 5% drifted,
2.5% rescaled, 2.5% missing (creates) and 2.5% orphans (deletes, with prune and force).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections import Counter

from reconciler.core.model import Actual, ActualApp, Desired, DesiredApp
from reconciler.core.plan import PlanOptions, build_plan
from tests.unit.core.planner_builders import MarathonVersion, applied, desired_app, desired_of, marathon_state

ENVIRONMENTS = 10


def desired_apps(count: int) -> list[DesiredApp]:
    per_env = count // ENVIRONMENTS
    return [
        desired_app(
            f"app-{index:05d}",
            environment=f"env-{index // per_env:02d}",
            instances=1 + index % 3,
            cmd=f"serve --id {index}",
            cpus=0.25,
            mem=256,
            env={"JAVA_OPTS": "-Xmx200m", "INDEX": str(index)},
            labels={"team": f"team-{index % 7}"},
            container={
                "docker": {
                    "image": f"registry.example.internal/app:{index % 13}",
                    "network": "BRIDGE",
                    "portMappings": [{"containerPort": 8080}],
                }
            },
            healthChecks=[{"protocol": "HTTP", "path": "/health"}],
            deps=[f"app-{index - 1:05d}"] if index % per_env else [],
        )
        for index in range(count)
    ]


def observed_state(apps: list[DesiredApp]) -> Actual:
    """Marathon's view: most apps as we wrote them, some drifted, rescaled, missing or orphaned."""
    twentieth = max(1, len(apps) // 40)
    present = desired_of(*apps[twentieth:], *orphans(twentieth))
    actual = marathon_state(applied(present), MarathonVersion.V1_5)
    edited = dict(actual.apps)
    for app_id in sorted(edited)[: 2 * twentieth]:
        app = edited[app_id]
        edited[app_id] = ActualApp(app_id, {**app.definition, "cpus": 2}, app.instances)
    for app_id in sorted(edited)[2 * twentieth : 3 * twentieth]:
        app = edited[app_id]
        edited[app_id] = ActualApp(app_id, app.definition, app.instances + 1)
    return Actual(apps=edited)


def orphans(count: int) -> list[DesiredApp]:
    return [desired_app(f"gone-{index:05d}", environment="env-00", cmd="old") for index in range(count)]


def main(count: int = 10_000, rounds: int = 5) -> None:
    apps = desired_apps(count)
    desired: Desired = desired_of(*apps, revision="bench")
    actual = observed_state(apps)
    options = PlanOptions(prune=True, force=True)
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        plan = build_plan(desired, actual, options)
        timings.append(time.perf_counter() - started)
    kinds = dict(sorted(Counter(str(action.kind) for action in plan.actions).items()))
    print(f"plan: {count} desired x {len(actual.apps)} actual apps, {len(plan.actions)} actions {kinds}")
    low, middle, high = min(timings), statistics.median(timings), max(timings)
    print(f"plan time over {rounds} rounds: min {low:.3f}s median {middle:.3f}s max {high:.3f}s")
    started = time.perf_counter()
    replanned = build_plan(desired, actual, options)
    print(f"deterministic: {replanned == plan} (checked in {time.perf_counter() - started:.3f}s)")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
