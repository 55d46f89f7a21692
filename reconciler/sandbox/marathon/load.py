"""Simulated task load (sandbox layer): CPU (cores), memory (MiB) and a request rate per app or per
task, set through the fault API as constant values or as a profile over time.

Cumulative counters (CPU seconds, requests served) integrate the load over the sandbox's monotonic
time, as a Mesos agent's cgroup counters and a task's own request counter do: a reader sees them grow
at the rate the load sets, and the rate between two readings is the load in between.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from reconciler.sandbox.runtime import Usage

USER_SHARE = 0.8  # the part of simulated CPU time reported as user time; the rest is system time


@dataclass(frozen=True)
class LoadStep:
    """From `after` seconds past the moment the load was set: these values, until the next step."""

    after: float
    cpu: float = 0.0
    mem: float = 0.0
    requests: float = 0.0

    def to_json(self) -> dict[str, float]:
        return {"after": self.after, "cpu": self.cpu, "mem": self.mem, "requests": self.requests}


IDLE = LoadStep(0.0)


@dataclass(frozen=True)
class Load:
    """A step function of time; before its first step the task is idle."""

    steps: tuple[LoadStep, ...]
    since: float

    def at(self, now: float) -> LoadStep:
        index = bisect.bisect_right([s.after for s in self.steps], now - self.since) - 1
        return self.steps[index] if index >= 0 else IDLE

    def integral(self, start: float, end: float, value: Callable[[LoadStep], float]) -> float:
        """The integral of `value` over [start, end] (monotonic seconds)."""
        total = 0.0
        bounds = [*(self.since + s.after for s in self.steps), float("inf")]
        for step, low, high in zip(self.steps, bounds, bounds[1:], strict=False):
            overlap = min(end, high) - max(start, low)
            if overlap > 0:
                total += overlap * value(step)
        return total


@dataclass
class Counters:
    """One task's cumulative counters, advanced up to `at` (monotonic seconds)."""

    at: float
    cpu_seconds: float = 0.0
    requests: float = 0.0


@dataclass
class LoadModel:
    """Loads by app id and by task id (a task's own load wins over its app's), and every task's counters."""

    app_loads: dict[str, Load] = field(default_factory=dict)
    task_loads: dict[str, Load] = field(default_factory=dict)
    counters: dict[str, Counters] = field(default_factory=dict)

    def load_of(self, task_id: str, app_id: str) -> Load | None:
        return self.task_loads.get(task_id) or self.app_loads.get(app_id)

    def advance(self, task_id: str, app_id: str, started: float, now: float) -> Counters:
        """The task's counters brought up to `now` under the load that held since they were last read."""
        counters = self.counters.setdefault(task_id, Counters(at=started))
        load = self.load_of(task_id, app_id)
        if load is not None and now > counters.at:
            counters.cpu_seconds += load.integral(counters.at, now, lambda s: s.cpu)
            counters.requests += load.integral(counters.at, now, lambda s: s.requests)
        counters.at = max(counters.at, now)
        return counters

    def usage(self, task_id: str, app_id: str, started: float, now: float) -> Usage:
        counters = self.advance(task_id, app_id, started, now)
        load = self.load_of(task_id, app_id)
        mem = load.at(now).mem if load is not None else 0.0
        user = counters.cpu_seconds * USER_SHARE
        return Usage(user, counters.cpu_seconds - user, mem, counters.requests)

    def set(
        self, key: str, *, app: bool, load: Load | None, now: float, running: Iterable[tuple[str, str, float]]
    ) -> None:
        """Change an app's (or a task's) load at `now` (None: idle); the running tasks' counters first
        take the old load up to that moment. `running`: (task id, app id, started) of the tasks it concerns."""
        for task_id, app_id, started in running:
            self.advance(task_id, app_id, started, now)
        loads = self.app_loads if app else self.task_loads
        if load is None:
            loads.pop(key, None)
        else:
            loads[key] = load

    def forget(self, task_id: str) -> None:
        self.counters.pop(task_id, None)
        self.task_loads.pop(task_id, None)

    def to_json(self) -> dict[str, Any]:
        def shown(loads: dict[str, Load]) -> dict[str, list[dict[str, float]]]:
            return {key: [step.to_json() for step in load.steps] for key, load in sorted(loads.items())}

        return {"apps": shown(self.app_loads), "tasks": shown(self.task_loads)}


def exposition(usage: Usage) -> str:
    """A task's `/metrics` in the Prometheus text format (version 0.0.4)."""
    return (
        "# HELP requests_total Requests the task served (simulated through the sandbox's load).\n"
        "# TYPE requests_total counter\n"
        f"requests_total {usage.requests_total:.3f}\n"
        "# HELP process_resident_memory_bytes Resident memory (simulated).\n"
        "# TYPE process_resident_memory_bytes gauge\n"
        f"process_resident_memory_bytes {round(usage.mem_mib * 1024 * 1024)}\n"
    )
