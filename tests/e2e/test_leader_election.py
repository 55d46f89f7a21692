"""Leader election against the Consul sandbox over real HTTP: one leader, takeover, fencing by time.

The sandbox runs sessions twice as fast (session_time_scale=0.5) and the electors use the same
factor, so a 10 s TTL lasts 5 s. A crashed leader is deposed by the standby (it destroys the silent
holder's session), so takeover does not wait for Consul's TTL timer (up to 2x TTL). A sampler
checks, every few milliseconds, that two electors never both may write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx
import pytest

from reconciler.consul.client import ConsulClient
from reconciler.engine.leader import LeaderElector, LeaderOptions, write_deadline
from reconciler.sandbox.consul import ConsulSandbox
from tests.sandbox.consul.fixtures import SandboxFactory, consul_sandbox_factory  # noqa: F401

SCALE = 0.5
TTL = 10.0
OPTIONS = LeaderOptions(identity="-", ttl=TTL, time_scale=SCALE)
# A crashed leader: silent for D, deposed, then the lock-delay and an acquire retry (engine/leader.py).
TAKEOVER = (OPTIONS.depose_after + OPTIONS.lock_delay + 0.5) * SCALE + 10.0  # plus slack for a loaded 2-core machine
pytestmark = pytest.mark.slow


async def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds it took for `condition` to hold; fails after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout:.1f}s")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


class Proxy:
    """A TCP relay to the sandbox that a test can cut, as a network partition would."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._relays: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._relays.add(task)
        self._writers.append(writer)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers.append(up_writer)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def cut(self) -> None:
        """Refuses new connections and drops the open ones; every socket is closed when it returns."""
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        for writer in self._writers:
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
        for task in list(self._relays):
            task.cancel()
        await asyncio.gather(*self._relays, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()


@dataclass
class Replica:
    name: str
    client: ConsulClient
    elector: LeaderElector
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.elector.run())

    async def crash(self) -> None:
        """Gone without a word: no release, no destroy (the session lives until its TTL)."""
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@dataclass
class Cluster:
    replicas: list[Replica] = field(default_factory=list)
    overlaps: int = 0
    samples: int = 0

    def leaders(self) -> list[str]:
        return [r.name for r in self.replicas if r.elector.may_write()]

    async def sample(self) -> None:
        while True:
            self.samples += 1
            if len(self.leaders()) > 1:
                self.overlaps += 1
            await asyncio.sleep(0.005)


def options(name: str) -> LeaderOptions:
    return LeaderOptions(identity=name, key="service/marathon-reconciler/leader", ttl=TTL, time_scale=SCALE)


@pytest.fixture
async def sandbox(consul_sandbox_factory: SandboxFactory) -> ConsulSandbox:  # noqa: F811
    return await consul_sandbox_factory(session_time_scale=SCALE)


@contextlib.asynccontextmanager
async def cluster_of(urls: list[str]) -> AsyncIterator[Cluster]:
    cluster = Cluster()
    for n, url in enumerate(urls):
        client = ConsulClient(url, retries=0, timeout=2.0)
        cluster.replicas.append(Replica(f"replica-{n}", client, LeaderElector(client, options(f"replica-{n}"))))
    for replica in cluster.replicas:
        replica.start()
    sampler = asyncio.create_task(cluster.sample())
    try:
        yield cluster
    finally:
        sampler.cancel()
        for replica in cluster.replicas:
            replica.elector.stop()
        for replica in cluster.replicas:
            if replica.task is not None and not replica.task.done():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(replica.task, 10)
            await replica.client.aclose()
    assert cluster.overlaps == 0, f"two writers in {cluster.overlaps} of {cluster.samples} samples"


async def one_leader(cluster: Cluster) -> Replica:
    await wait_for(lambda: len(cluster.leaders()) == 1, 15.0, "a leader elected")
    leader = next(r for r in cluster.replicas if r.elector.may_write())
    standby = next(r for r in cluster.replicas if r is not leader)
    await wait_for(lambda: standby.elector.holder == leader.name, 10.0, "the standby names the leader")
    return leader


async def test_one_leader_and_a_takeover_when_it_crashes(sandbox: ConsulSandbox) -> None:
    async with cluster_of([sandbox.url, sandbox.url]) as cluster:
        leader = await one_leader(cluster)
        await asyncio.sleep(TTL * SCALE * 1.5)  # several renewals: the leader keeps the lock
        assert cluster.leaders() == [leader.name]
        await leader.crash()
        standby = next(r for r in cluster.replicas if r is not leader)
        took = await wait_for(standby.elector.may_write, TAKEOVER, "the standby takes over")
        print(f"takeover after a crash: {took / SCALE:.1f} nominal seconds (TTL {TTL:.0f}s)")


