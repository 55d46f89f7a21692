"""`reconciler run` in a terminal (forced with Rich's TTY_COMPATIBLE=1, stdout still a pipe to read it):
the live region shows the heal of a task turned critical and the rollout of a changed spec, with its
tasks of the new definition, step and elapsed time (real CLI in a subprocess, sandbox in this process)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from reconciler.sandbox.stack import Sandbox
from tests.e2e.cli import PROJECT
from tests.e2e.healing_shop import converged, fast_sandbox, running_tasks, shop_spec
from tests.sandbox.marathon.fixtures import until

pytestmark = pytest.mark.slow

CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")
# A row of "Rollouts in progress": app, new running and new healthy of 3, step, elapsed, deployment.
ROLLOUT_ROW = re.compile(r"│ /shop/web +│ +\d/3 │ +\d/3 │ +\d+/\d+ │ +\d+s │ [0-9a-f-]{8,}")


@dataclass
class Terminal:
    """What the controller drew so far, control sequences removed."""

    chunks: list[bytes] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        return CONTROL.sub("", b"".join(self.chunks).decode(errors="replace")).splitlines()

    async def read(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(65536):
            self.chunks.append(chunk)


@dataclass
class Running:
    sandbox: Sandbox
    specs: Path
    terminal: Terminal

    async def tasks(self) -> list[str]:
        return await running_tasks(self.sandbox)

    async def converged(self) -> bool:
        return await converged(self.sandbox, 3)


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "shop.yaml").write_text(shop_spec("v1", instances=3))
    config = fast_sandbox()
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR", "TTY_INTERACTIVE")}
    env.update(TTY_COMPATIBLE="1", TERM="xterm", COLUMNS="220", LINES="60")
    async with Sandbox(config) as sandbox:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "reconciler", "--marathon", sandbox.marathon_url, "--consul", str(sandbox.consul_url),
            "--log-level", "WARNING", "run", str(specs), "--resync", "1", "--poll-interval", "1",
            "--no-leader-election", "--listen", "127.0.0.1:0", "--database", str(tmp_path / "history.db"),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            cwd=PROJECT, env=env,
        )
        assert process.stdout is not None
        terminal = Terminal()
        reader = asyncio.create_task(terminal.read(process.stdout))
        try:
            state = Running(sandbox, specs, terminal)
            await until(state.converged, "the shop converged with every task passing in Consul", timeout=120)
            yield state
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 30)
            if process.returncode is None:
                process.kill()
                await process.wait()
            await reader


async def test_the_live_region_shows_a_heal_and_a_rollout(running: Running) -> None:
    victim = (await running.tasks())[0]
    await running.sandbox.marathon.set_task_health(victim, False)

    def heal_rows() -> list[str]:
        return [line for line in running.terminal.lines if victim in line and "critical for" in line]

    await until(heal_rows, "a Heals row naming the killed task", timeout=60)
    assert "succeeded" in heal_rows()[-1] and " ago)" in heal_rows()[-1] and "/shop/web" in heal_rows()[-1]
    await until(running.converged, "the victim replaced", timeout=60)

    # New tasks take 3 s to start: the rollout of the changed spec lasts several cycles.
    scheduler = running.sandbox.marathon.core.scheduler
    scheduler.timings = replace(scheduler.timings, start_delay_ms=3000)
    (running.specs / "shop.yaml").write_text(shop_spec("v2", instances=3))

    def rollout_rows() -> list[str]:
        return [line for line in running.terminal.lines if ROLLOUT_ROW.search(line)]

    await until(rollout_rows, "a Rollouts row for /shop/web", timeout=60)
    assert any("Rollouts in progress" in line for line in running.terminal.lines)
    scheduler.timings = replace(scheduler.timings, start_delay_ms=5)
