"""The scale benchmark's sandbox in a process of its own (tests/bench/sandbox_process.py) answers the
benchmark's commands over its pipes, counts the Consul requests it serves, and goes away with its
context; the bench_scale, bench_cycle and bench_one_change commands docs/performance.md shows are ones
their parsers take, and bench_cycle's cold split times every phase of a plan in a fresh process.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import httpx

from tests.bench.bench_cycle import COLD_PLAN, PROJECT
from tests.bench.bench_cycle import arguments as cycle_arguments
from tests.bench.bench_one_change import arguments as one_change_arguments
from tests.bench.bench_scale import arguments, timed
from tests.bench.sandbox_process import SandboxProcess

DOC = Path(__file__).resolve().parents[2] / "docs" / "performance.md"


async def test_the_sandbox_process_serves_counts_and_stops() -> None:
    async with SandboxProcess(3, with_consul=True) as sandbox, httpx.AsyncClient(timeout=30) as api:
        assert sandbox.consul_url is not None
        app = {"id": "/bench/app", "cmd": "serve", "instances": 2, "cpus": 0.01, "mem": 1}
        assert (await api.post(f"{sandbox.marathon_url}/v2/apps", json=app)).status_code == 201
        await sandbox.wait_idle()
        tasks = (await api.get(f"{sandbox.marathon_url}/v2/apps/bench/app")).json()["app"]["tasks"]
        assert [t["state"] for t in tasks] == ["TASK_RUNNING"] * 2

        before = await sandbox.served()
        for _ in range(3):
            await api.get(f"{sandbox.consul_url}/v1/catalog/services")
        assert await sandbox.served() == before + 3
        cpu, rss, collected = await sandbox.usage()
        assert cpu > 0 and rss > 10 and collected >= 0
        pid = sandbox.pid
    assert not Path(f"/proc/{pid}").exists()  # stopped and reaped with its context


def test_the_documented_bench_scale_commands_parse() -> None:
    commands = re.findall(r"\.venv/bin/python -m tests\.bench\.bench_scale ([^`\n]*)", DOC.read_text())
    assert commands, "docs/performance.md shows no bench_scale command"
    for command in commands:
        options = arguments(shlex.split(command))
        assert options.consul in ("on", "off", "both")
        assert options.sizes or options.deploy_size > 0, f"{command!r} measures nothing"


def test_the_documented_bench_cycle_commands_parse() -> None:
    commands = re.findall(r"\.venv/bin/python -m tests\.bench\.bench_cycle ([^`\n]*)", DOC.read_text())
    assert commands, "docs/performance.md shows no bench_cycle command"
    for command in commands:
        options = cycle_arguments(shlex.split(command))
        assert options.command in ("record", "measure") and options.apps > 0


def test_the_documented_bench_one_change_commands_parse() -> None:
    commands = re.findall(r"\.venv/bin/python -m tests\.bench\.bench_one_change ([^`\n]*)", DOC.read_text())
    assert commands, "docs/performance.md shows no bench_one_change command"
    for command in commands:
        options = one_change_arguments(shlex.split(command))
        assert options.apps > 0 and options.rounds > 0


async def test_the_cold_plan_phases_are_timed_in_a_fresh_process() -> None:
    """bench_cycle's cold split (tests/bench/cold_plan.py), against a small sandbox and the example specs:
    every phase timed, and the plan is the one those specs need (every app to create)."""
    async with SandboxProcess(3, with_consul=True) as sandbox:
        run = await timed(str(PROJECT / "specs"), sandbox.marathon_url, str(sandbox.consul_url), tool=COLD_PLAN)
    assert run.returncode == 0, run.err
    figures = json.loads(run.out)
    for phase in ("import", "spec load", "observe", "plan"):
        wall, cpu = figures[phase]
        assert wall > 0 and cpu > 0, phase
    assert figures["actions"][0] >= 13  # the example tree's 13 apps, all absent from the new sandbox
