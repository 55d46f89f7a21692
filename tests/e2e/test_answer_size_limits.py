"""The autoscaler's reads of servers it does not control, bounded in size as well as in time, against
servers on loopback over real HTTP: Mesos agents that stream an endless body, declare a huge one, or send
a small gzip that unpacks to 128 MiB, and a Prometheus that streams an endless answer. Before, each answer
was read whole into memory (until the pass's deadline cut an endless one off) and then parsed; now an
answer past its limit is given up as it comes: a read failure whose reason says so, logged once per
reason like the other read failures, the other agents read as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import pytest

from reconciler.answer_size import API_ANSWER_BYTES, MIB, AnswerTooLarge, read_bounded
from reconciler.consul.client import ConsulClient
from reconciler.consul.errors import UnexpectedShape
from reconciler.core.alerts import Alert, AlertKind, Severity
from reconciler.core.autoscale_policy import AutoscalePolicy, MetricKind, MetricTarget, TargetType
from reconciler.engine.autoscaling import Autoscaler, AutoscaleSources
from reconciler.engine.notify import Notifier, NotifyOptions
from reconciler.errors import RemoteRejected
from reconciler.marathon.client import MarathonClient
from reconciler.metrics.mesos import AgentLimits, MesosStatistics
from reconciler.metrics.prometheus import ANSWER_BYTES, PrometheusQueries
from reconciler.metrics.sources import TaskRef
from tests.e2e.test_autoscale_mesos_hung import _close, listen_on_one_port
from tests.unit.consul.consul_world import actual_app, actual_of, desired_app, desired_of, task
from tests.unit.engine.test_notify import Counts, until

ANSWERING, ENDLESS, DECLARED, BOMB = "127.0.0.40", "127.0.0.41", "127.0.0.42", "127.0.0.43"
STREAM_BOUND = 256 * MIB  # what an endless server sends at most, whether or not its client reads on
CHUNK = 64 * 1024
TIMESTAMP = 1772366400.0
QUERY = 'sum(rate(requests_total{app="web"}[1m]))'


def statistics(executor: str) -> bytes:
    return json.dumps([{"executor_id": executor, "statistics": {
        "timestamp": TIMESTAMP, "cpus_user_time_secs": 1.0, "cpus_system_time_secs": 0.5,
        "mem_rss_bytes": 64 * MIB}}]).encode()


@dataclass
class Servers:
    """Every host on one port: each answers its own way; `sent` counts the body bytes each wrote."""

    port: int = 0
    sent: dict[str, int] = field(default_factory=dict)
    open: int = 0
    bomb: bytes = b""

    async def idle(self) -> None:
        """Until every answer has ended (an endless one: its client gone)."""
        async with asyncio.timeout(60):
            while self.open:
                await asyncio.sleep(0.02)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host = writer.get_extra_info("sockname")[0]
        self.open += 1
        try:
            while True:  # every request of a kept-alive connection
                await reader.readuntil(b"\r\n\r\n")
                if host in (ENDLESS, "127.0.0.1"):
                    await self._endless(host, writer)
                    return
                if host == DECLARED:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: 1099511627776\r\n\r\n[")
                    await writer.drain()
                    return
                gzipped = host == BOMB
                body = self.bomb if gzipped else statistics("web.40")
                extra = b"Content-Encoding: gzip\r\n" if gzipped else b""
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + extra
                             + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
                self.sent[host] = self.sent.get(host, 0) + len(body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open -= 1
            writer.close()

    async def _endless(self, host: str, writer: asyncio.StreamWriter) -> None:
        """A chunked body of blanks after `[`, as fast as the client takes it (STREAM_BOUND at most)."""
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"1\r\n[\r\n")
        chunk = f"{CHUNK:x}\r\n".encode() + b" " * CHUNK + b"\r\n"
        for _ in range(STREAM_BOUND // CHUNK):
            writer.write(chunk)
            await writer.drain()
            self.sent[host] = self.sent.get(host, 0) + CHUNK


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    state = Servers(bomb=gzip.compress(b" " * (128 * MIB), compresslevel=9))
    listening, state.port = await listen_on_one_port([ANSWERING, ENDLESS, DECLARED, BOMB, "127.0.0.1"], state.serve)
    try:
        yield state
    finally:
        with contextlib.suppress(TimeoutError):
            await state.idle()
        await _close(listening)


def refs() -> list[TaskRef]:
    return [TaskRef(f"web.{host.rsplit('.', 1)[1]}", host) for host in (ANSWERING, ENDLESS, DECLARED, BOMB)]


async def test_agents_past_the_size_limit_are_not_read_and_said_why_once(
    servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="reconciler.metrics")
    limits = AgentLimits()
    async with httpx.AsyncClient(timeout=5) as client:
        source = MesosStatistics(client, port=servers.port)
        async with asyncio.timeout(60):
            first = await source.sample(refs())
            second = await source.sample(refs())
    await servers.idle()  # the client closed: every connection ends
    assert list(first) == list(second) == ["web.40"]  # the agent within the limit is read, every pass
    assert first["web.40"].mem == 64
    # given up near the limit (the kernel's buffers hold a few MiB more), not at the deadline or the bound
    assert servers.sent[ENDLESS] < 2 * 64 * MIB
    failed = [r.getMessage() for r in caplog.records if "event=agent-statistics-failed" in r.getMessage()]
    warned = [r.getMessage() for r in caplog.records
              if "event=agent-statistics-failed" in r.getMessage() and r.levelno == logging.WARNING]
    assert len(failed) == 6 and len(warned) == 3  # once per reason at WARNING, then at DEBUG
    for host in (ENDLESS, DECLARED, BOMB):
        (line,) = [m for m in warned if f"host={host} " in m]
        assert f"Mesos agent {host}: answer larger than 8 MiB" in line, line
    assert limits.answer_bytes == 8 * MIB


async def test_a_prometheus_answer_past_the_limit_is_a_query_not_read(
    servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    """Through the autoscaler's pass, beside an agent read: the query could not be read (no scale-down on
    it), logged once as autoscale-query-failed with the reason; the agent is read as before."""
    caplog.set_level(logging.DEBUG, logger="reconciler.engine")
    metrics = (MetricTarget(MetricKind.CPU, 0.5, TargetType.UTILIZATION),
               MetricTarget(MetricKind.PROMETHEUS, 100, TargetType.AVERAGE_VALUE, QUERY))
    app = replace(desired_app("shop", "web", instances=1, cpus=0.1, mem=32),
                  autoscale=AutoscalePolicy(min_instances=1, max_instances=10, metrics=metrics))
    tasks = [replace(task(app.app_id, 0), host=ANSWERING)]
    desired, actual = desired_of(app), actual_of(replace(actual_app(app, tasks), instances=1))
    async with httpx.AsyncClient(timeout=5) as client:
        prometheus = PrometheusQueries(client, f"http://127.0.0.1:{servers.port}")
        scaler = Autoscaler(AutoscaleSources(MesosStatistics(client, port=servers.port), prometheus))
        async with asyncio.timeout(60):
            for _ in range(2):
                (decided,) = (await scaler.decide(desired, actual)).apps
    await servers.idle()
    assert decided.instances == 1
    assert servers.sent["127.0.0.1"] < ANSWER_BYTES + 64 * MIB
    failed = [r for r in caplog.records if "event=autoscale-query-failed" in r.getMessage()]
    assert [r.levelno for r in failed] == [logging.WARNING, logging.DEBUG]
    assert failed[0].args == (QUERY, f"Prometheus query {QUERY!r}: answer larger than 32 MiB")


@pytest.mark.parametrize(("size", "read"), [(1000, True), (1001, False)])
async def test_an_answer_of_exactly_the_limit_is_read_one_byte_more_is_not(size: int, read: bool) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await reader.readuntil(b"\r\n\r\n")
            # chunked, so that no Content-Length tells the size before the bytes do
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for piece in (b"x" * (size - 1), b"x"):
                writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(timeout=5) as client, client.stream("GET", f"http://127.0.0.1:{port}/") as answer:
            if read:
                assert await read_bounded(answer, 1000) == b"x" * size
            else:
                with pytest.raises(AnswerTooLarge, match=r"^answer larger than 0\.000953674 MiB$"):
                    await read_bounded(answer, 1000)
    finally:
        await _close([server])


@dataclass
class Api:
    """A Marathon or Consul on loopback: the paths in `endless` stream an endless answer, the others `[]`."""

    endless: tuple[str, ...]
    status: bytes = b"200 OK"  # of the endless answers
    asked: list[str] = field(default_factory=list)
    sent: int = 0
    url: str = ""

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode().split("?")[0]
                self.asked.append(path)
                if path in self.endless:
                    writer.write(b"HTTP/1.1 " + self.status + b"\r\nContent-Type: application/json\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n1\r\n[\r\n")
                    chunk = f"{CHUNK:x}\r\n".encode() + b" " * CHUNK + b"\r\n"
                    for _ in range(STREAM_BOUND // CHUNK):
                        writer.write(chunk)
                        await writer.drain()
                        self.sent += CHUNK
                    return
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Consul-Index: 7\r\n"
                             b"Content-Length: 2\r\n\r\n[]")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def api(*endless: str, status: bytes = b"200 OK") -> AsyncIterator[Api]:
    state = Api(endless, status)
    server = await asyncio.start_server(state.serve, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield state
    finally:
        await _close([server])


async def test_a_marathon_answer_past_the_limit_is_an_error_naming_the_call_and_is_not_retried() -> None:
    async with api("/v2/apps") as marathon, MarathonClient(marathon.url, answer_bytes=MIB) as client:
        assert await client.get_deployments() == []  # an answer within the limit: read as before
        with pytest.raises(RemoteRejected, match=r"GET /v2/apps.*answer larger than 1 MiB") as refused:
            async with asyncio.timeout(60):
                await client.get_apps()
    assert refused.value.hint is not None and "14 MB" in refused.value.hint
    assert marathon.asked == ["/v2/deployments", "/v2/apps"]  # not retried: the same answer would come again
    assert marathon.sent < STREAM_BOUND // 4


async def test_a_consul_answer_past_the_limit_is_an_error_naming_the_call_and_is_not_retried() -> None:
    async with api("/v1/health/state/any") as consul:
        client = ConsulClient(consul.url, answer_bytes=MIB, backoff=0.01)
        try:
            assert (await client.get_health_service("web"))[0] == []  # within the limit: read as before
            with pytest.raises(UnexpectedShape, match=r"GET /v1/health/state/any: answer larger than 1 MiB"):
                async with asyncio.timeout(60):
                    await client.get_health_state()
        finally:
            await client.aclose()
    assert consul.asked == ["/v1/health/service/web", "/v1/health/state/any"]
    assert consul.sent < STREAM_BOUND // 4


async def test_a_marathon_event_past_the_limit_ends_the_stream_with_an_error_naming_it() -> None:
    """An event line that never ends: before, held whole however long it grew (a trigger source's error
    restarts the stream: engine/controller.py, _watch)."""
    async with api("/v2/events") as marathon, MarathonClient(marathon.url, answer_bytes=MIB) as client:
        seen: list[str] = []
        with pytest.raises(RemoteRejected, match=r"GET /v2/events: answer larger than 1 MiB"):
            async with asyncio.timeout(60):
                async for event_type in client.stream_event_types(opened="opened"):
                    seen.append(event_type)
    assert seen == ["opened"] and marathon.sent < STREAM_BOUND // 4


async def test_a_refusal_of_the_event_stream_past_the_limit_is_an_error_naming_it() -> None:
    """The body of an error status the stream answers (a proxy's page, say): before, read whole."""
    async with api("/v2/events", status=b"503 Service Unavailable") as marathon, \
            MarathonClient(marathon.url, answer_bytes=MIB) as client:
        with pytest.raises(RemoteRejected, match=r"GET /v2/events: answer larger than 1 MiB"):
            async with asyncio.timeout(60):
                async for _ in client.stream_event_types():
                    pass
    assert marathon.sent < STREAM_BOUND // 4


async def test_the_notifier_reads_only_the_status_of_a_receiver_s_answer() -> None:
    """Before, the receiver's whole answer was read (here 256 MiB) before its status was looked at."""
    async with api("/hook") as hook:
        counts = Counts()
        notifier = Notifier(NotifyOptions(f"{hook.url}/hook"), counts)
        task = asyncio.create_task(notifier.run())
        try:
            notifier.update("cycle", [Alert(AlertKind.CRASH_LOOP, "/shop/web", Severity.CRITICAL, "crash", "")])
            await until(lambda: counts.seen == [("crash-loop", "sent")], "the notification sent", timeout=60)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert hook.asked == ["/hook"] and hook.sent < STREAM_BOUND // 4


def test_the_documented_limits_are_the_defaults() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs"
    doc = " ".join((docs / "autoscaling.md").read_text().split())
    assert f"an agent's answer up to {AgentLimits().answer_bytes // MIB} MiB" in doc
    assert f"a query's answer up to {ANSWER_BYTES // MIB} MiB" in doc
    controller = " ".join((docs / "controller.md").read_text().split())
    assert f"An answer of Marathon or Consul larger than {API_ANSWER_BYTES // MIB} MiB" in controller
