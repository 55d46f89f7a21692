"""`reconciler run --cycles N` tells a script whether anything ran: exit 1 when its last cycle failed as a
whole (here: Marathon unreachable every time), 0 when it succeeded (real CLI, subprocess). A failed cycle
is one line on stdout like any cycle's; stderr holds the log lines alone, one JSON object each with
`--log-format json`, the failure's included."""

from __future__ import annotations

import json
import socket

import pytest

from tests.e2e.cli import run_cli

pytestmark = pytest.mark.slow  # two cycles, a 5 s failure backoff apart


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_run_exits_1_when_every_cycle_failed_before_max_cycles() -> None:
    result = await run_cli("--log-format", "json", "run", "specs", "--cycles", "2", "--no-leader-election",
                           marathon=f"http://127.0.0.1:{closed_port()}", timeout=120)
    assert result.code == 1, result.output[-3000:]
    assert "controller stopped after 2 cycle(s)." in result.stdout
    failed = [line for line in result.stdout.splitlines() if line.startswith("cycle c0000")]
    assert len(failed) == 2 and all("failed: GET /v2/" in line and "cannot reach Marathon" in line for line in failed)
    logged = [json.loads(line) for line in result.stderr.splitlines()]  # nothing but log lines
    assert [d["cycle"] for d in logged if d.get("event") == "observe-failed"] == ["c00001", "c00002"]
