"""The autoscaler's Mesos agent reads against agents on loopback (127.0.0.10 to .20, one port) that accept
the request and trickle their answer a byte every 0.2 s, one agent excepted (it answers at once): a
client's read timeout never trips on a trickle, so before, one such agent held the autoscaler's pass, and
with it the cycle's plan, heals and writes, for as long as it trickled. Now the agents are read a few at a
time within one deadline; each agent without an answer by then is not read (its tasks have no sample),
logged once per reason, and logged again once it answers. The agents are read beside the Prometheus
queries, not before them, so the pass costs one deadline, not two. And `reconciler run` in a subprocess,
every agent of the sandbox trickling: its cycle plans and writes after the deadline."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import pytest

from reconciler.core.autoscale_policy import AutoscalePolicy, MetricKind, MetricTarget, TargetType
from reconciler.engine.autoscaling import Autoscaler, AutoscaleSources, QueryLimits
from reconciler.metrics.mesos import AgentLimits, MesosStatistics
from reconciler.metrics.prometheus import PrometheusQueries
from reconciler.metrics.sources import TaskRef
from reconciler.sandbox.marathon import MarathonSandbox
from tests.e2e.cli import run_cli
from tests.e2e.test_autoscale_prometheus_hung import STARTED, HungPrometheus, hung  # noqa: F401
from tests.sandbox.marathon.fixtures import fast_config
from tests.unit.consul.consul_world import actual_app, actual_of, desired_app, desired_of, task

ANSWERING = "127.0.0.10"
TRICKLING = [f"127.0.0.{n}" for n in range(11, 21)]
CLIENT_TIMEOUT = 5.0  # the controller's (cli/run_metrics.py METRICS_TIMEOUT): never reached by a trickle
MIB = 1024 * 1024
DEADLINE = 2.0
QUERY = 'sum(rate(requests_total{app="web"}[1m]))'  # HungPrometheus holds every query but its ANSWERED one


@dataclass
class Agents:
    """Agents on one port: ANSWERING answers at once, the others trickle while `trickle` is set."""

    port: int = 0
    trickle: bool = True
    held: int = 0
    most_held: int = 0
    asked: list[str] = field(default_factory=list)
    holding: asyncio.Event = field(default_factory=asyncio.Event)  # set while an agent trickles

    async def idle(self) -> None:
        """Until every trickle has seen its client gone (at its next byte or two)."""
        async with asyncio.timeout(30):
            while self.held:
                await asyncio.sleep(0.05)

    def statistics(self, host: str) -> bytes:
        executor = f"web.{host.rsplit('.', 1)[1]}"
        return json.dumps([{"executor_id": executor, "statistics": {
            "timestamp": 1772366400.0, "cpus_user_time_secs": 1.0, "cpus_system_time_secs": 0.5,
            "mem_rss_bytes": 64 * MIB}}]).encode()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host = writer.get_extra_info("sockname")[0]
        try:
            while True:  # every request of a kept-alive connection, until one trickles
                await reader.readuntil(b"\r\n\r\n")
                self.asked.append(host)
                if host != ANSWERING and self.trickle:
                    await self._trickle(writer)
                    return
                body = self.statistics(host)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _trickle(self, writer: asyncio.StreamWriter) -> None:
        """A head promising a long body, then a byte every 0.2 s (bounded: 10 minutes at most)."""
        self.held += 1
        self.most_held = max(self.most_held, self.held)
        self.holding.set()
        try:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n[")
            for _ in range(3000):
                await writer.drain()
                await asyncio.sleep(0.2)
                writer.write(b" ")
        finally:
            self.held -= 1
            if self.held == 0:
                self.holding.clear()


@pytest.fixture
async def agents() -> AsyncIterator[Agents]:
    state = Agents()
    servers, state.port = await listen_on_one_port([ANSWERING, *TRICKLING], state.serve)
    try:
        yield state
    finally:
        await state.idle()  # the trickles see their clients gone: none is cut off mid-write by the loop's end
        await _close(servers)


async def listen_on_one_port(
    hosts: list[str], serve: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
) -> tuple[list[asyncio.Server], int]:
    """Servers on every host, one port for all (as the agents' --agent-port)."""
    for _ in range(5):  # another process may hold the port on one of the addresses: take another port
        servers: list[asyncio.Server] = []
        try:
            servers.append(await asyncio.start_server(serve, hosts[0], 0))
            port = servers[0].sockets[0].getsockname()[1]
            for host in hosts[1:]:
                servers.append(await asyncio.start_server(serve, host, port))
        except OSError:
            await _close(servers)
            continue
        return servers, port
    raise AssertionError(f"no port free on every one of {hosts}")


async def _close(servers: list[asyncio.Server]) -> None:
    for server in servers:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 5)


def refs() -> list[TaskRef]:
    return [TaskRef(f"web.{host.rsplit('.', 1)[1]}", host) for host in [ANSWERING, *TRICKLING]]


