"""The lost-leader alerts against the Consul sandbox over real HTTP: a leader whose session is destroyed
is reported until it leads again; a lock nobody can take for longer than the TTL is reported too.

Sessions run 5 times faster (session_time_scale=0.2, as in test_leader_election.py): a 10 s TTL lasts 2 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from reconciler.consul.client import ConsulClient
from reconciler.core.alerts import Alert
from reconciler.engine.alerting import LeaderWatch
from reconciler.engine.leader import LeaderElector
from reconciler.sandbox.consul import ConsulSandbox
from tests.e2e.test_leader_election import SCALE, TTL, options, wait_for
from tests.sandbox.consul.fixtures import SandboxFactory, consul_sandbox_factory  # noqa: F401

pytestmark = pytest.mark.slow
KEY = "service/marathon-reconciler/leader"


@pytest.fixture
async def sandbox(consul_sandbox_factory: SandboxFactory) -> ConsulSandbox:  # noqa: F811
    return await consul_sandbox_factory(session_time_scale=SCALE)


class Judged:
    """Judges the lock every 10 ms, as the notifier's tick does, and remembers every key it saw."""

    def __init__(self, elector: LeaderElector, identity: str) -> None:
        self.watch = LeaderWatch(KEY, TTL * SCALE)
        self.elector, self.identity = elector, identity
        self.now: tuple[Alert, ...] = ()
        self.seen: list[str] = []

    async def run(self) -> None:
        while True:
            self.now = self.watch.judge(self.identity, leading=self.elector.may_write(), holder=self.elector.holder)
            self.seen.extend(a.key for a in self.now if a.key not in self.seen)
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def judged(url: str, identity: str) -> AsyncIterator[Judged]:
    client = ConsulClient(url, retries=0, timeout=2.0)
    elector = LeaderElector(client, options(identity))
    judge = Judged(elector, identity)
    tasks = [asyncio.create_task(elector.run()), asyncio.create_task(judge.run())]
    try:
        yield judge
    finally:
        elector.stop()
        tasks[1].cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(tasks[0], 10)
            await tasks[1]
        await client.aclose()


async def test_a_leader_whose_session_is_destroyed_is_reported_until_it_leads_again(sandbox: ConsulSandbox) -> None:
    async with judged(sandbox.url, "replica-0") as judge, httpx.AsyncClient() as http:
        await wait_for(judge.elector.may_write, 15, "replica-0 leads")
        assert judge.now == ()
        pair = (await http.get(f"{sandbox.url}/v1/kv/{KEY}")).json()[0]
        await http.put(f"{sandbox.url}/v1/session/destroy/{pair['Session']}")
        await wait_for(lambda: "leader-lost:replica-0" in [a.key for a in judge.now], 10, "the loss reported")
        await wait_for(judge.elector.may_write, 15, "replica-0 leads again after the lock-delay")
        await wait_for(lambda: judge.now == (), 5, "nothing reported once it leads")
        # The lock-delay (TTL/2) is shorter than the TTL: a free lock that soon held again is no "no leader".
        assert judge.seen == ["leader-lost:replica-0"]


async def test_a_lock_nobody_can_take_for_longer_than_the_ttl_is_reported(sandbox: ConsulSandbox) -> None:
    async with httpx.AsyncClient() as http:
        created = await http.put(f"{sandbox.url}/v1/session/create",
                                 json={"Name": "a leader from elsewhere", "TTL": "600s", "LockDelay": "60s"})
        session = created.json()["ID"]
        body = json.dumps({"holder": "elsewhere:9090"})
        assert (await http.put(f"{sandbox.url}/v1/kv/{KEY}", params={"acquire": session}, content=body)).json()
        async with judged(sandbox.url, "standby") as judge:
            await wait_for(lambda: judge.elector.holder == "elsewhere:9090", 10, "the standby names the leader")
            assert judge.now == ()
            # Destroyed: the lock is free, but its 60 s lock-delay (12 s here) keeps everyone out.
            await http.put(f"{sandbox.url}/v1/session/destroy/{session}")
            waited = await wait_for(lambda: f"no-leader:{KEY}" in [a.key for a in judge.now], 10,
                                    "no leader reported")
            assert waited >= TTL * SCALE * 0.9
            assert not judge.elector.may_write() and "leader-lost:standby" not in judge.seen
