"""The autoscaler's Prometheus reads against a server on loopback that accepts every connection, reads
the request and never answers (one query excepted, answered at once): the queries of a cycle run a few
at a time within one deadline, so 20 hung queries cost the cycle that deadline, not 20 client timeouts
one after another; each unanswered query could not be read (no scale-down on it), logged once per
reason; and the query that answers is read and decided on."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from reconciler.core.autoscale_policy import AutoscalePolicy, MetricKind, MetricTarget, TargetType
from reconciler.core.model import Actual, Desired
from reconciler.engine.autoscaling import Autoscaler, AutoscaleSources, QueryLimits
from reconciler.metrics.prometheus import PrometheusQueries
from tests.unit.consul.consul_world import actual_app, actual_of, desired_app, desired_of, task

APPS = 20
CLIENT_TIMEOUT = 5.0  # the controller's (cli/run_metrics.py METRICS_TIMEOUT): 20 in a row take 100 s
ANSWERED = "sum(rate(requests_total[1m]))"
STARTED = "2026-03-01T11:00:00.000Z"
ANSWER = {"status": "success", "data": {"resultType": "vector",
                                        "result": [{"metric": {}, "value": [1772366400, "500"]}]}}


@dataclass
class HungPrometheus:
    """Counts the queries it holds at once (the most at any time) and every query it was asked."""

    url: str = ""
    held: int = 0
    most_held: int = 0
    asked: int = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answers the one query on a kept-alive connection until another query comes on it."""
        try:
            while (query := await self._request(reader)) == ANSWERED:
                body = json.dumps(ANSWER).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)
                await writer.drain()
            if query is not None:
                await self._hold(reader)
        finally:
            writer.close()

    async def _request(self, reader: asyncio.StreamReader) -> str | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        self.asked += 1
        return parse_qs(urlsplit(head.split(b" ")[1].decode()).query).get("query", [""])[0]

    async def _hold(self, reader: asyncio.StreamReader) -> None:
        self.held += 1
        self.most_held = max(self.most_held, self.held)
        try:
            await reader.read()  # until the client gives up and closes
        finally:
            self.held -= 1


@pytest.fixture
async def hung() -> AsyncIterator[HungPrometheus]:
    prometheus = HungPrometheus()
    server = await asyncio.start_server(prometheus.serve, "127.0.0.1", 0)
    prometheus.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        yield prometheus
        server.close()
        with contextlib.suppress(Exception):
            await server.wait_closed()


def shop(queries: list[str]) -> tuple[Desired, Actual]:
    """An autoscaled app per query, each running 2 healthy tasks (min 1): a metric read low scales down."""
    wanted, observed = [], []
    for n, query in enumerate(queries):
        metric = MetricTarget(MetricKind.PROMETHEUS, 100, TargetType.AVERAGE_VALUE, query)
        app = replace(desired_app("shop", f"web{n}", instances=1, cpus=0.1, mem=32),
                      autoscale=AutoscalePolicy(min_instances=1, max_instances=10, metrics=(metric,)))
        tasks = [replace(task(app.app_id, i), started_at=STARTED) for i in range(2)]
        wanted.append(app)
        observed.append(replace(actual_app(app, tasks), instances=2))
    return desired_of(*wanted), actual_of(*observed)


async def test_hung_queries_cost_one_deadline_a_few_at_a_time_and_read_as_missing(
    hung: HungPrometheus, caplog: pytest.LogCaptureFixture
) -> None:
    queries = [ANSWERED, *(f"sum(rate(requests_total{{app=\"web{n}\"}}[1m]))" for n in range(1, APPS))]
    desired, actual = shop(queries)
    caplog.set_level(logging.DEBUG, logger="reconciler.engine")
    async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT) as client:
        scaler = Autoscaler(AutoscaleSources(prometheus=PrometheusQueries(client, hung.url)),
                            query_limits=QueryLimits(concurrency=4, deadline=1.0))
        async with asyncio.timeout(60):  # generous; one query after another would need 95 s
            first = await scaler.decide(desired, actual)
            second = await scaler.decide(desired, actual)
    assert hung.most_held == 4  # never more than the concurrency, and that many at once
    assert hung.asked < 2 * APPS  # the queue past the deadline was never sent
    by_app = {a.app_id: a for a in first.apps}
    answered = by_app.pop("/shop/web0")
    assert answered.instances == 4 and answered.metrics()[0]["current"] == 250  # 500 over 2 tasks: read, decided on
    assert all(a.instances == 2 and "could not be read" in a.reason for a in by_app.values())
    assert [a.instances for a in second.apps] == [a.instances for a in first.apps]
    failed = [r for r in caplog.records if "event=autoscale-query-failed" in r.getMessage()]
    warned = [r for r in failed if r.levelno == logging.WARNING]
    assert len(warned) == APPS - 1  # once per query and reason; the second cycle logs at DEBUG
    assert all("no answer within the 1s deadline" in r.getMessage() for r in warned)
    assert len(failed) == 2 * (APPS - 1)


def test_the_documented_limits_are_the_defaults() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "autoscaling.md").read_text()
    limits = QueryLimits()
    assert f"The queries run at most {limits.concurrency} at\n   once and all within {limits.deadline:g} s" in doc
    assert f"no answer within the {limits.deadline:g}s deadline of a cycle's queries" in doc
