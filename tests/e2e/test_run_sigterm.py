"""`reconciler run specs --sandbox` in a subprocess: it starts the sandbox, converges, lists the DNS
names, and stops cleanly (exit 0) on SIGTERM after finishing the running cycle."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.e2e.cli import PROJECT, copy_example_tree, read_until

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