async def test_a_leader_cut_off_from_consul_stops_writing_before_the_standby_starts(sandbox: ConsulSandbox) -> None:
    proxies = [Proxy(int(sandbox.url.rsplit(":", 1)[1])) for _ in range(2)]
    urls = [await proxy.start() for proxy in proxies]
    async with contextlib.AsyncExitStack() as stack:
        for proxy in proxies:
            stack.push_async_callback(proxy.cut)
        await cut_off_leader(proxies, urls)


async def cut_off_leader(proxies: list[Proxy], urls: list[str]) -> None:
    async with cluster_of(urls) as cluster:
        leader = await one_leader(cluster)
        standby = next(r for r in cluster.replicas if r is not leader)
        await proxies[cluster.replicas.index(leader)].cut()
        cut_at = time.monotonic()
        stopped = await wait_for(lambda: not leader.elector.may_write(), TTL * SCALE + 5, "the cut-off leader stops")
        # It stops by its own clock, W after its last beat: before the lock-delay could let anyone in.
        assert stopped < OPTIONS.write_window * SCALE + 1.0
        await wait_for(standby.elector.may_write, TAKEOVER, "the standby takes over")
        assert time.monotonic() - cut_at >= stopped  # the sampler saw no overlap on the way


async def test_a_destroyed_session_moves_the_lock_and_a_stop_hands_it_over(
    sandbox: ConsulSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="reconciler.leader")
    async with cluster_of([sandbox.url, sandbox.url]) as cluster, httpx.AsyncClient() as http:
        leader = await one_leader(cluster)
        standby = next(r for r in cluster.replicas if r is not leader)
        pair = (await http.get(f"{sandbox.url}/v1/kv/service/marathon-reconciler/leader")).json()[0]
        await http.put(f"{sandbox.url}/v1/session/destroy/{pair['Session']}")
        await wait_for(lambda: not leader.elector.may_write(), TTL * SCALE, "the leader learns it lost the lock")
        await wait_for(lambda: len(cluster.leaders()) == 1, TAKEOVER, "a leader again")
        current = next(r for r in cluster.replicas if r.elector.may_write())
        other = standby if current is leader else leader
        current.elector.stop()
        assert current.task is not None
        await asyncio.wait_for(current.task, 10)
        # A clean stop releases the lock: no waiting for a TTL.
        await wait_for(other.elector.may_write, TTL * SCALE + 5, "the other replica takes the released lock")
    events = [r.getMessage().split()[0] for r in caplog.records if r.getMessage().startswith("event=leader-")]
    # One loss (the destroyed session) and one release (the stop), each told as what it was.
    assert events.count("event=leader-lost") == 1 and events[-1] == "event=leader-released", events


async def test_an_idle_leader_costs_consul_its_beats_alone(sandbox: ConsulSandbox) -> None:
    # Its own blocking read of the key used to wake on each of its beats' writes: a third request per
    # beat, 0.4 req/s at TTL 15 s, for nothing a beat does not already tell it.
    requests: Counter[str] = Counter()
    client = ConsulClient(sandbox.url, retries=0, timeout=2.0,
                          on_request=lambda method, path: requests.update([f"{method} {path.split('/')[2]}"]))
    elector = LeaderElector(client, options("alone"))
    task = asyncio.create_task(elector.run())
    try:
        await wait_for(elector.may_write, 15.0, "the lone replica leads")
        requests.clear()
        await wait_for(lambda: requests["PUT session"] >= 4, 30.0, "four beats")
        assert elector.may_write()
        assert requests["PUT kv"] >= 3 and requests["GET kv"] <= 1, dict(requests)
    finally:
        elector.stop()
        await asyncio.wait_for(task, 10)
        await client.aclose()


def test_write_deadline_is_the_window_after_the_beat() -> None:
    assert write_deadline(100.0, 5.0) == 105.0


@pytest.mark.parametrize("ttl", [10.0, 15.0, 60.0, 600.0, 86400.0])
def test_the_timing_keeps_one_writer_and_fails_over_within_the_ttl(ttl: float) -> None:
    o = LeaderOptions(identity="-", ttl=ttl)
    # The old leader stops writing a margin before the lock-delay could let a new one in.
    assert o.write_window <= o.lock_delay - min(1.0, o.lock_delay / 6)
    # Two beats fit in the window: one lost beat does not stop a healthy leader.
    assert 2 * o.beat_every <= o.write_window
    # A standby does not depose a leader that merely missed one beat.
    assert o.depose_after > 2 * o.beat_every
    # Consul's bounds: LockDelay at most 60 s; a crashed leader is replaced within the TTL.
    assert 0 < o.lock_delay <= 60.0
    assert o.depose_after + o.lock_delay + 0.5 <= ttl
