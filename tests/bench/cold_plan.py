"""Benchmark helper: the phases of a cold `reconciler plan`, timed inside one fresh process.

    python -m tests.bench.cold_plan SPECS MARATHON_URL CONSUL_URL

Prints one JSON object: the wall and CPU seconds of importing the command, loading the spec tree,
the first observation and the first plan, each as `reconciler plan` runs them (the garbage collector
paused, the plan not strict). Nothing of the project is imported before the clock starts, so the
import figure is the command's own. Run by tests/bench/bench_cycle.py; benchmarks only.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def clocked(step: Callable[[], Any], into: dict[str, list[float]], name: str) -> Any:
    cpu, wall = time.process_time(), time.perf_counter()
    result = step()
    into[name] = [time.perf_counter() - wall, time.process_time() - cpu]
    return result


def imported() -> Any:
    """What `reconciler plan` imports: the command's module, then its work's (cli/plan_steps.py)."""
    import reconciler.cli.main
    import reconciler.cli.plan
    import reconciler.cli.plan_steps

    return reconciler.cli.plan_steps


def observed(marathon_url: str, consul_url: str) -> Any:
    """The first observation, as `reconciler plan` makes it. Kept out of `asyncio.run`'s result: CPython
    3.11's runner formats the main task on the way out (`signal.getsignal`), its result included, which
    at 10,000 apps is a second of repr (cli/event_loop.py avoids it the same way)."""
    from reconciler.consul.client import ConsulClient
    from reconciler.engine.observe import observe
    from reconciler.marathon import MarathonClient

    kept: list[Any] = []

    async def once() -> None:
        async with (MarathonClient(marathon_url, remember_apps=False) as marathon,
                    ConsulClient(consul_url) as consul):
            kept.append(await observe(marathon, consul))

    asyncio.run(once())
    return kept.pop()


def main(specs: Path, marathon_url: str, consul_url: str) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {}
    command = clocked(imported, figures, "import")
    from reconciler.core.heal import HealMemory
    from reconciler.core.plan import PlanOptions
    from reconciler.engine.planning import plan_cycle
    from reconciler.gc_pause import gc_paused

    with gc_paused():
        desired, _ = clocked(lambda: command.load_both(specs, None), figures, "spec load")
        observation = clocked(lambda: observed(marathon_url, consul_url), figures, "observe")
        planned = clocked(
            lambda: plan_cycle(desired, observation, PlanOptions(), HealMemory(), 0.0, strict=False),
            figures, "plan",
        )
    figures["actions"] = [float(len(planned.plan.actions)), 0.0]
    return figures


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3])))
