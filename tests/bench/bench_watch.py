"""Benchmark: the CPU of the controller's watches per wake-up, against a 10,000-app recording.

    flock /work/wt/bench.lock .venv/bin/python -m tests.bench.bench_watch /tmp/bench-cycle-10000 [ROUNDS]

Health watch: one read of `/v1/health/state/any` (the recording's answer of every check, served by
httpx's MockTransport: only the client's work is counted) and its fingerprint, through the models
(`get_health_state`, what the watch read before) and through `get_watched_checks` (what it reads now).
Marathon: one heavy `deployment_success` frame (Marathon <= 1.6: the plan's original and target groups
hold every app of the recording) turned into the full event (`to_event`) and into what the controller
reads of it (the event type). Prints process CPU (every thread) and wall medians, with the load average.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from reconciler.consul.blocking import BlockingState
from reconciler.consul.client import ConsulClient
from reconciler.consul.translate import watched_checks
from reconciler.core.registry import MANAGED_TAG
from reconciler.marathon import sse

# What Marathon embeds in /v2/apps and not in a group's apps.
_EMBEDDED = ("tasks", "deployments", "tasksStaged", "tasksRunning", "tasksHealthy", "tasksUnhealthy", "lastTaskFailure")


def recorded_body(folder: Path, request: str) -> bytes:
    index = json.loads((folder / "index.json").read_text())
    return (folder / f"{list(index).index(request):05d}.body").read_bytes()


def heavy_event(apps_body: bytes) -> str:
    """A `deployment_success` event as Marathon <= 1.6 writes it, its groups holding every app."""
    apps = [{k: v for k, v in app.items() if k not in _EMBEDDED} for app in json.loads(apps_body)["apps"]]
    groups: dict[str, list[Any]] = {}
    for app in apps:
        groups.setdefault(app["id"].rsplit("/", 1)[0] or "/", []).append(app)
    root = {"id": "/", "apps": [], "groups": [{"id": g, "apps": a, "groups": []} for g, a in groups.items()]}
    step = {"actions": [{"type": "ScaleApplication", "app": apps[0]["id"]}]}
    plan = {"id": "d-1", "version": "2026-12-07T12:00:00.000Z", "original": root, "target": root, "steps": [step]}
    event = {"plan": plan, "currentStep": step, "eventType": "deployment_success", "timestamp": "2026-12-07T12:00:01Z"}
    return json.dumps(event, separators=(",", ":"))


async def measured(step: Callable[[], Awaitable[Any]], repeat: int = 3) -> tuple[float, float]:
    """The CPU and wall time of `step`, the least of `repeat` runs (the first warms the client up)."""
    runs = []
    for _ in range(repeat):
        cpu, wall = time.process_time(), time.perf_counter()
        await step()
        runs.append((time.process_time() - cpu, time.perf_counter() - wall))
    return min(runs)


def consul_client(checks: bytes) -> ConsulClient:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=checks, headers={"X-Consul-Index": "40029"})

    return ConsulClient("http://consul.test:8500", transport=httpx.MockTransport(answer))


async def one_round(checks: bytes, frame: sse.Frame) -> dict[str, tuple[float, float]]:
    async with consul_client(checks) as consul:
        async def by_models() -> Any:
            found, _ = await consul.get_health_state("any", block=BlockingState(index=1))
            return frozenset(watched_checks(found, MANAGED_TAG))

        async def plain() -> Any:
            return await consul.get_watched_checks(MANAGED_TAG, block=BlockingState(index=1))

        async def timed_out() -> Any:
            return await consul.get_watched_checks(MANAGED_TAG, block=BlockingState(index=40029))

        async def full_event() -> Any:
            return sse.to_event(frame)

        async def event_type() -> Any:
            return await sse.event_type_of(frame)

        return {
            "health watch wake-up, models (before)": await measured(by_models),
            "health watch wake-up, plain (now)": await measured(plain),
            "health watch wake-up, timed out (now)": await measured(timed_out),
            "heavy event, full parse (before)": await measured(full_event),
            "heavy event, type only (now)": await measured(event_type),
        }


def main(recording: Path, rounds: int) -> None:
    gc.disable()  # as the CLI runs
    checks = recorded_body(recording / "consul", "GET /v1/health/state/any")
    embed = "embed=apps.tasks&embed=apps.counts&embed=apps.deployments"
    apps = recorded_body(recording / "marathon", f"GET /v2/apps?{embed}")
    frame = sse.Frame("deployment_success", heavy_event(apps))
    print(f"{len(json.loads(checks))} checks ({len(checks) / 1e6:.1f} MB); heavy frame {len(frame.data) / 1e6:.1f} MB")
    runs = [asyncio.run(one_round(checks, frame)) for _ in range(rounds)]
    print(f"load average {os.getloadavg()[0]:.2f}; medians of {rounds} rounds")
    for name in runs[0]:
        cpu = statistics.median(run[name][0] for run in runs)
        wall = statistics.median(run[name][1] for run in runs)
        print(f"  {name}: CPU {cpu * 1000:.0f} ms, wall {wall * 1000:.0f} ms")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 5)
