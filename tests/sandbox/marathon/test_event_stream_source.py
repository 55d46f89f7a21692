"""The `/v2/events` stream checked against Marathon's source (mesosphere/marathon master @ 90619da70d79,
`src/main/scala/mesosphere/marathon/...`) and the Jetty servlet it extends (jetty-servlets 9.4.8,
`org.eclipse.jetty.servlets.EventSourceServlet`): keep-alive period and form, response headers, and what a
client sees when the leader abdicates.
"""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest

from reconciler.sandbox.marathon import MarathonSandbox, MarathonSandboxConfig
from tests.sandbox.marathon.fixtures import fast_config

SSE = {"Accept": "text/event-stream"}


def test_the_keep_alive_period_is_jettys_ten_seconds_unless_a_test_shortens_it() -> None:
    # EventSourceServlet: `heartBeatPeriod = 10` (seconds; HttpBindings adds HttpEventStreamServlet with no
    # init parameter). The test below checks the heartbeat's form and schedule at a shorter period.
    assert MarathonSandboxConfig().event_stream_keepalive_seconds == 10.0
    assert fast_config().event_stream_keepalive_seconds == 10.0
    for period in (0.0, -1.0):
        with pytest.raises(ValueError, match="event_stream_keepalive_seconds must be above 0"):
            MarathonSandbox(fast_config(event_stream_keepalive_seconds=period))


async def test_keep_alive_is_a_bare_crlf_every_period_from_the_opening_even_while_events_flow() -> None:
    # EventSourceEmitter.run writes '\r' then '\n' and reschedules itself; the schedule starts when the
    # stream opens (doGet -> scheduleHeartBeat) and events do not postpone it. The period is 3 s here
    # instead of Jetty's 10 s (checked above); events flow ten times a period for three periods.
    period = 3.0
    loop = asyncio.get_running_loop()

    async with MarathonSandbox(fast_config(event_stream_keepalive_seconds=period)) as sandbox:
        bus = sandbox.state.bus

        async def chatter() -> None:
            for _ in range(30):  # bounded: one event every period / 10 for at most 3 periods
                bus.publish("framework_message_event", {"message": "tick"})
                await asyncio.sleep(period / 10)

        async with (
            httpx.AsyncClient(timeout=30.0) as client,
            client.stream("GET", f"{sandbox.url}/v2/events", headers=SSE) as stream,
        ):
            opened = loop.time()
            noise = asyncio.create_task(chatter())
            try:
                previous, beat_at = "", None
                frames = 0
                async with asyncio.timeout(25.0):
                    async for line in stream.aiter_lines():
                        if line == "" and previous == "":
                            beat_at = loop.time() - opened
                            break
                        if line == "":
                            frames += 1
                        previous = line
            finally:
                noise.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await noise
    assert beat_at is not None, "no keep-alive while events flowed"
    assert frames >= 5, "events flowed while waiting for the keep-alive"
    assert 0.9 * period <= beat_at < 2 * period, beat_at  # a beat the events postponed comes after 4 periods


async def test_the_stream_answers_utf8_event_stream_and_closes_the_connection(
    marathon_sandbox: MarathonSandbox,
) -> None:
    # EventSourceServlet.respond: status 200, character encoding UTF-8, content type text/event-stream,
    # header `Connection: close` (the connection ends with the stream).
    async with (
        httpx.AsyncClient(timeout=10.0) as client,
        client.stream("GET", f"{marathon_sandbox.url}/v2/events", headers=SSE) as stream,
    ):
        assert stream.status_code == 200
        mime, _, params = stream.headers["content-type"].partition(";")
        assert mime.strip() == "text/event-stream"
        assert params.replace(" ", "").lower() == "charset=utf-8"
        assert stream.headers["connection"].lower() == "close"


async def test_abdication_ends_every_event_stream_half_a_second_later(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    # LeaderResource.delete schedules ElectionService.abdicateLeadership after abdicationDelay (500 ms);
    # on LeadershipTransition.Standby HttpEventStreamActor.handleLeadership removes every handle (its
    # HttpEventStreamHandleActor.postStop closes the emitter) and ElectionServiceImpl crashes the process.
    # Either way an attached client sees its stream end; it reconnects to the next leader.
    async with (
        httpx.AsyncClient(timeout=10.0) as client,
        client.stream("GET", f"{marathon_sandbox.url}/v2/events", headers=SSE) as stream,
    ):
        lines = stream.aiter_lines()
        assert await anext(lines) == "event: event_stream_attached"
        abdicated = await api.delete("/v2/leader")
        assert abdicated.json() == {"message": "Leadership abdicated"}
        async with asyncio.timeout(8.0):
            rest = [line async for line in lines]
    assert not any(line.startswith("event: ") for line in rest), rest
    # The sandbox is the only candidate: it leads again and a new stream attaches.
    async with (
        httpx.AsyncClient(timeout=10.0) as client,
        client.stream("GET", f"{marathon_sandbox.url}/v2/events", headers=SSE) as stream,
    ):
        assert await anext(stream.aiter_lines()) == "event: event_stream_attached"


async def test_failed_health_check_event_names_the_instance_under_task_id(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    # core/event/Events.scala FailedHealthCheck(appId, instanceId, healthCheck) and
    # api/v2/json/Formats.FailedHealthCheckWrites: {appId, eventType, healthCheck, taskId: <instance id>,
    # timestamp}; no `instanceId`, no `version`.
    check = {"protocol": "MESOS_TCP", "gracePeriodSeconds": 0, "intervalSeconds": 1, "maxConsecutiveFailures": 5}
    app = {"id": "/f", "cmd": "run", "cpus": 0.1, "mem": 16, "instances": 1, "healthChecks": [check]}
    assert (await api.post("/v2/apps", json=app)).status_code == 201
    await marathon_sandbox.wait_idle()
    [task] = marathon_sandbox.state.all_tasks()
    await marathon_sandbox.set_task_health(task.id, False)
    bus = marathon_sandbox.state.bus

    def failures() -> list[dict[str, object]]:
        return [e for e in bus.history if e["eventType"] == "failed_health_check_event"]

    deadline = asyncio.get_running_loop().time() + 10.0
    while not failures():
        assert asyncio.get_running_loop().time() < deadline, "no failed_health_check_event"
        await asyncio.sleep(0.01)
    event = failures()[0]
    assert set(event) == {"appId", "eventType", "healthCheck", "taskId", "timestamp"}
    assert (event["appId"], event["taskId"]) == ("/f", task.instance_id)
    assert event["healthCheck"]["protocol"] == "MESOS_TCP"
