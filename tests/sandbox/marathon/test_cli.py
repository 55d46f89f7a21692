"""`reconciler sandbox up` as a user runs it: a real subprocess, real signals, real ports."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

COMMAND = [sys.executable, "-m", "reconciler", "sandbox", "up"]
STARTUP_S = 30.0


@pytest.fixture
def sandbox_process() -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [*COMMAND, "--marathon-port", "0", "--agents", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    yield process
    if process.poll() is None:
        process.kill()
    process.communicate(timeout=10)  # reaps the process and closes its pipes


def wait_for_url(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if found := re.search(r"http://127\.0\.0\.1:\d+", line):
            return found.group(0)
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"no URL printed; stderr: {process.stderr.read() if process.stderr else ''}")


def test_up_prints_the_url_answers_and_stops_on_sigterm(sandbox_process: subprocess.Popen[str]) -> None:
    url = wait_for_url(sandbox_process)
    assert httpx.get(f"{url}/ping", timeout=5).text == "pong"
    state = httpx.get(f"{url}/_sandbox/state", timeout=5).json()
    assert [a["host"] for a in state["agents"]] == ["127.0.0.2", "127.0.0.3"]
    sandbox_process.send_signal(signal.SIGTERM)
    assert sandbox_process.wait(15) == 0


def test_port_in_use_is_one_line_and_exit_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*COMMAND, "--marathon-port", str(port)], capture_output=True, text=True, timeout=60, check=False
        )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "already in use" in lines[0] and "Traceback" not in result.stderr


@pytest.mark.parametrize("flags", [["--agents", "-1"], ["--runtime", "vm"], ["--host", "10.0.0.1"]])
def test_bad_flags_are_one_line_and_exit_1(flags: list[str]) -> None:
    result = subprocess.run(
        [*COMMAND, *flags, "--marathon-port", "0"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
