"""Benchmark: the figures of the scale issue at N apps, with and without Consul, in the sandbox, and the
same apply side by side with marathon-deploy. Prints figures; asserts nothing about time.

    .venv/bin/python -m tests.bench.bench_scale --sizes 1000,5000,10000 --deploy-size 1000 --size-budget 1800

Every command runs as its own process (`python -m reconciler ...`), and so does the sandbox
(tests/bench/sandbox_process.py), so that each one's wall time, CPU (getrusage of children, /proc for
the controller and the sandbox) and memory are its own; this process only drives and times. Consul
requests are counted by the Consul sandbox (every agent's listener) and asked of its process; Marathon
requests (for the side by side) through a counting proxy on loopback (tests/bench/counting_proxy.py)
that both tools talk to.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import signal
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from reconciler.consul.client import ConsulClient
from reconciler.core.heal import HealMemory
from reconciler.core.plan import PlanOptions
from reconciler.engine.cycle import CycleOptions, Reconciler
from reconciler.engine.observe import observe
from reconciler.engine.planning import Planner
from reconciler.marathon import MarathonClient
from reconciler.spec import load_desired
from reconciler.spec.load import forget_loaded
from tests.bench.counting_proxy import CountingProxy
from tests.bench.sandbox_process import CountingFaults, SandboxProcess, sandbox_config

__all__ = ["PROJECT", "Controller", "CountingFaults", "Figures", "sandbox_config", "write_specs"]

ENVIRONMENTS = 10
PROJECT = Path(__file__).resolve().parents[2]
DEPLOY_TOOL = (
    "import collections, collections.abc; collections.Iterable = collections.abc.Iterable; "
    "from marathon_deploy.deploytool import main; main()"
)
Figures = dict[str, str]


class ShownFigures(dict[str, str]):
    """A column's figures, each printed as it is taken: a column that hangs past its budget keeps them in the log."""

    def __setitem__(self, name: str, value: str) -> None:
        super().__setitem__(name, value)
        print(f"  {name}: {value}", flush=True)


@dataclass
class Run:
    wall: float
    cpu: float
    returncode: int
    out: str = ""
    err: str = ""


def write_specs(root: Path, apps: int) -> Path:
    """`apps` apps of one task each, spread over ENVIRONMENTS environment files."""
    specs = root / "specs"
    specs.mkdir(parents=True)
    per_env = math.ceil(apps / ENVIRONMENTS)
    for env in range(ENVIRONMENTS):
        lines = [f"  app-{n}: {{cmd: serve, instances: 1, cpus: 0.001, mem: 1, ports: [{{name: http}}]}}"
                 for n in range(env * per_env, min(apps, (env + 1) * per_env))]
        if lines:
            text = f"apiVersion: reconciler/v1\nkind: Environment\nname: env-{env}\napps:\n" + "\n".join(lines) + "\n"
            (specs / f"env-{env}.yaml").write_text(text)
    return specs


