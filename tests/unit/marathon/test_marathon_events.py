"""The `/v2/events` stream: SSE framing edge cases, event parsing, and the client's stream over MockTransport.

Frames are written from FACTS.md §10: `event: <type>` CRLF `data: <one-line JSON>` CRLF CRLF, with
keep-alive blank lines, `?event_type=` filters, and a 302 from a standby (1.7+).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from reconciler.answer_size import AnswerTooLarge
from reconciler.errors import RemoteRejected, RemoteUnavailable
from reconciler.marathon import MarathonAuth, MarathonClient, Timeouts
from reconciler.marathon.sse import (
    Frame,
    LineSplitter,
    SseDecoder,
    alines,
    decode_lines,
    event_type_of,
    to_event,
)

STATUS_UPDATE = {
    "slaveId": "agent-1",
    "taskId": "integration_redis.instance-0a1b2c3d._app.1",
    "taskStatus": "TASK_RUNNING",
    "appId": "/integration/redis",
    "host": "127.0.0.2",
    "ports": [31005],
    "version": "2024-05-01T10:00:00.000Z",
    "eventType": "status_update_event",
    "timestamp": "2024-05-01T10:00:02.000Z",
}
ATTACHED = {"remoteAddress": "127.0.0.1", "eventType": "event_stream_attached", "timestamp": "2024-05-01T10:00:00.000Z"}


def frame_text(event: str, payload: dict[str, object], newline: str = "\r\n") -> str:
    return f"event: {event}{newline}data: {json.dumps(payload)}{newline}{newline}"


def frames_of(text: str) -> list[Frame]:
    return list(decode_lines(text.splitlines()))


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"])
def test_frames_with_any_line_ending(newline: str) -> None:
    text = frame_text("event_stream_attached", ATTACHED, newline) + frame_text(
        "status_update_event", STATUS_UPDATE, newline
    )
    frames = frames_of(text)
    assert [f.event for f in frames] == ["event_stream_attached", "status_update_event"]
    assert json.loads(frames[1].data)["taskId"] == STATUS_UPDATE["taskId"]


def test_keep_alive_blank_lines_and_comments_produce_nothing() -> None:
    text = "\r\n\r\n: keep-alive\r\n\r\n" + frame_text("status_update_event", STATUS_UPDATE) + "\r\n\r\n\r\n"
    assert [f.event for f in frames_of(text)] == ["status_update_event"]


def test_multi_line_data_is_joined_with_newlines() -> None:
    text = 'event: deployment_success\ndata: {"id": "d-1",\ndata:  "eventType": "deployment_success"}\n\n'
    (frame,) = frames_of(text)
    assert frame.data == '{"id": "d-1",\n "eventType": "deployment_success"}'
    assert json.loads(frame.data)["id"] == "d-1"


def test_a_stray_blank_line_between_event_and_data_keeps_the_event_name() -> None:
    text = "event: group_change_success\n\n\ndata: " + json.dumps({"groupId": "/integration"}) + "\n\n"
    (frame,) = frames_of(text)
    assert frame.event == "group_change_success"


def test_data_without_event_name_is_a_message_and_the_name_resets() -> None:
    decoder = SseDecoder()
    results = [decoder.feed(line) for line in ["event: a", "data: 1", "", "data:2", ""]]
    assert [r for r in results if r] == [Frame("a", "1"), Frame("message", "2")]


def test_unterminated_frame_at_the_end_is_not_delivered() -> None:
    assert frames_of("event: a\ndata: {}") == []


def test_event_type_comes_from_the_payload_or_the_frame() -> None:
    named = to_event(Frame("status_update_event", json.dumps(STATUS_UPDATE)))
    assert named is not None and named.event_type == "status_update_event" and named.app_id == "/integration/redis"
    bare = to_event(Frame("app_terminated_event", json.dumps({"appId": "/integration/web", "timestamp": "t"})))
    assert bare is not None and bare.event_type == "app_terminated_event" and bare.app_id == "/integration/web"


def test_instance_changed_event_names_its_app_by_run_spec_id() -> None:
    payload = {
        "instanceId": "web.marathon-1",
        "condition": "Killed",
        "runSpecId": "/integration/web",
        "eventType": "instance_changed_event",
    }
    event = to_event(Frame("instance_changed_event", json.dumps(payload)))
    assert event is not None and event.app_id == "/integration/web" and event.instance_id == "web.marathon-1"
    assert event.model_extra is not None and event.model_extra["condition"] == "Killed"


def test_unreadable_data_is_skipped_with_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="reconciler.marathon")
    assert to_event(Frame("status_update_event", "{not json")) is None
    assert to_event(Frame("status_update_event", "[1, 2]")) is None
    assert [r.getMessage().split()[0] for r in caplog.records] == ["event_skipped", "event_skipped"]


def lines_of(data: bytes, size: int) -> list[str]:
    splitter = LineSplitter()
    return [line for start in range(0, len(data), size) for line in splitter.feed(data[start : start + size])]


@pytest.mark.parametrize("size", [1, 2, 3, 1000])
def test_lines_split_at_crlf_lf_or_cr_however_the_chunks_fall(size: int) -> None:
    data = b"a\r\nb\nc\rd\r\n\r\ne\r\rf\n"
    assert lines_of(data, size) == ["a", "b", "c", "d", "", "e", "", "f"]


def test_lines_do_not_split_inside_json_text_at_other_unicode_line_ends() -> None:
    payload = {"eventType": "status_update_event", "appId": "/a", "note": "x\u2028y\x85z\x0cw"}
    data = f"event: status_update_event\r\ndata: {json.dumps(payload, ensure_ascii=False)}\r\n\r\n".encode()
    (frame,) = decode_lines(lines_of(data, 5))
    assert json.loads(frame.data) == payload


def test_a_17_mb_line_in_small_chunks_splits_in_linear_time() -> None:
    # Joining the unfinished line at each of its 34,816 chunks would copy about 300 GB: minutes, not this.
    line = b"data: " + b"x" * (17 * 2**20)
    splitter = LineSplitter()
    started = time.perf_counter()
    found = [out for start in range(0, len(line), 512) for out in splitter.feed(line[start : start + 512])]
    found += splitter.feed(b"\r\n")
    assert time.perf_counter() - started < 20 and len(found) == 1 and len(found[0]) == len(line)


async def test_the_controller_reads_only_the_event_type() -> None:
    assert await event_type_of(Frame("status_update_event", json.dumps(STATUS_UPDATE))) == "status_update_event"
    bare = Frame("app_terminated_event", json.dumps({"appId": "/integration/web"}))
    assert await event_type_of(bare) == "app_terminated_event"
    # a heavy plan whose groups the models refuse (an app without id) still gives its type
    heavy = {"plan": {"id": "d-1", "original": {"id": "/", "apps": [{"cmd": "x"}]}}, "eventType": "deployment_success"}
    assert to_event(Frame("deployment_success", json.dumps(heavy))) is None
    assert await event_type_of(Frame("deployment_success", json.dumps(heavy))) == "deployment_success"


@pytest.mark.parametrize("data", ["{not json", "[1, 2]", '{"eventType": 7}'])
async def test_an_event_without_a_type_is_skipped_with_a_log_line(data: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="reconciler.marathon")
    assert await event_type_of(Frame("status_update_event", data)) is None
    assert [r.getMessage().split()[0] for r in caplog.records] == ["event_skipped"]


async def chunks(text: str, size: int) -> AsyncIterator[bytes]:
    data = text.encode()
    for start in range(0, len(data), size):
        yield data[start : start + size]


def stream_client(answer: httpx.MockTransport, **options: object) -> MarathonClient:
    return MarathonClient("http://standby.test:8080", transport=answer, retries=0, **options)  # type: ignore[arg-type]


async def collect(client: MarathonClient, event_types: tuple[str, ...] = (), limit: int = 100) -> list[str]:
    seen: list[str] = []
    async with client:
        async for event_type in client.stream_event_types(event_types):
            seen.append(event_type)
            if len(seen) >= limit:
                break
    return seen


async def test_stream_parses_frames_split_across_chunks() -> None:
    text = frame_text("event_stream_attached", ATTACHED) + "\r\n" + frame_text("status_update_event", STATUS_UPDATE)
    requests: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, headers={"Content-Type": "text/event-stream"}, content=chunks(text, 7))

    seen = await collect(stream_client(httpx.MockTransport(answer)), ("status_update_event", "deployment_success"))
    assert seen == ["event_stream_attached", "status_update_event"]
    request = requests[0]
    assert request.url.path == "/v2/events" and request.headers["Accept"] == "text/event-stream"
    assert request.url.params.get_list("event_type") == ["status_update_event", "deployment_success"]


async def test_stream_has_no_read_timeout_by_default() -> None:
    timeouts: list[dict[str, float | None]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        timeouts.append(dict(request.extensions["timeout"]))
        return httpx.Response(200, content=frame_text("event_stream_attached", ATTACHED).encode())

    await collect(stream_client(httpx.MockTransport(answer), timeouts=Timeouts(connect=3.0)))
    assert timeouts[0]["read"] is None and timeouts[0]["connect"] == 3.0


async def test_stream_follows_a_standby_redirect_to_the_leader_with_credentials() -> None:
    requests: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.host == "standby.test":
            return httpx.Response(
                302, headers={"Location": "http://leader.test:8080/v2/events?event_type=deployment_success"}
            )
        return httpx.Response(
            200, content=frame_text("deployment_success", {"id": "d-1", "eventType": "deployment_success"}).encode()
        )

    client = stream_client(httpx.MockTransport(answer), auth=MarathonAuth(token="tok"))
    assert await collect(client, ("deployment_success",)) == ["deployment_success"]
    assert [r.url.host for r in requests] == ["standby.test", "leader.test"]
    assert requests[1].url.params.get_list("event_type") == ["deployment_success"]
    assert requests[1].headers["Authorization"] == "token=tok"


async def test_stream_gives_up_on_a_redirect_loop() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "/v2/events"})

    with pytest.raises(RemoteRejected, match="answered 302"):
        await collect(stream_client(httpx.MockTransport(answer)))


async def test_stream_errors_are_translated() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, json={"message": "Could not determine the current leader"})

    with pytest.raises(RemoteUnavailable, match="GET /v2/events: Marathon answered 502"):
        await collect(stream_client(httpx.MockTransport(answer)))


async def test_stream_connect_error_is_unavailable() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(RemoteUnavailable, match="cannot reach Marathon"):
        await collect(stream_client(httpx.MockTransport(answer)))


async def _chunks(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


@pytest.mark.parametrize(("chunks", "frames_read"), [
    ((b"data: " + b"x" * 60 + b"\n\n",) * 10, 10),  # frames of 66 bytes, 660 in all: each within the limit
    ((b"data: " + b"x" * 60 + b"\n",) * 10, None),  # one frame of ten lines: past it at the second chunk
    ((b"data: " + b"x" * 70, b"x" * 40), None),  # one line, unfinished, past it
])
async def test_a_frame_past_the_limit_ends_the_lines(chunks: tuple[bytes, ...], frames_read: int | None) -> None:
    """Before, a line that never ends, or a frame that never does, was held whole however long it grew."""
    lines: list[str] = []

    async def read() -> None:
        async for line in alines(_chunks(*chunks), 100):
            lines.append(line)

    if frames_read is None:
        with pytest.raises(AnswerTooLarge, match="answer larger than"):
            await read()
    else:
        await read()
        assert lines.count("") == frames_read
