"""Benchmark: the controller's own cost of one cycle at N apps with Consul, against recorded answers.

    flock /work/wt/bench.lock .venv/bin/python -m tests.bench.bench_cycle record --apps 10000
    .venv/bin/python -m tests.bench.bench_cycle measure --apps 10000

`record` builds the state once in the sandbox (bench_scale's specs and sandbox settings: apply, then
cycles until nothing is planned and no check is critical) and keeps every answer one observation
gets, headers (X-Consul-Index) included, in /tmp/bench-cycle-<N>/. `measure` serves those answers from
a static loopback server in another process (tests/bench/recorded_http.py), so the figures are this
process's alone: spec load, observe and plan (first and idle), their CPU time, the tracemalloc peak,
the RSS of a process holding an observation and a plan, and `reconciler plan` end to end. Last, a
fresh process times the phases of that command one by one (tests/bench/cold_plan.py): the cold figures
that nothing remembered from an earlier cycle helps.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

from reconciler.consul.client import ConsulClient
from reconciler.core.heal import HealMemory
from reconciler.core.plan import PlanOptions
from reconciler.engine.observe import Observation, observe
from reconciler.engine.planning import Planner
from reconciler.marathon import MarathonClient
from reconciler.spec import load_desired
from reconciler.spec.load import forget_loaded
from tests.bench.bench_scale import (
    checks_settled,
    converge,
    load_average,
    timed,
    write_specs,
)
from tests.bench.recorded_http import RecordingProxy, save_recording
from tests.bench.sandbox_process import SandboxProcess

PROJECT = Path(__file__).resolve().parents[2]
COLD_PLAN = "import runpy; runpy.run_module('tests.bench.cold_plan', run_name='__main__')"  # a fresh process


def folder_of(apps: int) -> Path:
    return Path(tempfile.gettempdir()) / f"bench-cycle-{apps}"


async def record(apps: int) -> None:
    """The sandbox at `apps` apps with Consul, converged; every answer of two observations kept."""
    folder = folder_of(apps)
    specs = write_specs(folder, apps)
    async with SandboxProcess(apps, with_consul=True) as sandbox:  # its own process, as in bench_scale
        base = ["--marathon", sandbox.marathon_url, "--consul", str(sandbox.consul_url)]
        applied = await timed(*base, "apply", str(specs), "--deadline", "1800")
        print(f"apply: {applied.wall:.1f} s, exit {applied.returncode}", flush=True)
        await sandbox.wait_idle()
        print(f"converged in {await converge(specs, sandbox)} cycles", flush=True)
        await checks_settled(sandbox)
        async with AsyncExitStack() as stack:
            marathon_proxy = await stack.enter_async_context(RecordingProxy(sandbox.marathon_url))
            consul_proxy = await stack.enter_async_context(RecordingProxy(str(sandbox.consul_url)))
            marathon = await stack.enter_async_context(MarathonClient(marathon_proxy.url))
            consul = await stack.enter_async_context(ConsulClient(consul_proxy.url))
            first = await observe(marathon, consul)
            await observe(marathon, consul, first.catalog)
            await plan_end_to_end(specs, marathon_proxy.url, consul_proxy.url)
    save_recording(folder / "marathon", marathon_proxy.answers)
    save_recording(folder / "consul", consul_proxy.answers)
    print(f"recorded {len(marathon_proxy.answers)} Marathon and {len(consul_proxy.answers)} Consul answers"
          f" in {folder}", flush=True)


async def plan_end_to_end(specs: Path, marathon_url: str, consul_url: str) -> tuple[float, float, int]:
    """`reconciler plan` as its own process: wall, CPU, exit code."""
    run = await timed("--marathon", marathon_url, "--consul", consul_url, "plan", str(specs))
    if run.returncode not in (0, 2):
        print(run.err[-2000:], file=sys.stderr)
    return run.wall, run.cpu, run.returncode


class Static:
    """The static server of one recording, in its own process."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.url = ""
        self._process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Static:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.bench.recorded_http", str(self.folder), cwd=PROJECT,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self._process.stdout is not None
        port = int((await asyncio.wait_for(self._process.stdout.readline(), 120)).decode())
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.kill()
            await self._process.wait()


