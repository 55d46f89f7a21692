"""The metrics adapters against answers shaped like the real servers' (httpx.MockTransport):
Mesos agent `/monitor/statistics` (CPU rate between two readings, memory from RSS) and Prometheus
`/api/v1/query` (vector summed, scalar, failures as unreadable)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from reconciler.errors import RemoteUnavailable
from reconciler.metrics.mesos import MIB, MesosStatistics
from reconciler.metrics.prometheus import PrometheusQueries
from reconciler.metrics.sources import TaskRef


def executor(task_id: str, timestamp: float, user: float, system: float, rss: int) -> dict[str, object]:
    """One entry of `/monitor/statistics` as a Mesos agent sends it (mesos.proto ResourceStatistics)."""
    return {
        "executor_id": task_id,
        "executor_name": f"Command Executor (Task: {task_id})",
        "framework_id": "20150101-000000-0000000000-0000",
        "source": task_id,
        "statistics": {
            "cpus_limit": 1.1,
            "cpus_system_time_secs": system,
            "cpus_user_time_secs": user,
            "mem_limit_bytes": 545259520,
            "mem_rss_bytes": rss,
            "timestamp": timestamp,
        },
    }


def client_for(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_cpu_is_the_rate_between_two_readings_and_mem_the_rss() -> None:
    answers = [
        [executor("web.1", 1000.0, 10.0, 2.0, 100 * MIB), executor("other.9", 1000.0, 1.0, 1.0, MIB)],
        [executor("web.1", 1010.0, 14.0, 3.0, 120 * MIB)],
    ]
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json=answers.pop(0))

    async with client_for(handler) as client:
        source = MesosStatistics(client)
        first = await source.sample([TaskRef("web.1", "127.0.0.2")])
        second = await source.sample([TaskRef("web.1", "127.0.0.2")])
    assert seen == ["http://127.0.0.2:5051/monitor/statistics"] * 2
    assert set(first) == {"web.1"} and first["web.1"].cpu is None and first["web.1"].mem == 100.0
    assert second["web.1"].cpu == pytest.approx(0.5) and second["web.1"].window == 10.0
    assert second["web.1"].mem == 120.0 and second["web.1"].at == 1010.0


async def test_a_restarted_executor_gives_no_cpu_rather_than_a_negative_one() -> None:
    answers = [[executor("web.1", 1000.0, 50.0, 5.0, MIB)], [executor("web.1", 1010.0, 1.0, 0.0, MIB)]]
    async with client_for(lambda request: httpx.Response(200, json=answers.pop(0))) as client:
        source = MesosStatistics(client)
        await source.sample([TaskRef("web.1", "127.0.0.2")])
        assert (await source.sample([TaskRef("web.1", "127.0.0.2")]))["web.1"].cpu is None


async def test_an_agent_that_fails_is_unavailable() -> None:
    async with client_for(lambda request: httpx.Response(503)) as client:
        with pytest.raises(RemoteUnavailable):
            await MesosStatistics(client).get_statistics("127.0.0.2")


async def test_an_agent_that_fails_leaves_only_its_own_tasks_without_a_sample() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "127.0.0.3":
            return httpx.Response(503)
        return httpx.Response(200, json=[executor("web.1", 1000.0, 1.0, 0.0, MIB)])

    async with client_for(handler) as client:
        samples = await MesosStatistics(client).sample([TaskRef("web.1", "127.0.0.2"), TaskRef("web.2", "127.0.0.3")])
    assert set(samples) == {"web.1"}


def prometheus(body: object, status: int = 200) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/query"
        return httpx.Response(status, content=json.dumps(body))

    return handler


VECTOR = {
    "status": "success",
    "data": {
        "resultType": "vector",
        "result": [
            {"metric": {"task": "a"}, "value": [1700000000.0, "12.5"]},
            {"metric": {"task": "b"}, "value": [1700000000.0, "7.5"]},
        ],
    },
}


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        (VECTOR, 200, 20.0),
        ({"status": "success", "data": {"resultType": "vector", "result": []}}, 200, None),  # no series: unread
        ({"status": "success", "data": {"resultType": "scalar", "result": [1700000000.0, "3"]}}, 200, 3.0),
        ({"status": "error", "errorType": "bad_data", "error": "parse error"}, 400, None),
        ({"status": "success", "data": {"resultType": "matrix", "result": []}}, 200, None),
        ({"status": "success", "data": {"resultType": "scalar", "result": [1700000000.0, "NaN"]}}, 200, None),
        ({}, 500, None),
    ],
)
async def test_prometheus_queries(body: object, status: int, expected: float | None) -> None:
    async with client_for(prometheus(body, status)) as client:
        queries = PrometheusQueries(client, "http://127.0.0.1:9090/")
        assert await queries.query("sum(rate(x[1m]))") == expected
        assert (queries.last_error is None) == (expected is not None)
