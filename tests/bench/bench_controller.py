"""Benchmark: the controller (`reconciler run`) from a git commit to converged, and its cost when idle at
1,000 apps, against the sandbox. Prints figures; asserts nothing about time.

    .venv/bin/python -m tests.bench.bench_controller --runs 5 --poll-interval 2 --apps 1000 --idle-seconds 60

1. Latency. A real git repository in a temp dir (a bare `origin`, followed through its file:// URL), the
   controller as its own process, the Marathon sandbox in this one. Each run commits a new `cmd` for one
   app of 3 instances and pushes; the clock starts when the push returns and stops when /status names
   the commit synced, and when Marathon runs the app's instances of the new definition with no
   deployment left (converged). With the webhook (`--poll-interval 3600` and a signed `POST /hooks/git`
   sent right after the push, as a git server does) and with polling only (`--poll-interval`, +-20%;
   each commit waits a random part of the interval first, so it lands anywhere in the poll period).
2. Idle. `--apps` apps of one task (bench_scale's tree) with Consul, the controller with its defaults
   (resync 30 s, leader election through Consul); once a cycle plans nothing and `--settle-seconds`
   more have passed (the new checks' first results), `--idle-seconds` of it:
   requests per second to Marathon (through tests/bench/counting_proxy.py, the event stream counted
   once) and to Consul (counted by the Consul sandbox), CPU share (its process's CPU time over wall
   time, /proc) and resident memory (VmRSS).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from reconciler.sandbox.stack import Sandbox, SandboxConfig
from reconciler.web.signature import sign
from tests.bench.bench_scale import Controller, CountingFaults, Figures, sandbox_config, write_specs
from tests.bench.counting_proxy import CountingProxy
from tests.e2e.gitrepo import Repo
from tests.sandbox.marathon.fixtures import fast_config

PROJECT = Path(__file__).resolve().parents[2]
SECRET = "bench-webhook-secret"
SPEC = """apiVersion: reconciler/v1
kind: Environment
name: bench
apps:
  web: {{cmd: serve {mark}, instances: 3, cpus: 0.01, mem: 4, ports: [{{name: http}}]}}
"""


async def until(probe: Callable[[], Awaitable[bool]], what: str, timeout: float, every: float = 0.02) -> float:
    """Seconds until `probe()` is true; fails naming `what` after `timeout`."""
    started = time.monotonic()
    while not await probe():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what}: not within {timeout}s")
        await asyncio.sleep(every)
    return time.monotonic() - started


async def _drain(stream: asyncio.StreamReader | None, lines: list[str]) -> None:
    while stream is not None and (line := await stream.readline()):
        lines.append(line.decode())


@asynccontextmanager
async def controller(args: list[str], root: Path) -> AsyncIterator[str]:
    """`python -m reconciler ARGS` until the block ends (SIGTERM); yields its HTTP server's URL."""
    env = dict(os.environ, NO_COLOR="1", TERM="dumb", XDG_CACHE_HOME=str(root / "cache"))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reconciler", *args, "--listen", "127.0.0.1:0", "--database", str(root / "history.db"),
        cwd=PROJECT, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out: list[str] = []
    drains = [asyncio.create_task(_drain(process.stdout, out)), asyncio.create_task(_drain(process.stderr, []))]
    try:
        async def serving() -> bool:
            return any("POST /hooks/git on http://" in line for line in out) or process.returncode is not None

        await until(serving, "the controller serving", 120, every=0.1)
        found = next((re.search(r"on (http://127\.0\.0\.1:\d+)", line) for line in out if "/hooks/git" in line), None)
        if found is None:
            raise RuntimeError("the controller ended:\n" + "".join(out))
        yield found.group(1)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 120)
        await asyncio.gather(*drains)


def converged(http: httpx.AsyncClient, marathon: str, mark: str) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        answer = await http.get(f"{marathon}/v2/apps/bench/web")
        if answer.status_code != 200:
            return False
        app = answer.json()["app"]
        return bool(app["cmd"].endswith(mark) and not app["deployments"] and app["tasksRunning"] == app["instances"])

    return probe


def synced(http: httpx.AsyncClient, server: str, sha: str) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        environments = (await http.get(f"{server}/status")).json()["environments"]
        return bool(environments.get("bench", {}).get("synced_revision") == sha)

    return probe


async def latency(webhook: bool, runs: int, poll_seconds: float) -> list[tuple[float, float]]:
    """(commit to synced, commit to converged) of each run."""
    taken: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-controller-") as folder:
        root = Path(folder)
        (root / "secret").write_text(SECRET + "\n")
        repo = Repo(root / "repo")
        repo.commit({"specs/bench.yaml": SPEC.format(mark="v0")}, "v0")
        config = SandboxConfig(marathon=fast_config(keep_event_history=False, seconds_scale=0.01))
        async with Sandbox(config) as sandbox, httpx.AsyncClient(timeout=10) as http:
            poll = "3600" if webhook else str(poll_seconds)
            args = ["--marathon", sandbox.marathon_url, "--log-level", "WARNING", "run", "--source", repo.url,
                    "--path", "specs", "--no-consul", "--poll-interval", poll, "--webhook-secret-file",
                    str(root / "secret")]
            async with controller(args, root) as server:
                await until(converged(http, sandbox.marathon_url, "v0"), "the first commit converged", 120)
                for run in range(1, runs + 1):
                    mark = f"v{run}"
                    if not webhook:  # a commit lands at any moment of the poll period, not just after a fetch
                        await asyncio.sleep(random.uniform(0, poll_seconds))
                    sha = await asyncio.to_thread(repo.commit, {"specs/bench.yaml": SPEC.format(mark=mark)}, mark)
                    started = time.monotonic()
                    if webhook:
                        body = b'{"ref": "refs/heads/main"}'
                        pushed = await http.post(f"{server}/hooks/git", content=body,
                                                 headers={"X-Hub-Signature-256": sign(SECRET.encode(), body)})
                        assert pushed.status_code == 202, pushed.text
                    await until(synced(http, server, sha), f"{mark} synced", 120)
                    to_synced = time.monotonic() - started
                    await until(converged(http, sandbox.marathon_url, mark), f"{mark} converged", 120)
                    taken.append((to_synced, time.monotonic() - started))
    return taken