async def observed_recording(apps: int) -> Observation:
    """One observation of the recording at `apps` apps, each side served by a Static process of its own."""
    async with AsyncExitStack() as stack:
        marathon_server = await stack.enter_async_context(Static(folder_of(apps) / "marathon"))
        consul_server = await stack.enter_async_context(Static(folder_of(apps) / "consul"))
        marathon = await stack.enter_async_context(MarathonClient(marathon_server.url))
        consul = await stack.enter_async_context(ConsulClient(consul_server.url))
        return await observe(marathon, consul)


async def clocked(step: Callable[[], Awaitable[Any]]) -> tuple[Any, float, float]:
    """The step's result, its wall time and this process's CPU time over it."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = await step()
    return result, time.perf_counter() - wall, time.process_time() - cpu


async def _now(value: Any) -> Any:
    return value


def rss_mib() -> float:
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]) / 1024


def show(figures: dict[str, str], name: str, wall: float, cpu: float | None = None) -> None:
    figures[name] = f"{wall:.3f}" + (f" (CPU {cpu:.3f})" if cpu is not None else "")
    print(f"  {name}: {figures[name]}", flush=True)


async def measure(apps: int, rounds: int) -> dict[str, str]:
    folder, figures = folder_of(apps), dict[str, str]()
    specs = folder / "specs"
    async with AsyncExitStack() as stack:
        marathon_server = await stack.enter_async_context(Static(folder / "marathon"))
        consul_server = await stack.enter_async_context(Static(folder / "consul"))
        marathon = await stack.enter_async_context(MarathonClient(marathon_server.url))
        consul = await stack.enter_async_context(ConsulClient(consul_server.url))
        forget_loaded()
        desired, wall, cpu = await clocked(lambda: _now(load_desired(specs)))
        show(figures, "spec load, first (s)", wall, cpu)
        _, wall, cpu = await clocked(lambda: _now(load_desired(specs)))
        show(figures, "spec load, unchanged tree (s)", wall, cpu)
        planner = Planner()  # the controller's: kept across its cycles
        observation, wall, cpu = await clocked(lambda: observe(marathon, consul))
        show(figures, "observe, first (s)", wall, cpu)
        memory = HealMemory()
        planned, wall, cpu = await clocked(lambda: _now(planner.plan(desired, observation, PlanOptions(), memory, 0.0)))
        show(figures, "plan, first (s)", wall, cpu)
        figures["actions planned"] = str(len(planned.plan.actions))
        print(f"  actions planned: {figures['actions planned']}", flush=True)
        idle: list[tuple[float, float, float, float]] = []
        for _ in range(rounds):
            observation, planned = await idle_cycle(specs, marathon, consul, observation, planned.memory, idle, planner)
        for n, name in enumerate(("observe, idle", "plan, idle", "observe + plan, idle")):
            walls = [r[2 * n] if n < 2 else r[0] + r[2] for r in idle]
            cpus = [r[2 * n + 1] if n < 2 else r[1] + r[3] for r in idle]
            show(figures, f"{name} (s, median of {rounds})", statistics.median(walls), statistics.median(cpus))
        changed = [await one_change(desired, marathon, consul, observation, planned.memory, planner)
                   for _ in range(rounds)]
        for n, name in enumerate(("observe, one change", "plan, one change", "observe + plan, one change")):
            walls = [c[2 * n] if n < 2 else c[0] + c[2] for c in changed]
            cpus = [c[2 * n + 1] if n < 2 else c[1] + c[3] for c in changed]
            show(figures, f"{name} (s, median of {rounds})", statistics.median(walls), statistics.median(cpus))
        gc.collect()
        figures["RSS holding one observation + plan (MiB)"] = f"{rss_mib():.0f}"
        tracemalloc.start()
        peak_observation = await observe(marathon, consul, observation.catalog)
        planner.plan(desired, peak_observation, PlanOptions(), planned.memory, 0.0)
        figures["allocated at peak, idle observe + plan (MiB)"] = f"{tracemalloc.get_traced_memory()[1] / 2**20:.1f}"
        tracemalloc.stop()
        del peak_observation
        ends = [await plan_end_to_end(specs, marathon_server.url, consul_server.url) for _ in range(3)]
        show(figures, "reconciler plan end to end (s, median of 3)", statistics.median(e[0] for e in ends),
             statistics.median(e[1] for e in ends))
        figures["reconciler plan exit code"] = str(ends[-1][2])
        await cold_phases(figures, specs, marathon_server.url, consul_server.url)
    figures["max RSS of this process (MiB)"] = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}"
    return figures


async def cold_phases(figures: dict[str, str], specs: Path, marathon_url: str, consul_url: str) -> None:
    """`reconciler plan`'s phases, each timed inside a fresh process (tests/bench/cold_plan.py), 3 runs."""
    runs = []
    for _ in range(3):
        run = await timed(str(specs), marathon_url, consul_url, tool=COLD_PLAN)
        if run.returncode != 0:
            raise RuntimeError(f"cold_plan failed: {run.err[-2000:]}")
        runs.append(json.loads(run.out))
    for phase in ("import", "spec load", "observe", "plan"):
        show(figures, f"cold process: {phase} (s, median of 3)", statistics.median(r[phase][0] for r in runs),
             statistics.median(r[phase][1] for r in runs))
    both = [r["observe"][0] + r["plan"][0] for r in runs]
    show(figures, "cold process: observe + plan (s, median of 3)", statistics.median(both))


