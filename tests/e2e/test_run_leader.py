"""Two `reconciler run` replicas against one sandbox: one leads, the other stands by and names it;
a hand-run apply over their environments is refused (exit 4) unless forced; when the leader is
killed (no goodbye: SIGKILL), the standby takes over within the TTL (it deposes the silent holder
rather than wait for Consul's TTL timer) and converges the next change of the specs. The sandbox's
own log of the writes it received, by User-Agent, shows that no two replicas ever wrote in turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from reconciler.cli.sandbox import embedded_sandbox
from reconciler.sandbox.write_log import Write
from tests.e2e.cli import copy_example_tree, run_cli, serving_controller

pytestmark = pytest.mark.slow
TTL = 10.0
# Expected: silent for 0.4 TTL, deposed, 0.4 TTL of lock-delay, a retry (engine/leader.py) = 8.5 s.
# Waiting for Consul's TTL timer instead would take 2 TTL - a beat + the lock-delay (> 20 s): the
# deadline proves the former with 6 s of slack for a loaded 2-core machine.
TAKEOVER = TTL + 5


@dataclass
class Replica:
    process: asyncio.subprocess.Process
    server: str

    def wrote(self, write: Write) -> bool:
        """The sandbox saw this replica's identity (host:port pid N) in the write's User-Agent."""
        return f":{self.server.rsplit(':', 1)[1]} pid {self.process.pid})" in write.user_agent

    async def leadership(self, http: httpx.AsyncClient) -> dict[str, object]:
        return dict((await http.get(f"{self.server}/status")).json()["leadership"])


@contextlib.asynccontextmanager
async def replica(tmp_path: Path, name: str, specs: Path, marathon: str, consul: str) -> AsyncIterator[Replica]:
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb")
    async with serving_controller(
        "--log-level", "WARNING", "--marathon", marathon, "--consul", consul,
        "run", str(specs), "--listen", "127.0.0.1:0", "--database", str(tmp_path / f"{name}.db"),
        "--leader-ttl", str(TTL), "--poll-interval", "1", env=env,
    ) as (process, server):
        yield Replica(process, server)


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
        assert sandbox.consul_url is not None and sandbox.consul is not None
        async with replica(tmp_path, "a", specs, sandbox.marathon_url, sandbox.consul_url) as a, \
                replica(tmp_path, "b", specs, sandbox.marathon_url, sandbox.consul_url) as b:

            async def one_leader() -> bool:
                states = [await r.leadership(http) for r in (a, b)]
                return sorted(bool(s["leader"]) for s in states) == [False, True] and all(s["holder"] for s in states)

            await wait_until(one_leader, "exactly one leader, named by both", 60)
            leader, standby = (a, b) if (await a.leadership(http))["leader"] else (b, a)
            holder = str((await leader.leadership(http))["holder"])
            assert str((await leader.leadership(http))["since"]).endswith("Z")  # /status: leading since when
            assert (await standby.leadership(http))["holder"] == holder
            assert (await http.get(f"{standby.server}/readyz")).text.startswith("standby")

            async def order_api(count: int) -> bool:
                app = (await http.get(f"{sandbox.marathon_url}/v2/apps/integration/order-api")).json().get("app", {})
                return bool(app.get("instances") == count)

            await wait_until(lambda: order_api(2), "the leader converges the specs", 60)
            await refused_then_forced(specs, sandbox.marathon_url, sandbox.consul_url, holder)
            leader.process.kill()  # no release, no destroy: the session lives until deposed or expired
            killed_at = time.monotonic()
            await leader.process.wait()

            async def standby_leads() -> bool:
                return bool((await standby.leadership(http))["leader"])

            took = await wait_until(standby_leads, "the standby takes over within the TTL", TAKEOVER)
            print(f"takeover after the leader was killed: {took:.1f}s (session TTL {TTL:.0f}s)")
            text = (specs / "integration.yaml").read_text()
            (specs / "integration.yaml").write_text(
                re.sub(r"(  order-api:\n    chart: java-service\n    instances: )\d+", r"\g<1>3", text))
            await wait_until(lambda: order_api(3), "the new leader converges the next change", 60)
        writes = [w for w in sandbox.marathon.writes.writes() + sandbox.consul.state.writes.writes() if _reconciling(w)]
    assert_one_writer_at_a_time(sorted(writes, key=lambda w: w.at), leader, standby, killed_at)


def _reconciling(write: Write) -> bool:
    """Writes that change what runs or is registered: not the replicas' own sessions and lock."""
    ours = write.user_agent.startswith("marathon-reconciler/")
    return ours and not write.path.startswith(("/v1/session/", "/v1/kv/"))


def assert_one_writer_at_a_time(writes: list[Write], leader: Replica, standby: Replica, killed_at: float) -> None:
    """The leader's writes, then the standby's, never interleaved; the standby's only after the kill."""
    authors = ["leader" if leader.wrote(w) else "standby" if standby.wrote(w) else w.user_agent for w in writes]
    turns = [who for n, who in enumerate(authors) if n == 0 or authors[n - 1] != who]
    assert turns == ["leader", "standby"], f"writers in turn: {turns}"
    first_of_standby = next(w for w, who in zip(writes, authors, strict=True) if who == "standby")
    assert first_of_standby.at > killed_at, "the standby wrote while the leader still lived"


async def refused_then_forced(specs: Path, marathon: str, consul: str, holder: str) -> None:
    """A hand-run apply over the environments the live leader owns: exit 4 naming it, unless --force."""
    refused = await run_cli("apply", str(specs), "--env", "integration", marathon=marathon, consul=consul)
    assert refused.code == 4, refused.output
    assert holder in refused.stderr and "leader since" in refused.stderr and "--force" in refused.stderr
    forced = await run_cli("apply", str(specs), "--env", "integration", "--force", marathon=marathon, consul=consul)
    assert forced.code == 0, forced.output
    assert "warning:" in forced.stderr and holder in forced.stderr
