"""`reconciler run specs --sandbox` in a subprocess: it starts the sandbox, converges, lists the DNS
names, and stops cleanly (exit 0) on SIGTERM after finishing the running cycle; a cycle stuck reading
a hanging Marathon, which has sent nothing, is cancelled instead. SIGHUP stops it the same way and
releases the leader lock."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

from reconciler.cli.sandbox import embedded_sandbox
from reconciler.consul.client import ConsulClient
from reconciler.engine.lock_key import DEFAULT_KEY
from reconciler.sandbox.marathon import MarathonSandbox
from tests.e2e.cli import PROJECT, copy_example_tree, read_until, serving_controller
from tests.e2e.test_run_leader import wait_until
from tests.sandbox.marathon.fixtures import fast_config

pytestmark = pytest.mark.slow


async def test_run_with_sandbox_converges_and_stops_on_sigterm(tmp_path: Path) -> None:
    specs = copy_example_tree(tmp_path)
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reconciler", "--log-level", "WARNING", "run", str(specs), "--sandbox", "--resync", "1",
        "--listen", "127.0.0.1:0", "--database", str(tmp_path / "history.db"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=PROJECT, env=env,
    )
    assert process.stdout is not None and process.stderr is not None
    seen: list[str] = []
    try:
        await read_until(process.stdout, "sandbox Consul at http://127.0.0.1:", seen, 30)
        assert any("DNS on 127.0.0.1:" in line for line in seen)
        await read_until(process.stdout, "app.E.query.consul", seen, 60)  # the DNS table's caption
        dns_rows = [line for line in seen if line.startswith("│ func-1")]
        assert dns_rows and "redis user-api" in dns_rows[-1] and "integration: mysql" in dns_rows[-1], seen
        await read_until(process.stdout, "passing", seen, 60)  # the status table's header
        process.send_signal(signal.SIGTERM)
        rest, errors = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    output = "".join(seen) + rest.decode()
    assert process.returncode == 0, output + errors.decode()
    assert "controller stopped after" in output


async def test_sigterm_while_marathon_hangs_ends_the_run_at_once_and_sends_nothing(tmp_path: Path) -> None:
    """The first cycle's reads hang (Marathon answers after a minute): at the default --timeout, 10 s per
    attempt and three retries, the cycle would hold SIGTERM back some 40 s, past the grace period a
    scheduler gives before SIGKILL, which leaves the leader lock to expire. It has sent nothing, so stop
    cancels it: exit 0 at once."""
    specs = copy_example_tree(tmp_path)
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb")
    async with MarathonSandbox(fast_config(keep_event_history=False)) as sandbox:
        sandbox.set_latency(60_000)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "reconciler", "--marathon", sandbox.url, "--log-format", "json", "run", str(specs),
            "--no-consul", "--listen", "127.0.0.1:0", "--database", str(tmp_path / "history.db"),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=PROJECT, env=env,
        )
        assert process.stdout is not None and process.stderr is not None
        logged: list[str] = []
        try:
            await read_until(process.stderr, '"event": "cycle-start"', logged, 60)
            process.send_signal(signal.SIGTERM)
            started = time.monotonic()
            rest, errors = await asyncio.wait_for(process.communicate(), 30)
            took = time.monotonic() - started
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.returncode == 0, "".join(logged) + errors.decode()
        assert took < 8, took  # reads of 10 s each, retried: well beyond this had the cycle run to its end
        assert '"event": "cycle-interrupted"' in errors.decode()
        assert "controller stopped after 0 cycle(s)." in rest.decode()
        assert sandbox.writes.writes() == []


async def test_sighup_stops_the_controller_as_sigterm_does_and_releases_the_leader_lock(tmp_path: Path) -> None:
    """A terminal that closes or a supervisor's hangup sends SIGHUP: the default action would end the
    process at once and leave the lock held until Consul's TTL timer (up to 2 TTL) lets a standby lead."""
    specs = copy_example_tree(tmp_path)
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb")
    async with embedded_sandbox(with_consul=True) as sandbox, httpx.AsyncClient(timeout=10) as http:
        assert sandbox.consul_url is not None
        async with serving_controller(
            "--log-level", "WARNING", "--marathon", sandbox.marathon_url, "--consul", sandbox.consul_url,
            "run", str(specs), "--listen", "127.0.0.1:0", "--database", str(tmp_path / "history.db"), env=env,
        ) as (process, server):

            async def leading() -> bool:
                return bool((await http.get(f"{server}/status")).json()["leadership"]["leader"])

            await wait_until(leading, "the controller leads", 60)
            metrics = (await http.get(f"{server}/metrics")).text
            assert "\nreconciler_leader 1.0\n" in metrics and "\nreconciler_leader_may_write 1.0\n" in metrics
            process.send_signal(signal.SIGHUP)
            code = await asyncio.wait_for(process.wait(), 30)
        assert code == 0
        async with ConsulClient(sandbox.consul_url, retries=0) as consul:
            lock, _ = await consul.get_kv(DEFAULT_KEY)
        assert lock is not None and lock.session == "", lock  # released, not left to expire