async def one_change(
    desired: Any, marathon: MarathonClient, consul: ConsulClient, previous: Observation, memory: HealMemory,
    planner: Planner,
) -> tuple[float, float, float, float]:
    """A cycle after one app or check changed, as near as recorded answers allow: Marathon's answer is
    parsed again (its digest forgotten; each app's fingerprint still matches but one), every check decoded
    and restated (the snapshot's checks index forgotten), and everything planned again (the plan memo
    cleared; the per-app comparisons and Consul decisions still hold). Observe's and plan's wall and CPU."""
    marathon._apps._answer = None
    planner.plans.clear()
    catalog = replace(previous.catalog, checks_index=0) if previous.catalog else None
    observation, o_wall, o_cpu = await clocked(lambda: observe(marathon, consul, catalog))
    _, p_wall, p_cpu = await clocked(lambda: _now(planner.plan(desired, observation, PlanOptions(), memory, 0.0)))
    return o_wall, o_cpu, p_wall, p_cpu


async def idle_cycle(
    specs: Path, marathon: MarathonClient, consul: ConsulClient, previous: Observation, memory: HealMemory,
    into: list[tuple[float, float, float, float]], planner: Planner,
) -> tuple[Observation, Any]:
    """One idle cycle's observe and plan (the spec load is not counted: an unchanged tree costs ~nothing)."""
    desired = load_desired(specs)
    observation, o_wall, o_cpu = await clocked(lambda: observe(marathon, consul, previous.catalog))
    planned, p_wall, p_cpu = await clocked(
        lambda: _now(planner.plan(desired, observation, PlanOptions(), memory, 0.0))
    )
    into.append((o_wall, o_cpu, p_wall, p_cpu))
    return observation, planned


async def main(options: argparse.Namespace) -> None:
    print(f"load average at start: {load_average()}", flush=True)
    if options.command == "record":
        await record(options.apps)
    else:
        figures = await measure(options.apps, options.rounds)
        print(f"\n{options.apps:,} apps with Consul, recorded answers served from another process:")
        for name, value in figures.items():
            print(f"| {name} | {value} |")
    print(f"load average at end: {load_average()}", flush=True)


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("command", choices=("record", "measure"))
    parser.add_argument("--apps", type=int, default=10000, help="app count (one task each, 10 environments)")
    parser.add_argument("--rounds", type=int, default=5, help="idle cycles timed (median)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(arguments(sys.argv[1:])))