async def test_trickling_agents_cost_one_deadline_a_few_at_a_time_and_are_not_read(
    agents: Agents, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="reconciler.metrics")
    async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT) as client:
        source = MesosStatistics(client, port=agents.port, limits=AgentLimits(concurrency=4, deadline=DEADLINE))
        async with asyncio.timeout(60):  # generous; before, the first pass never ended
            first = await source.sample(refs())
            await agents.idle()
            second = await source.sample(refs())
            await agents.idle()
            agents.trickle = False
            third = await source.sample(refs())
    assert agents.most_held == 4  # never more than the concurrency, and that many at once
    # Each trickling pass: the answering agent, then 4 trickling ones; the 6 queued past the deadline never asked.
    assert agents.asked == 2 * [ANSWERING, *TRICKLING[:4]] + [ANSWERING, *TRICKLING]
    assert list(first) == list(second) == ["web.10"]  # the agent that answered is read, the others are not
    assert first["web.10"].mem == 64 and first["web.10"].cpu is None  # a first reading: memory only
    assert sorted(third) == sorted(r.task_id for r in refs())  # answering again: read again
    failed = [r for r in caplog.records if "event=agent-statistics-failed" in r.getMessage()]
    warned = [r for r in failed if r.levelno == logging.WARNING]
    assert sorted(r.getMessage().split("host=")[1].split()[0] for r in warned) == sorted(TRICKLING)  # once each
    assert all(f"no answer within the {DEADLINE:g}s deadline of a cycle's agent reads" in r.getMessage()
               for r in warned)
    assert len(failed) == 2 * len(TRICKLING)  # the second pass at DEBUG
    read_again = [r for r in caplog.records if "event=agent-statistics-read" in r.getMessage()]
    assert len(read_again) == len(TRICKLING) and all(r.levelno == logging.INFO for r in read_again)


async def test_agents_are_read_beside_the_prometheus_queries(
    agents: Agents, hung: HungPrometheus,  # noqa: F811
) -> None:
    metrics = (MetricTarget(MetricKind.CPU, 0.5, TargetType.UTILIZATION),
               MetricTarget(MetricKind.PROMETHEUS, 100, TargetType.AVERAGE_VALUE, QUERY))
    app = replace(desired_app("shop", "web", instances=1, cpus=0.1, mem=32),
                  autoscale=AutoscalePolicy(min_instances=1, max_instances=10, metrics=metrics))
    tasks = [replace(task(app.app_id, 0), host=TRICKLING[0], started_at=STARTED)]
    desired, actual = desired_of(app), actual_of(replace(actual_app(app, tasks), instances=1))
    both_held = False

    async def watch() -> None:
        nonlocal both_held
        while not both_held:
            await agents.holding.wait()
            both_held = hung.held > 0 and agents.held > 0
            await asyncio.sleep(0.01)

    async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT) as client:
        sources = AutoscaleSources(MesosStatistics(client, port=agents.port, limits=AgentLimits(deadline=DEADLINE)),
                                   PrometheusQueries(client, hung.url))
        scaler = Autoscaler(sources, query_limits=QueryLimits(deadline=DEADLINE))
        watcher = asyncio.create_task(watch())
        try:
            async with asyncio.timeout(60):
                (decided,) = (await scaler.decide(desired, actual)).apps
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
    assert both_held  # before: the queries were sent only once every agent read had ended
    assert decided.instances == 1 and decided.reason.startswith("no change: no samples for the running tasks")


def test_the_documented_limits_are_the_defaults() -> None:
    doc = " ".join((Path(__file__).resolve().parents[2] / "docs" / "autoscaling.md").read_text().split())
    limits = AgentLimits()
    assert f"The agents are read at most {limits.concurrency} at once and all within {limits.deadline:g} s" in doc
    assert f"no answer within the {limits.deadline:g}s deadline of a cycle's agent reads" in doc
    assert f"cost a cycle {max(limits.deadline, QueryLimits().deadline):g} s at most" in doc


SHOP = """apiVersion: reconciler/v1
kind: Environment
name: shop
apps:
  web:
    cmd: serve
    cpus: 0.1
    mem: 32
    autoscale: {min: 2, max: 4, metrics: [{cpu: 70%}]}
  api:
    cmd: serve
    cpus: 0.1
    mem: 32
    instances: 1
"""


async def _trickle_forever(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Every agent of the sandbox as a trickling one: a head, then a byte every 0.2 s (10 minutes at most)."""
    try:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n[")
        for _ in range(3000):
            await writer.drain()
            await asyncio.sleep(0.2)
            writer.write(b" ")
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


@pytest.mark.slow
async def test_a_cycle_of_reconciler_run_is_not_held_by_trickling_agents(tmp_path: Path) -> None:
    """`reconciler run` in a subprocess against the sandbox, every agent's statistics trickling: the cycle
    reads the agents for 10 s at most, then plans and writes (here: api scaled back to its 1 instance after
    someone scaled it by hand). Before, the cycle waited for the agents' answers, never to come."""
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "shop.yaml").write_text(SHOP)
    async with MarathonSandbox(fast_config(agents=2)) as sandbox, httpx.AsyncClient(timeout=10) as http:
        applied = await run_cli("apply", str(tmp_path / "specs"), marathon=sandbox.url)
        assert applied.code == 0, applied.output
        await sandbox.wait_idle()
        assert (await http.put(f"{sandbox.url}/v2/apps/shop/api", json={"instances": 3})).status_code == 200
        await sandbox.wait_idle()
        hosts = sorted({t["host"] for t in (await http.get(f"{sandbox.url}/v2/tasks")).json()["tasks"]})
        servers, port = await listen_on_one_port(hosts, _trickle_forever)
        try:
            result = await run_cli("--log-level", "info", "run", "--no-consul", str(tmp_path / "specs"), "--cycles",
                                   "1", "--agent-port", str(port), marathon=sandbox.url, timeout=90)
        finally:
            await _close(servers)
        api = (await http.get(f"{sandbox.url}/v2/apps/shop/api")).json()["app"]
    assert result.code == 0, result.output
    limits = AgentLimits()
    assert f"no answer within the {limits.deadline:g}s deadline of a cycle's agent reads" in result.output
    assert api["instances"] == 1  # the cycle's write went out after the agents' deadline
