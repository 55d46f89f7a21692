"""Two `reconciler run` replicas against one sandbox: one leads, the other stands by and names it;
when the leader is killed (no goodbye: SIGKILL), the standby takes the lock once the session
expires and converges the next change of the specs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from reconciler.cli.sandbox import embedded_sandbox
from tests.e2e.cli import PROJECT, copy_example_tree, stop_process
from tests.e2e.test_run_sigterm import read_until

pytestmark = pytest.mark.slow
TTL = 10.0
# The killed leader's session expires after TTL (up to 2x in real Consul), then the lock-delay
# (TTL/2) runs; slack for a loaded machine on top.
TAKEOVER = 2 * TTL + TTL / 2 + 20


@dataclass
class Replica:
    process: asyncio.subprocess.Process
    server: str

    async def leadership(self, http: httpx.AsyncClient) -> dict[str, object]:
        return dict((await http.get(f"{self.server}/status")).json()["leadership"])


@contextlib.asynccontextmanager
async def replica(tmp_path: Path, name: str, specs: Path, marathon: str, consul: str) -> AsyncIterator[Replica]:
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reconciler", "--log-level", "WARNING", "--marathon", marathon, "--consul", consul,
        "run", str(specs), "--listen", "127.0.0.1:0", "--database", str(tmp_path / f"{name}.db"),
        "--leader-ttl", str(TTL), "--poll-interval", "1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=PROJECT, env=env,
    )
    assert process.stdout is not None
    seen: list[str] = []
    try:
        await read_until(process.stdout, "POST /hooks/git on http://", seen, 60)
        found = re.search(r"on (http://127\.0\.0\.1:\d+)", seen[-1])
        assert found
        drain = asyncio.create_task(_drain(process.stdout))
        yield Replica(process, found.group(1))
        drain.cancel()
    finally:
        await stop_process(process)


async def _drain(stream: asyncio.StreamReader) -> None:
    """Keeps reading the replica's output so that a full pipe never blocks it."""
    while await stream.readline():
        pass


async def wait_until(probe: object, what: str, timeout: float) -> float:
    started = time.monotonic()
    while not await probe():  # type: ignore[operator]
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout:.0f}s")
        await asyncio.sleep(0.2)
    return time.monotonic() - started


async def test_one_leader_then_the_standby_takes_over_and_converges(tmp_path: Path) -> None:
    specs = copy_example_tree(tmp_path)
    async with embedded_sandbox(with_consul=True) as sandbox, httpx.AsyncClient(timeout=10) as http:
        assert sandbox.consul_url is not None
        async with replica(tmp_path, "a", specs, sandbox.marathon_url, sandbox.consul_url) as a, \
                replica(tmp_path, "b", specs, sandbox.marathon_url, sandbox.consul_url) as b:

            async def one_leader() -> bool:
                states = [await r.leadership(http) for r in (a, b)]
                return sorted(bool(s["leader"]) for s in states) == [False, True] and all(s["holder"] for s in states)

            await wait_until(one_leader, "exactly one leader, named by both", 60)
            leader, standby = (a, b) if (await a.leadership(http))["leader"] else (b, a)
            assert (await standby.leadership(http))["holder"] == (await leader.leadership(http))["holder"]
            assert (await http.get(f"{standby.server}/readyz")).text.startswith("standby")

            async def order_api(count: int) -> bool:
                app = (await http.get(f"{sandbox.marathon_url}/v2/apps/integration/order-api")).json().get("app", {})
                return bool(app.get("instances") == count)

            await wait_until(lambda: order_api(2), "the leader converges the specs", 60)
            leader.process.kill()  # no release, no destroy: the session has to expire
            await leader.process.wait()

            async def standby_leads() -> bool:
                return bool((await standby.leadership(http))["leader"])

            took = await wait_until(standby_leads, "the standby takes over", TAKEOVER)
            text = (specs / "integration.yaml").read_text()
            (specs / "integration.yaml").write_text(
                re.sub(r"(  order-api:\n    chart: java-service\n    instances: )\d+", r"\g<1>3", text))
            await wait_until(lambda: order_api(3), "the new leader converges the next change", 60)
    print(f"takeover after the leader was killed: {took:.1f}s")
