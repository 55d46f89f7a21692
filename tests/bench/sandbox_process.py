"""The scale benchmarks' sandbox in a process of its own (benchmarks only), so that the process that drives
and times pays none of the sandbox's heap, probes and answers.

    python -m tests.bench.sandbox_process --apps 10000 --consul

prints one JSON line with the URLs and then answers one line per command read on its standard input:
`served` (Consul requests served so far), `idle` (once Marathon has no deployment and no pending launch),
`usage` (its own CPU seconds and RSS). It stops at the end of its input or on SIGTERM. `SandboxProcess`
is the driving side: `async with SandboxProcess(apps, with_consul=True) as sandbox:`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import resource
import signal
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from reconciler.sandbox.consul import ConsulSandboxConfig
from reconciler.sandbox.consul.faults import HttpFaults
from reconciler.sandbox.marathon import MarathonSandboxConfig
from reconciler.sandbox.stack import Sandbox, SandboxConfig

PROJECT = Path(__file__).resolve().parents[2]
IDLE_TIMEOUT = 1800.0


class CountingFaults(HttpFaults):
    """The Consul sandbox asks its faults about every request it serves: count them there."""

    served = 0

    def should_fail(self) -> bool:
        CountingFaults.served += 1
        return super().should_fail()


def sandbox_config(apps: int, *, with_consul: bool) -> SandboxConfig:
    marathon = MarathonSandboxConfig(
        agents=max(3, math.ceil(apps / 800)), agent_cpus=1000.0, agent_mem=1e6, start_delay_ms=5,
        health_delay_ms=5, offer_retry_ms=5, seconds_scale=0.01,
    )
    # Checks every 30 s instead of 10 s: at 10,000 instances the sandbox's probes would be the load.
    consul = ConsulSandboxConfig(check_interval_scale=3.0, faults=CountingFaults()) if with_consul else None
    return SandboxConfig(marathon=marathon, consul=consul)


# -- the sandbox's side ----------------------------------------------------------------------------


async def answer(sandbox: Sandbox, command: str) -> object:
    if command == "served":
        return CountingFaults.served
    if command == "idle":
        await sandbox.marathon.wait_idle(timeout=IDLE_TIMEOUT)
        return True
    if command == "usage":
        used = resource.getrusage(resource.RUSAGE_SELF)
        return {"cpu": used.ru_utime + used.ru_stime, "rss_mib": rss_mib(os.getpid()), "gc": COLLECTOR.seconds}
    return {"error": f"unknown command {command!r}"}


class CollectorClock:
    """Seconds the cyclic garbage collector ran, by generation (gc.callbacks), in the sandbox's process."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self._started = 0.0
        gc.callbacks.append(self._tick)

    def _tick(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self._started


COLLECTOR = CollectorClock()


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]) / 1024


async def serve(apps: int, with_consul: bool) -> None:
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stopped.set)
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    async with Sandbox(sandbox_config(apps, with_consul=with_consul)) as sandbox:
        print(json.dumps({"marathon": sandbox.marathon_url, "consul": sandbox.consul_url}), flush=True)
        stop = asyncio.create_task(stopped.wait())
        while True:
            line = asyncio.create_task(commands.readline())
            await asyncio.wait({line, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not line.done() or not line.result():
                line.cancel()
                break
            print(json.dumps(await answer(sandbox, line.result().decode().strip())), flush=True)
        stop.cancel()


# -- the driving side ------------------------------------------------------------------------------


class SandboxProcess:
    """The sandbox as a child process: `.marathon_url`, `.consul_url`, and the commands above as methods."""

    def __init__(self, apps: int, *, with_consul: bool) -> None:
        self.apps, self.with_consul = apps, with_consul
        self.marathon_url = ""
        self.consul_url: str | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    async def __aenter__(self) -> SandboxProcess:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.bench.sandbox_process", "--apps", str(self.apps),
            *(["--consul"] if self.with_consul else []), cwd=PROJECT, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, limit=1 << 20,
        )
        urls = await self._line()
        self.marathon_url, self.consul_url = str(urls["marathon"]), urls["consul"] and str(urls["consul"])
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._process is None or self._process.returncode is not None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self._process.wait(), 120)
        except TimeoutError:
            self._process.kill()
            await self._process.wait()

    async def _line(self) -> Any:
        assert self._process is not None and self._process.stdout is not None
        line = await self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the sandbox process ended (exit code {await self._process.wait()})")
        return json.loads(line)  # a JSON line the sandbox's side wrote: any type

    async def _ask(self, command: str) -> Any:
        assert self._process is not None and self._process.stdin is not None
        async with self._lock:  # one answer per command, in order
            self._process.stdin.write(f"{command}\n".encode())
            await self._process.stdin.drain()
            return await self._line()

    async def served(self) -> int:
        """Consul requests the sandbox has served, over every agent's listener."""
        return int(await self._ask("served"))

    async def wait_idle(self) -> None:
        await self._ask("idle")

    async def usage(self) -> tuple[float, float, float]:
        """(CPU seconds, RSS MiB, seconds in the garbage collector) of the sandbox process so far."""
        used = await self._ask("usage")
        assert isinstance(used, dict)
        return float(used["cpu"]), float(used["rss_mib"]), float(sum(used["gc"]))


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apps", type=int, required=True, help="apps the bench will run (sizes the agents)")
    parser.add_argument("--consul", action="store_true", help="run the Consul sandbox too")
    return parser.parse_args(argv)


if __name__ == "__main__":
    options = arguments(sys.argv[1:])
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(options.apps, options.consul))
