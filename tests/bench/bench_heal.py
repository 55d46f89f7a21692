"""Benchmark: healing latency and Consul load of the controller against the sandbox (figures, not assertions).

Run with `.venv/bin/python -m tests.bench.bench_heal [TASKS] [SECONDS]` from the project root.
1. From a Consul check turning critical to the heal (`POST /v2/tasks/delete`) being sent, with the
   blocking-query trigger, minus the app's grace window (the reaction time the controller adds).
2. Consul requests per minute at steady state with TASKS tasks (default 300), counted with the
   client's `on_request` hook over SECONDS (default 20), by endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

from reconciler.consul.client import ConsulClient
from reconciler.core.plan import PlanOptions
from reconciler.engine.controller import Controller, ControllerOptions
from reconciler.engine.cycle import CycleOptions, Reconciler
from reconciler.engine.triggers import consul_health_changes, marathon_events
from reconciler.marathon import MarathonClient
from reconciler.sandbox.consul import ConsulSandboxConfig
from reconciler.sandbox.stack import Sandbox, SandboxConfig
from reconciler.spec import load_desired
from tests.sandbox.marathon.fixtures import fast_config, until

GRACE = 0.5
APP = """
  {name}:
    cmd: serve
    instances: {instances}
    cpus: 0.01
    mem: 4
    ports: [{{name: http}}]
    healthChecks: [{{protocol: HTTP, path: /, gracePeriodSeconds: 0, intervalSeconds: 10, timeoutSeconds: 2,
                    maxConsecutiveFailures: 0}}]
    heal: {{criticalFor: {grace}, backoff: 0.1, crashLoop: {{heals: 1000, window: 1}}}}
"""


def spec_tree(root: Path, apps: dict[str, int]) -> Path:
    (root / "specs").mkdir()
    body = "".join(APP.format(name=name, instances=n, grace=GRACE) for name, n in apps.items())
    head = "apiVersion: reconciler/v1\nkind: Environment\nname: bench\napps:"
    (root / "specs" / "bench.yaml").write_text(head + body)
    return root / "specs"


class Stack:
    """Sandbox, clients and a running controller; `sent` records when each task kill left."""

    def __init__(self, sandbox: Sandbox, consul_requests: Counter[str]) -> None:
        self.sandbox = sandbox
        self.consul_requests = consul_requests
        self.kills_sent: list[float] = []
        self.controller: Controller | None = None

    def on_marathon(self, method: str, path: str) -> None:
        if method == "POST" and path.startswith("/v2/tasks/delete"):
            self.kills_sent.append(time.monotonic())


@contextlib.asynccontextmanager
async def running_stack(apps: dict[str, int], check_scale: float) -> AsyncIterator[Stack]:
    counts: Counter[str] = Counter()
    config = SandboxConfig(marathon=fast_config(keep_event_history=False, seconds_scale=0.01, agents=10),
                           consul=ConsulSandboxConfig(check_interval_scale=check_scale))
    with tempfile.TemporaryDirectory() as folder:
        specs = spec_tree(Path(folder), apps)
        async with contextlib.AsyncExitStack() as stack:
            sandbox = await stack.enter_async_context(Sandbox(config))
            state = Stack(sandbox, counts)
            marathon = await stack.enter_async_context(
                MarathonClient(sandbox.marathon_url, on_request=state.on_marathon))
            consul = await stack.enter_async_context(ConsulClient(
                str(sandbox.consul_url), on_request=lambda method, path: counts.update([f"{method} {kind_of(path)}"])))
            reconciler = Reconciler(lambda: load_desired(specs), marathon, consul, CycleOptions(plan=PlanOptions()))
            state.controller = Controller(
                reconciler.cycle, ControllerOptions(resync_seconds=5.0),
                sources=(lambda: marathon_events(marathon), lambda: consul_health_changes(consul)),
            )
            loop_task = asyncio.create_task(state.controller.run())
            try:
                yield state
            finally:
                state.controller.stop()
                await asyncio.wait_for(loop_task, 60)


def kind_of(path: str) -> str:
    """`/v1/health/service/web` -> `/v1/health/service/*`: endpoints, not instances."""
    parts = path.split("/")
    return "/".join(parts[:4] + (["*"] if len(parts) > 4 else []))


def critical_checks(sandbox: Sandbox) -> set[str]:
    assert sandbox.consul is not None
    return {c.service_id for c in sandbox.consul.state.catalog.checks.values() if c.status == "critical"}


def passing_instances(sandbox: Sandbox) -> int:
    assert sandbox.consul is not None
    return sum(1 for c in sandbox.consul.state.catalog.checks.values() if c.status == "passing" and c.service_id)


async def heal_latency(rounds: int) -> list[float]:
    delays: list[float] = []
    # Checks every 0.5 s; DeregisterCriticalServiceAfter (60 s) scaled to 3 s stays well past the grace
    # window, so Consul's reaper never removes the critical instance before the heal (that would
    # restart the grace window and measure the race, not the controller).
    async with running_stack({"web": 4}, check_scale=0.05) as stack:
        await until(lambda: passing_instances(stack.sandbox) == 4, "4 passing instances", 60)
        for _ in range(rounds):
            victim = next(t.id for t in stack.sandbox.marathon.state.all_tasks() if t.state == "TASK_RUNNING")
            already = len(stack.kills_sent)
            await stack.sandbox.marathon.set_task_health(victim, False)
            await until(lambda v=victim: v in critical_checks(stack.sandbox), "check critical", 10)
            critical_at = time.monotonic()
            await until(lambda a=already: len(stack.kills_sent) > a, "kill sent", 10)
            delays.append(stack.kills_sent[-1] - critical_at - GRACE)
            await until(lambda: passing_instances(stack.sandbox) == 4, "replacement passing", 30)
    return delays


async def steady_state(tasks: int, seconds: float) -> tuple[Counter[str], float]:
    apps = {f"app-{n:02d}": tasks // 10 for n in range(10)}
    async with running_stack(apps, check_scale=1.0) as stack:
        await until(lambda: passing_instances(stack.sandbox) >= tasks, f"{tasks} passing instances", 120)
        await asyncio.sleep(2.0)  # let the registration burst settle before counting
        stack.consul_requests.clear()
        started = time.monotonic()
        await asyncio.sleep(seconds)  # a fixed measuring window: this is what is being measured
        return Counter(stack.consul_requests), time.monotonic() - started


async def main(tasks: int, seconds: float) -> None:
    delays = await heal_latency(rounds=5)
    print(f"heal reaction after the grace window ({GRACE}s), check critical -> kill sent, 5 rounds:")
    print(f"  median {statistics.median(delays) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms")
    counts, elapsed = await steady_state(tasks, seconds)
    total = sum(counts.values())
    print(f"Consul requests at steady state with {tasks} tasks over {elapsed:.1f}s (resync 5s):")
    print(f"  {total / elapsed * 60:.0f} requests per minute")
    for endpoint, count in counts.most_common():
        print(f"    {endpoint:40s} {count / elapsed * 60:8.1f}/min")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300, float(sys.argv[2]) if len(sys.argv) > 2 else 20))