async def timed(*args: str, stdin: str = "", tool: str | None = None) -> Run:
    """One process: `python -m reconciler ARGS` (or `python -c TOOL ARGS`): wall time and CPU time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    command = ("-c", tool) if tool else ("-m", "reconciler")
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable, *command, *args, cwd=PROJECT, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=dict(os.environ, NO_COLOR="1"),
    )
    out, err = await process.communicate(stdin.encode())
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(wall, cpu, process.returncode or 0, out.decode(), err.decode())


def consul_args(sandbox: SandboxProcess) -> list[str]:
    return ["--consul", str(sandbox.consul_url)] if sandbox.consul_url else []


def no_consul(sandbox: SandboxProcess) -> list[str]:
    return [] if sandbox.consul_url else ["--no-consul"]


async def converge(specs: Path, sandbox: SandboxProcess, rounds: int = 40) -> int:
    """In-process cycles until one plans nothing (every task running and registered); the cycles it took."""
    async with (MarathonClient(sandbox.marathon_url) as marathon,
                ConsulClient(str(sandbox.consul_url)) if sandbox.consul_url else _Nothing() as consul):
        reconciler = Reconciler(lambda: load_desired(specs), marathon, consul, CycleOptions(plan=PlanOptions()))
        for done in range(1, rounds + 1):
            result = await reconciler.cycle("bench")
            if result.plan is not None and result.plan.empty and result.error is None:
                return done
            await asyncio.sleep(0.5)
    raise RuntimeError(f"not converged after {rounds} cycles")


class _Nothing:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


async def breakdown(specs: Path, sandbox: SandboxProcess, figures: Figures) -> None:
    """Load, observe and plan of one idle cycle, timed apart in this process (observe includes waiting for
    the sandbox's answers, from its own process); then the allocations of observe + plan, traced apart."""
    async with (MarathonClient(sandbox.marathon_url) as marathon,
                ConsulClient(str(sandbox.consul_url)) if sandbox.consul_url else _Nothing() as consul):
        warm = await observe(marathon, consul)
        forget_loaded()
        cold_load = await _seconds(lambda: _async(load_desired(specs)))
        load = await _seconds(lambda: _async(load_desired(specs)))
        desired, served = load_desired(specs), await sandbox.served()
        observation = await observe(marathon, consul, warm.catalog)
        figures["Consul requests per idle cycle"] = str(await sandbox.served() - served) if consul else "-"
        observed = await _seconds(lambda: observe(marathon, consul, warm.catalog))
        planner = Planner()  # the controller's: kept across its cycles
        first = await _seconds(lambda: _async(planner.plan(desired, observation, PlanOptions(), HealMemory(), now=0.0)))
        idle_observation = await observe(marathon, consul, warm.catalog)  # new objects, same content
        idle = await _seconds(
            lambda: _async(planner.plan(desired, idle_observation, PlanOptions(), HealMemory(), now=0.0))
        )
        tracemalloc.start()
        planner.plan(desired, await observe(marathon, consul, warm.catalog), PlanOptions(), HealMemory(), now=0.0)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    figures["spec load, first (s)"] = f"{cold_load:.3f}"
    figures["spec load, unchanged tree (s)"] = f"{load:.3f}"
    figures["observe (s)"] = f"{observed:.3f}"
    figures["plan, pure, first (s)"] = f"{first:.3f}"
    figures["plan, pure, idle (s)"] = f"{idle:.3f}"
    figures["spec load share of an idle cycle"] = f"{load / (load + observed + idle):.2f}"
    figures["allocated at peak, observe + plan (MiB)"] = f"{peak / 2**20:.1f}"


async def _seconds(step: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await step()
    return time.perf_counter() - started


@dataclass
class Controller:
    """`reconciler run` as a child process; its log lines (with the time they came) collected."""

    process: asyncio.subprocess.Process
    lines: list[tuple[float, str]] = field(default_factory=list)

    async def drain(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self.lines.append((time.monotonic(), line.decode()))

    def cycle_seconds(self, since: float) -> list[float]:
        return [float(line.split("seconds=")[1].split()[0]) for at, line in self.lines
                if at >= since and "event=cycle-end" in line]

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mib(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]) / 1024


async def until(probe: Callable[[], object], timeout: float) -> float:
    """Seconds until `await probe()` is true (fails after `timeout`)."""
    started = time.monotonic()
    while not await probe():  # type: ignore[misc]
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"not back in shape within {timeout}s")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def controller_figures(
    specs: Path, sandbox: SandboxProcess, figures: Figures, idle_seconds: float, log: Path | None = None
) -> None:
    args = ["--marathon", sandbox.marathon_url, *consul_args(sandbox), "--log-level", "INFO", "run", str(specs),
            "--resync", "10", *no_consul(sandbox)]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reconciler", *args, cwd=PROJECT, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    run = Controller(process)
    print(f"  (controller pid {process.pid}, sandbox pid {sandbox.pid}, at {time.monotonic():.3f})", flush=True)
    drain = asyncio.create_task(run.drain())
    try:
        await until(lambda: _async(bool(run.cycle_seconds(0.0))), 600)
        await checks_settled(sandbox)
        await asyncio.sleep(2)  # the start's cycles settle
        began, cpu, served = time.monotonic(), run.cpu_seconds(), await sandbox.served()
        sandbox_cpu, _, sandbox_gc = await sandbox.usage()
        await asyncio.sleep(idle_seconds)
        elapsed = time.monotonic() - began
        idle_cpu = run.cpu_seconds() - cpu
        figures["idle: Consul req/s"] = (f"{(await sandbox.served() - served) / elapsed:.2f}"
                                         if sandbox.consul_url else "-")
        figures["idle: CPU %"] = f"{100 * idle_cpu / elapsed:.1f}"
        figures["idle: RSS (MiB)"] = f"{run.rss_mib():.0f}"
        sandbox_after, sandbox_rss, sandbox_gc_after = await sandbox.usage()
        figures["idle: sandbox CPU %"] = f"{100 * (sandbox_after - sandbox_cpu) / elapsed:.1f}"
        figures["idle: sandbox garbage collection %"] = f"{100 * (sandbox_gc_after - sandbox_gc) / elapsed:.1f}"
        figures["idle: sandbox RSS (MiB)"] = f"{sandbox_rss:.0f}"
        idle = run.cycle_seconds(began)
        figures["one idle cycle (s, median)"] = f"{statistics.median(idle):.3f}" if idle else "-"
        # The controller's own CPU per idle cycle: the sandbox answering runs in its own process.
        figures["one idle cycle, controller CPU (s)"] = f"{idle_cpu / len(idle):.3f}" if idle else "-"
        back, marathon = await deleted_back(sandbox)
        figures["deleted app back (s)"] = f"{back:.2f}"
        figures["deleted app back, Marathon alone (s)"] = f"{marathon:.2f}"
        back, marathon = await drift_back(sandbox)
        figures["drifted count back (s)"] = f"{back:.2f}"
        figures["drifted count back, Marathon alone (s)"] = f"{marathon:.2f}"
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 120)
        await drain
        if log:
            log.write_text("".join(f"{at:.3f} {line}" for at, line in run.lines))


