"""What the Prometheus end-to-end tests share: free loopback ports, the Debian binaries they run
(scripts/ensure-prometheus installs them; a missing one skips, which CI counts as a failure), and a
process of ours on a loopback port, stopped by its pid however the test ends."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def binary(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"no {name} binary; scripts/ensure-prometheus installs Debian's {package} package")
    return found


@contextlib.contextmanager
def process(argv: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`argv` running with its output in `log` (read it when a test fails); terminated, then killed."""
    with log.open("w") as out:
        running = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield running
        finally:
            running.terminate()
            try:
                running.wait(timeout=20)
            except subprocess.TimeoutExpired:
                running.kill()
                running.wait(timeout=20)


@contextlib.contextmanager
def prometheus_server(tmp_path: Path, config: dict[str, Any], *extra: str) -> Iterator[str]:
    """Debian's Prometheus with `config` (JSON is YAML) on a loopback port; yields its base URL."""
    path = tmp_path / "prometheus.yml"
    path.write_text(json.dumps(config))
    port = free_port()
    argv = [
        binary("prometheus", "prometheus"),
        f"--config.file={path}",
        f"--storage.tsdb.path={tmp_path / 'prometheus-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
        *extra,
    ]
    with process(argv, tmp_path / "prometheus.log"):
        yield f"http://127.0.0.1:{port}"


async def active_targets(client: httpx.AsyncClient, base_url: str) -> list[dict[str, Any]]:
    """`/api/v1/targets`' active targets (Prometheus' format, which vmagent serves too); [] until it answers."""
    try:
        answer = await client.get(f"{base_url}/api/v1/targets", params={"state": "active"})
    except httpx.HTTPError:
        return []
    return list(answer.json()["data"]["activeTargets"]) if answer.status_code == 200 else []


async def poll(probe: Callable[[], Awaitable[T | None]], what: str, timeout: float) -> T:
    """`probe()` every 0.2 s (it asks another process over HTTP) until it returns a value; fails naming `what`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (value := await probe()) is None or value == []:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout}s")
        await asyncio.sleep(0.2)
    return value
