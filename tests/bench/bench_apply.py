"""Benchmark: apply 1,000 new apps against the Marathon sandbox (figures, not assertions).

Run with `.venv/bin/python -m tests.bench.bench_apply [APPS]` from the project root. Prints the HTTP
requests the reconciler sent (by method and path) and the wall time of observe, plan, the writes and
the wait for the deployments; then a second apply that must send no write.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter

from reconciler.core.model import Desired, DesiredApp, DesiredEnvironment
from reconciler.core.naming import APP_LABEL, ENV_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE
from reconciler.core.plan import build_plan
from reconciler.engine.execute import ExecuteOptions, execute_plan
from reconciler.marathon import MarathonClient, Timeouts
from reconciler.sandbox.marathon import MarathonSandbox, MarathonSandboxConfig

ENVIRONMENTS = 10


def desired_state(count: int) -> Desired:
    apps = {}
    for index in range(count):
        env = f"env-{index % ENVIRONMENTS:02d}"
        name = f"app-{index:05d}"
        app_id = f"/{env}/{name}"
        labels = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, ENV_LABEL: env, APP_LABEL: name}
        definition = {"id": app_id, "cmd": f"serve {index}", "cpus": 0.01, "mem": 16, "instances": 1, "labels": labels}
        apps[app_id] = DesiredApp(app_id=app_id, env=env, name=name, definition=definition, instances=1)
    environments = {
        f"env-{n:02d}": DesiredEnvironment(name=f"env-{n:02d}", group=f"/env-{n:02d}") for n in range(ENVIRONMENTS)
    }
    return Desired(environments=environments, apps=apps, revision="bench")


async def measure(count: int) -> None:
    config = MarathonSandboxConfig(
        agents=10, agent_cpus=64, agent_mem=65536, start_delay_ms=1, health_delay_ms=1, task_listeners=False
    )
    requests: Counter[str] = Counter()
    desired = desired_state(count)
    def record(method: str, path: str) -> None:
        requests.update([f"{method} {path}"])

    timeouts = Timeouts(read=60.0, write=60.0)
    async with MarathonSandbox(config) as sandbox, MarathonClient(
        sandbox.url, timeouts=timeouts, on_request=record
    ) as marathon:
        started = time.perf_counter()
        actual = await marathon.observe()
        observed = time.perf_counter()
        plan = build_plan(desired, actual)
        planned = time.perf_counter()
        execution = await execute_plan(plan, marathon, ExecuteOptions(wait=True, timeout=600, poll_interval=0.1))
        applied = time.perf_counter()
        print(f"apps: {count} in {ENVIRONMENTS} environments; actions: {len(plan.pending)}")
        print(f"observe {observed - started:.3f}s  plan {planned - observed:.3f}s  "
              f"writes+wait {applied - planned:.3f}s  total {applied - started:.3f}s")
        print(f"failed actions: {len(execution.failed)}; deployments: {len(execution.deployment_ids)}")
        _print_requests("requests for the first apply", requests)

        requests.clear()
        again = time.perf_counter()
        second = build_plan(desired, await marathon.observe())
        if not second.empty:
            await execute_plan(second, marathon)
        print(f"second apply: {len(second.pending)} actions, {time.perf_counter() - again:.3f}s")
        _print_requests("requests for the second apply", requests)


def _print_requests(title: str, requests: Counter[str]) -> None:
    writes = sum(n for key, n in requests.items() if not key.startswith("GET"))
    print(f"{title}: {sum(requests.values())} in all, {writes} writes")
    for key, number in sorted(requests.items(), key=lambda item: (-item[1], item[0]))[:8]:
        print(f"  {number:6d}  {key}")


if __name__ == "__main__":
    asyncio.run(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