async def _async(value: object) -> object:
    return value


async def checks_settled(sandbox: SandboxProcess) -> None:
    """Until no check is critical: a check registered last starts critical (Consul's default) and passes
    at its first probe, up to one interval later (agent/checks/check.go staggers the first run), so an
    idle window opened earlier times the controller's cycles on those status changes, not idle ones."""
    if sandbox.consul_url is None:
        return
    async with httpx.AsyncClient(timeout=60) as api:
        async def settled() -> bool:
            return not (await api.get(f"{sandbox.consul_url}/v1/health/state/critical")).json()

        await until(settled, 600)


async def marathon_state(api: httpx.AsyncClient, sandbox: SandboxProcess, env: str, app: str) -> tuple[str, str] | None:
    """(version, task id) when the app runs its one task in Marathon."""
    answer = await api.get(f"{sandbox.marathon_url}/v2/apps/{env}/{app}")
    body = answer.json().get("app", {}) if answer.status_code == 200 else {}
    if not (body.get("instances") == 1 and body.get("tasksRunning") == 1 and body.get("tasks")):
        return None
    return str(body["version"]), str(body["tasks"][0]["id"])


async def registered(api: httpx.AsyncClient, sandbox: SandboxProcess, env: str, app: str, task: str) -> bool:
    """With Consul: the app's one registration is that task's (without Consul: always)."""
    if sandbox.consul_url is None:
        return True
    entries = (await api.get(f"{sandbox.consul_url}/v1/health/service/{app}", params={"tag": env})).json()
    return [e["Service"]["Meta"].get("marathon-task-id") for e in entries] == [task]


async def back_in_shape(
    sandbox: SandboxProcess, app: str, break_it: Callable[[httpx.AsyncClient, str], object]
) -> tuple[float, float]:
    """Seconds from `break_it` until the app runs one registered task again, at another version, and until
    Marathon alone was back in shape (the Marathon side's part, without the registrations')."""
    async with httpx.AsyncClient(timeout=30) as api:
        before = await marathon_state(api, sandbox, "env-0", app)
        assert before is not None and await registered(api, sandbox, "env-0", app, before[1]), \
            f"/env-0/{app} is not in shape before the test"
        started = time.monotonic()
        await break_it(api, f"{sandbox.marathon_url}/v2/apps/env-0/{app}")  # type: ignore[misc]
        marathon_back: list[float] = []

        async def fixed() -> bool:
            now = await marathon_state(api, sandbox, "env-0", app)
            if now is None or now[0] == before[0]:
                return False
            marathon_back[:] = marathon_back or [time.monotonic() - started]
            return await registered(api, sandbox, "env-0", app, now[1])

        await until(fixed, 300)
        print(f"  (/env-0/{app}: broken at {started:.3f} on the monotonic clock)", flush=True)
        return time.monotonic() - started, marathon_back[0]


async def deleted_back(sandbox: SandboxProcess) -> tuple[float, float]:
    return await back_in_shape(sandbox, "app-0", lambda api, url: api.delete(url, params={"force": "true"}))


async def drift_back(sandbox: SandboxProcess) -> tuple[float, float]:
    return await back_in_shape(
        sandbox, "app-1", lambda api, url: api.put(url, params={"force": "true"}, json={"instances": 3})
    )


