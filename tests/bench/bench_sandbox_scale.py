"""Benchmark: a Marathon sandbox holding 2,000 apps x 3 tasks; how fast `GET /v2/apps?embed=apps.tasks`
answers (cold and cached). Prints figures, asserts nothing about time.

    python -m tests.bench.bench_sandbox_scale            # or: pytest -m bench tests/bench -s
"""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx
import pytest

from reconciler.sandbox.marathon import MarathonSandbox, MarathonSandboxConfig

APPS = 2_000
INSTANCES = 3
LIST_ROUNDS = 10


def config() -> MarathonSandboxConfig:
    # Listeners off: 6,000 open sockets measure the OS, not the API.
    return MarathonSandboxConfig(
        agents=10,
        agent_cpus=100,
        agent_mem=100_000,
        start_delay_ms=1,
        health_delay_ms=1,
        task_listeners=False,
        offer_retry_ms=5,
    )


def bodies() -> list[dict[str, object]]:
    return [
        {
            "id": f"/bench/group-{i // 100}/app-{i}",
            "cmd": "serve",
            "cpus": 0.01,
            "mem": 8,
            "instances": INSTANCES,
            "labels": {"team": f"t{i % 7}"},
        }
        for i in range(APPS)
    ]


async def measure() -> dict[str, float]:
    figures: dict[str, float] = {}
    async with MarathonSandbox(config()) as sandbox, httpx.AsyncClient(base_url=sandbox.url, timeout=120) as client:
        began = time.perf_counter()
        response = await client.put("/v2/apps", json=bodies())
        response.raise_for_status()
        figures["bulk PUT of 2,000 apps (s)"] = time.perf_counter() - began
        began = time.perf_counter()
        await sandbox.wait_idle(timeout=300)
        figures["deployment to 6,000 running tasks (s)"] = time.perf_counter() - began
        timings, size = [], 0
        for _ in range(LIST_ROUNDS):
            began = time.perf_counter()
            listing = await client.get("/v2/apps", params={"embed": "apps.tasks"})
            timings.append(time.perf_counter() - began)
            size = len(listing.content)
        apps = listing.json()["apps"]
        assert len(apps) == APPS and sum(len(a["tasks"]) for a in apps) == APPS * INSTANCES
        figures["GET /v2/apps?embed=apps.tasks first (s)"] = timings[0]
        figures["GET /v2/apps?embed=apps.tasks median cached (s)"] = statistics.median(timings[1:])
        figures["response size (MB)"] = size / 1e6
    return figures


def report(figures: dict[str, float]) -> None:
    for name, value in figures.items():
        print(f"{name:50s} {value:8.3f}")


@pytest.mark.slow  # run explicitly: pytest tests/bench/bench_sandbox_scale.py -s
async def test_bench_sandbox_scale() -> None:
    report(await measure())


if __name__ == "__main__":
    report(asyncio.run(measure()))
