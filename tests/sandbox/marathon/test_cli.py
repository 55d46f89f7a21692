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

import dns.message
import dns.query
import dns.rdatatype
import httpx
import pytest

COMMAND = [sys.executable, "-m", "reconciler", "sandbox", "up"]
STARTUP_S = 30.0


@pytest.fixture
def sandbox_process() -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [*COMMAND, "--marathon-port", "0", "--consul-port", "0", "--dns-port", "0", "--agents", "2",
         "--text-plain-tasks"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    yield process
    if process.poll() is None:
        process.kill()
    process.communicate(timeout=10)  # reaps the process and closes its pipes


def wait_for_urls(process: subprocess.Popen[str]) -> dict[str, str]:
    """The addresses `sandbox up` prints, by service, once it says it is ready."""
    assert process.stdout is not None
    found: dict[str, str] = {}
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if service := re.match(r"(Marathon|Consul) sandbox: +(http://127\.0\.0\.1:\d+)", line):
            found[service.group(1)] = service.group(2)
        if dns_at := re.search(r"DNS on (127\.0\.0\.1:\d+)", line):
            found["DNS"] = dns_at.group(1)
        if stats := re.match(r"Agent statistics: +http://127\.0\.0\.2:(\d+)/monitor/statistics", line):
            found["statistics"] = stats.group(1)
        if line.startswith("Press Ctrl-C"):
            return found
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"not ready; printed {found}; stderr: {process.stderr.read() if process.stderr else ''}")


def test_up_prints_the_urls_answers_and_stops_on_sigterm(sandbox_process: subprocess.Popen[str]) -> None:
    urls = wait_for_urls(sandbox_process)
    assert httpx.get(f"{urls['Marathon']}/ping", timeout=5).text == "pong"
    # --text-plain-tasks: Marathon 1.10's deprecated feature (TasksResource.indexTxt), off by default
    tasks = httpx.get(f"{urls['Marathon']}/v2/tasks", headers={"Accept": "text/plain"}, timeout=5)
    assert tasks.status_code == 200 and tasks.headers["Content-Type"].startswith("text/plain")
    state = httpx.get(f"{urls['Marathon']}/_sandbox/state", timeout=5).json()
    assert [a["host"] for a in state["agents"]] == ["127.0.0.2", "127.0.0.3"]
    for host in ("127.0.0.2", "127.0.0.3"):  # every agent's Mesos statistics on the one printed port
        assert httpx.get(f"http://{host}:{urls['statistics']}/monitor/statistics", timeout=5).json() == []
    consul_port = urls["Consul"].rsplit(":", 1)[1]
    assert httpx.get(f"{urls['Consul']}/v1/status/leader", timeout=5).json().startswith("127.0.0.1:")
    nodes = httpx.get(f"{urls['Consul']}/v1/catalog/nodes", timeout=5).json()
    assert {n["Address"] for n in nodes} >= {"127.0.0.2", "127.0.0.3"}
    agent = httpx.get(f"http://127.0.0.2:{consul_port}/v1/agent/self", timeout=5).json()  # the agent on agent-1
    assert agent["Config"]["NodeName"] == "agent-1"
    dns_host, dns_port = urls["DNS"].split(":")
    query = dns.message.make_query("agent-1.node.consul", "A")
    for answer in (dns.query.udp(query, dns_host, port=int(dns_port), timeout=5),
                   dns.query.tcp(query, dns_host, port=int(dns_port), timeout=5)):
        assert [r.to_text() for rrset in answer.answer for r in rrset if rrset.rdtype == dns.rdatatype.A] == [
            "127.0.0.2"
        ]
    sandbox_process.send_signal(signal.SIGTERM)
    assert sandbox_process.wait(15) == 0
    assert sandbox_process.stdout is not None and "Sandbox stopped." in sandbox_process.stdout.read()


@pytest.mark.parametrize(("flag", "kind"), [
    ("--marathon-port", socket.SOCK_STREAM), ("--consul-port", socket.SOCK_STREAM), ("--dns-port", socket.SOCK_DGRAM),
])
def test_port_in_use_is_one_line_naming_the_flag_and_exit_1(flag: str, kind: socket.SocketKind) -> None:
    free = ["--marathon-port", "0", "--consul-port", "0", "--dns-port", "0"]
    with socket.socket(socket.AF_INET, kind) as taken:
        taken.bind(("127.0.0.1", 0))
        if kind == socket.SOCK_STREAM:
            taken.listen()
        port = taken.getsockname()[1]
        free[free.index(flag) + 1] = str(port)
        result = subprocess.run([*COMMAND, *free], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"127.0.0.1:{port} is already in use" in lines[0] and flag in lines[0]


def test_agent_statistics_port_in_use_names_its_flag() -> None:
    free = ["--marathon-port", "0", "--consul-port", "0", "--dns-port", "0"]
    with socket.socket() as taken:
        taken.bind(("127.0.0.2", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*COMMAND, *free, "--agent-stats-port", str(port)], capture_output=True, text=True, timeout=60, check=False
        )
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"127.0.0.2:{port} is already in use" in result.stderr and "--agent-stats-port" in result.stderr


@pytest.mark.parametrize(
    "flags",
    [
        ["--agents", "-1"], ["--agents", "0"], ["--agents", "255"], ["--runtime", "vm"], ["--runtime", "foo"],
        ["--host", "10.0.0.1"], ["--dns-port", "70000"],
    ],
)
def test_bad_flags_are_one_line_naming_the_flag_and_exit_2(flags: list[str]) -> None:
    free = ["--marathon-port", "0", "--consul-port", "0", "--dns-port", "0"]
    result = subprocess.run([*COMMAND, *free, *flags], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert flags[0] in lines[0] and flags[1] in lines[0]