async def one_size(apps: int, with_consul: bool, idle_seconds: float, figures: Figures, log: Path | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        specs = write_specs(Path(tmp), apps)
        if not with_consul:
            validate = await timed("validate", str(specs))
            figures["validate (s)"] = f"{validate.wall:.2f}"
        async with SandboxProcess(apps, with_consul=with_consul) as sandbox:
            base = ["--marathon", sandbox.marathon_url, *consul_args(sandbox)]
            applied = await timed(*base, "apply", str(specs), *no_consul(sandbox), "--deadline", "1800")
            figures["apply, first (s)"] = f"{applied.wall:.2f}"
            await sandbox.wait_idle()
            await converge(specs, sandbox)
            plans = [await timed(*base, "plan", str(specs), *no_consul(sandbox)) for _ in range(3)]
            figures["plan end to end (s, median of 3)"] = f"{statistics.median(p.wall for p in plans):.2f}"
            figures["plan exit code"] = str(plans[-1].returncode)
            await breakdown(specs, sandbox, figures)
            await controller_figures(specs, sandbox, figures, idle_seconds, log)


async def side_by_side(apps: int) -> dict[str, Figures]:
    """The same rendered apps: marathon-deploy `--put` of a folder vs `reconciler apply`, each through a proxy."""
    results: dict[str, Figures] = {}
    with tempfile.TemporaryDirectory() as tmp:
        specs = write_specs(Path(tmp), apps)
        rendered = await timed("render", str(specs), "--format", "marathon-json")
        folder = Path(tmp) / "rendered"
        folder.mkdir()
        for n, body in enumerate(json.loads(rendered.out)):
            (folder / f"{n:05d}.json").write_text(json.dumps(body))
        for tool in ("marathon-deploy --put", "reconciler apply"):
            async with SandboxProcess(apps, with_consul=False) as sandbox, \
                    CountingProxy(sandbox.marathon_url) as proxy:
                if tool == "reconciler apply":
                    run = await timed("--marathon", proxy.url, "apply", str(specs), "--no-consul", "--deadline", "3600")
                else:
                    run = await timed("-m", proxy.url, "--put", str(folder), stdin="YES\n", tool=DEPLOY_TOOL)
                await sandbox.wait_idle()
                async with httpx.AsyncClient(timeout=60) as api:
                    apps_there = len((await api.get(f"{sandbox.marathon_url}/v2/apps")).json()["apps"])
            results[tool] = {
                "requests": str(proxy.total), "wall (s)": f"{run.wall:.2f}", "client CPU (s)": f"{run.cpu:.2f}",
                "exit code": str(run.returncode), "apps in Marathon after": str(apps_there),
                "busiest request": " ".join(map(str, proxy.requests.most_common(1)[0])) if proxy.total else "-",
            }
    return results


def table(columns: dict[str, Figures]) -> str:
    names = list(dict.fromkeys(name for figures in columns.values() for name in figures))
    lines = ["| Figure | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    lines += [f"| {name} | " + " | ".join(c.get(name, "") for c in columns.values()) + " |" for name in names]
    return "\n".join(lines)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min) on {os.cpu_count()} CPUs"


async def bounded_size(apps: int, with_consul: bool, options: argparse.Namespace) -> Figures:
    """One column within `--size-budget` seconds: past it the column keeps the figures taken so far."""
    figures: Figures = ShownFigures()
    try:
        log = options.controller_logs / f"controller-{apps}-{'on' if with_consul else 'off'}.log" \
            if options.controller_logs else None
        await asyncio.wait_for(one_size(apps, with_consul, options.idle_seconds, figures, log), options.size_budget)
    except TimeoutError:
        figures["stopped"] = f"after {options.size_budget:.0f} s (--size-budget)"
    return figures


async def main(options: argparse.Namespace) -> None:
    print(f"load average at start: {load_average()}", flush=True)
    columns: dict[str, Figures] = {}
    for apps in [int(s) for s in options.sizes.split(",") if s]:
        for with_consul in {"off": (False,), "on": (True,), "both": (False, True)}[options.consul]:
            name = f"{apps:,} apps, Consul {'on' if with_consul else 'off'}"
            columns[name] = await bounded_size(apps, with_consul, options)
            print(f"{name}: {columns[name]} (load average {load_average()})", flush=True)
    if columns:  # `--sizes ""`: the side by side alone
        print(table(columns))
    if options.deploy_size > 0:
        print(f"\napply of {options.deploy_size:,} rendered apps to an empty Marathon, through a counting proxy:")
        print(table(await side_by_side(options.deploy_size)))
    print(f"load average at end: {load_average()}")


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,5000,10000", help="app counts, comma-separated")
    parser.add_argument("--deploy-size", type=int, default=1000, help="apps for the side by side (0: skip)")
    parser.add_argument("--idle-seconds", type=float, default=30.0, help="how long the idle controller is watched")
    parser.add_argument("--consul", choices=("both", "on", "off"), default="both", help="columns with Consul, without")
    parser.add_argument("--size-budget", type=float, default=1800.0, help="seconds one column may take at most")
    parser.add_argument("--controller-logs", type=Path, help="folder for each column's controller log")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(arguments(sys.argv[1:])))