def latency_figures(name: str, taken: list[tuple[float, float]]) -> Figures:
    to_synced, to_converged = [t[0] for t in taken], [t[1] for t in taken]
    return {
        f"{name}: commit to synced (s, median)": f"{statistics.median(to_synced):.2f}",
        f"{name}: commit to converged (s, median)": f"{statistics.median(to_converged):.2f}",
        f"{name}: commit to converged (s, min-max)": f"{min(to_converged):.2f}-{max(to_converged):.2f}",
    }


async def idle(apps: int, idle_seconds: float, settle_seconds: float) -> Figures:
    with tempfile.TemporaryDirectory(prefix="bench-controller-") as folder:
        root = Path(folder)
        specs = write_specs(root, apps)
        async with Sandbox(sandbox_config(apps, with_consul=True)) as sandbox, \
                CountingProxy(sandbox.marathon_url) as proxy:
            args = ["--marathon", proxy.url, "--consul", str(sandbox.consul_url), "--log-level", "INFO", "run",
                    str(specs), "--listen", "127.0.0.1:0", "--database", str(root / "history.db")]
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "reconciler", *args, cwd=PROJECT, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
                env=dict(os.environ, NO_COLOR="1"),
            )
            run = Controller(process)
            drain = asyncio.create_task(run.drain())
            try:
                async def idle_cycle() -> bool:
                    return any("event=cycle-end actions=0 " in line for _, line in run.lines)

                started = time.monotonic()
                await until(idle_cycle, "a cycle with nothing to do", 1800, every=0.5)
                converge = time.monotonic() - started
                # New registrations' checks start critical and pass at their first run (every 30 s in this
                # sandbox): the window starts after that, or it would count the start's tail as idle.
                await asyncio.sleep(settle_seconds)
                began, cpu = time.monotonic(), run.cpu_seconds()
                marathon, consul = proxy.total, CountingFaults.served
                before = dict(proxy.requests)
                await asyncio.sleep(idle_seconds)
                elapsed = time.monotonic() - began
                used = run.cpu_seconds() - cpu
                rss = run.rss_mib()
                cycles = len(run.cycle_seconds(began))
                triggers = Counter(line.split("trigger=")[1].split()[0] for at, line in run.lines
                                   if at >= began and "event=cycle-start" in line)
                busiest = {k: v - before.get(k, 0) for k, v in proxy.requests.items() if v > before.get(k, 0)}
            finally:
                process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(process.wait(), 120)
                await drain
    return {
        f"idle at {apps} apps: start to a cycle with nothing to do (s)": f"{converge:.1f}",
        f"idle at {apps} apps: window (s)": f"{elapsed:.0f}",
        f"idle at {apps} apps: cycles in the window": str(cycles),
        f"idle at {apps} apps: cycles by trigger": ", ".join(f"{k} {v}" for k, v in sorted(triggers.items())),
        f"idle at {apps} apps: Marathon req/s": f"{(proxy.total - marathon) / elapsed:.2f}",
        f"idle at {apps} apps: Marathon requests by kind": ", ".join(f"{k} {v}" for k, v in sorted(busiest.items())),
        f"idle at {apps} apps: Consul req/s": f"{(CountingFaults.served - consul) / elapsed:.2f}",
        f"idle at {apps} apps: CPU share (%)": f"{100 * used / elapsed:.1f}",
        f"idle at {apps} apps: RSS (MiB)": f"{rss:.0f}",
    }


async def main(options: argparse.Namespace) -> None:
    print(f"load average at the start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    figures: Figures = {}
    if options.runs:
        figures |= latency_figures("webhook", await latency(True, options.runs, options.poll_interval))
        print(figures, flush=True)
        polling = await latency(False, options.runs, options.poll_interval)
        figures |= latency_figures(f"polling every {options.poll_interval:g}s", polling)
        print(figures, flush=True)
    if options.apps:
        figures |= await idle(options.apps, options.idle_seconds, options.settle_seconds)
    print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print("| Figure | Value |\n|---|---|")
    for name, value in figures.items():
        print(f"| {name} | {value} |")


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="commits per mode (0: no latency figures)")
    parser.add_argument("--poll-interval", type=float, default=2.0, help="the polling mode's --poll-interval")
    parser.add_argument("--apps", type=int, default=1000, help="apps of the idle figures (0: none)")
    parser.add_argument("--idle-seconds", type=float, default=60.0, help="how long the idle controller is watched")
    parser.add_argument("--settle-seconds", type=float, default=40.0,
                        help="wait after the first cycle with nothing to do, before the idle window")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(arguments(sys.argv[1:])))
