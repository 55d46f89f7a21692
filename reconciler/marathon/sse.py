"""Server-sent events framing for Marathon's `/v2/events` (adapter layer).

Marathon (Jetty's EventSourceServlet) writes `event: <type>` and `data: <json>` lines ended by CRLF
and a blank line per frame. The decoder takes lines already split (CRLF, LF or CR), ignores comments
and keep-alive blank lines, joins multi-line data with LF, and keeps a pending `event:` name across
stray blank lines so that a frame split by an extra blank line is still one event.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass

import pydantic

from reconciler.marathon import wire

logger = logging.getLogger("reconciler.marathon")


@dataclass(frozen=True)
class Frame:
    event: str
    data: str


class SseDecoder:
    """Turns SSE lines into frames; feed one line at a time, a frame comes out at its blank line."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> Frame | None:
        line = line.rstrip("\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        return None

    def _dispatch(self) -> Frame | None:
        # A blank line before any data is a keep-alive (or a stray line inside a frame): keep the name.
        if not self._data:
            return None
        frame = Frame(self._event or "message", "\n".join(self._data))
        self._event, self._data = "", []
        return frame


def decode_lines(lines: Iterable[str]) -> Iterator[Frame]:
    decoder = SseDecoder()
    for line in lines:
        frame = decoder.feed(line)
        if frame is not None:
            yield frame


async def adecode_lines(lines: AsyncIterable[str]) -> AsyncIterator[Frame]:
    decoder = SseDecoder()
    async for line in lines:
        frame = decoder.feed(line)
        if frame is not None:
            yield frame


def to_event(frame: Frame) -> wire.Event | None:
    """The frame's event, or None (logged) when its data is not a Marathon event object."""
    try:
        payload = json.loads(frame.data)
        if not isinstance(payload, dict):
            raise ValueError("data is not a JSON object")
        payload.setdefault("eventType", frame.event)
        return wire.Event.model_validate(payload)
    except (ValueError, pydantic.ValidationError) as exc:
        reason = type(exc).__name__ if isinstance(exc, pydantic.ValidationError) else str(exc).splitlines()[0]
        logger.warning("event_skipped event=%s reason=%r", frame.event, reason)
        return None
