"""`reconciler run` restarted while a scale-up rate policy holds (e2e: the real CLI in subprocesses, the
simulated sandbox over loopback, one SQLite store): the first run scales the app up by the one task its
policy allows per 10 minutes; a second run on the same store, with the same load, keeps it there
instead of taking another step at once, because it takes up the memory the first run recorded."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx
import pytest

from reconciler.sandbox.marathon import MarathonSandbox
from tests.e2e.autoscale_support import RATE_LIMITED_SHOP
from tests.e2e.cli import PROJECT, stop_process
from tests.sandbox.marathon.fixtures import fast_config, until

pytestmark = pytest.mark.slow
APP = "/shop/web"
SPEC = RATE_LIMITED_SHOP


async def start_run(tmp_path: Path, sandbox: MarathonSandbox, log: Path) -> asyncio.subprocess.Process:
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb")
    with log.open("w") as stderr:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "reconciler", "--marathon", sandbox.url, "--log-level", "info", "run",
            str(tmp_path / "specs"), "--no-consul", "--resync", "0.5", "--listen", "127.0.0.1:0",
            "--agent-port", str(sandbox.agent_stats_port), "--database", str(tmp_path / "history.db"),
            stdout=asyncio.subprocess.DEVNULL, stderr=stderr, cwd=PROJECT, env=env)


def decisions(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if f"event=autoscale autoscale {APP} " in line]


def cycles_in(log: Path) -> int:
    return log.read_text().count("event=cycle-end")


async def settled(api: httpx.AsyncClient, count: int) -> bool:
    app = (await api.get(f"/v2/apps{APP}")).json().get("app") or {}
    return app.get("instances") == count and app.get("tasksRunning") == count and not app.get("deployments")


@pytest.mark.timeout(300)
async def test_a_restarted_controller_keeps_the_rate_policy_the_previous_run_started(tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "shop.yaml").write_text(SPEC)
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    async with (MarathonSandbox(fast_config(agents=3, keep_event_history=False)) as sandbox,
                httpx.AsyncClient(base_url=sandbox.url, timeout=10.0) as api):
        first = await start_run(tmp_path, sandbox, first_log)
        try:
            await until(lambda: settled(api, 2), "the first run created the app at min (2)", timeout=60)
            loaded = await api.put("/_sandbox/load", json={"app": APP, "cpu": 0.9, "mem": 20})
            assert loaded.status_code == 200, loaded.text  # 90% of the cpus against 50%: a scale-up
            await until(lambda: any("desired=3" in d for d in decisions(first_log)), "a scale-up", timeout=60)
            # Stopped once the scale is done: a stop between the decision and its write cancels a cycle that
            # has sent nothing yet (by design), and the scale-up would never come.
            await until(lambda: settled(api, 3), "the scale-up to 3 done", timeout=60)
        finally:
            await stop_process(first)
        assert not any("desired=4" in d for d in decisions(first_log)), decisions(first_log)

        second = await start_run(tmp_path, sandbox, second_log)
        try:  # a decision on cpu: the agents were read twice, so the load is known
            await until(lambda: any(" cpu=" in d for d in decisions(second_log)), "a decision on cpu", timeout=60)
            cycles = cycles_in(second_log)
            await until(lambda: cycles_in(second_log) >= cycles + 3, "three cycles more", timeout=60)
        finally:
            await stop_process(second)
        made = decisions(second_log)
        assert [d for d in made if "desired=4" in d] == [], made
        assert any("current=3 desired=3" in d and "limitedBy=policy:0" in d for d in made), made
        assert await settled(api, 3)
