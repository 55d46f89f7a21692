"""Server-sent events framing for Marathon's `/v2/events` (adapter layer).

Marathon (Jetty's EventSourceServlet) writes `event: <type>` and `data: <json>` lines ended by CRLF
and a blank line per frame. Lines split at CRLF, LF or CR only, in time linear in their length (a heavy
deployment event of 10,000 apps is one line of about 17 MB); the decoder ignores comments and keep-alive
blank lines, joins multi-line data with LF, and keeps an `event:` name across stray blank lines.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass

import pydantic

from reconciler.answer_size import AnswerTooLarge
from reconciler.gc_pause import decoded_off_loop, parsed_json
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


class LineSplitter:
    """Splits a byte stream into lines at CRLF, LF or CR (bytes.splitlines: not at the other Unicode line
    ends a JSON string may hold raw, U+2028 or U+0085, as str.splitlines would). The unfinished line is
    kept as a list of pieces, joined once at its end: a line costs time linear in its length."""

    def __init__(self) -> None:
        self._pieces: list[bytes] = []
        self._after_cr = False  # a CR ended the last chunk: a LF starting the next one ends no line
        self.pending = 0  # bytes of the unfinished line

    def feed(self, chunk: bytes) -> list[str]:
        if self._after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        self._after_cr = chunk.endswith(b"\r")
        parts = chunk.splitlines()
        if not parts:
            return []
        unfinished = None if chunk.endswith((b"\n", b"\r")) else parts.pop()
        if parts and self._pieces:
            parts[0] = b"".join([*self._pieces, parts[0]])
            self._pieces, self.pending = [], 0
        if unfinished is not None:  # the start (or more) of a line that ends in a later chunk
            self._pieces.append(unfinished)
            self.pending += len(unfinished)
        return [part.decode("utf-8", "replace") for part in parts]


async def alines(chunks: AsyncIterable[bytes], limit: int | None = None) -> AsyncIterator[str]:
    """The lines of a byte stream (an unfinished last line is dropped: it ends no frame anyway). `limit`:
    the most bytes one frame (its lines up to a blank one) may have; AnswerTooLarge once it is passed,
    a line that never ends included."""
    splitter = LineSplitter()
    frame = 0
    async for chunk in chunks:
        for line in splitter.feed(chunk):
            frame = 0 if not line else frame + len(line)
            yield line
        if limit is not None and frame + splitter.pending > limit:
            raise AnswerTooLarge(limit)


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


async def event_type_of(frame: Frame) -> str | None:
    """The frame's event type (the data's `eventType`, else the frame's name), or None (logged) when its
    data is not a JSON object. Only the type is read: nothing else of an event moves the controller, and
    a heavy deployment event's two groups of every app are not validated (a large frame is parsed in a
    worker thread, with the collector paused)."""
    try:
        payload = await decoded_off_loop(len(frame.data), lambda: parsed_json(frame.data))
        if not isinstance(payload, dict):
            raise ValueError("data is not a JSON object")
        event_type = payload.get("eventType", frame.event)
        if not isinstance(event_type, str):
            raise ValueError("eventType is not text")
        return event_type
    except ValueError as exc:
        logger.warning("event_skipped event=%s reason=%r", frame.event, str(exc).splitlines()[0])
        return None


def to_event(frame: Frame) -> wire.Event | None:
    """The frame's whole event, every field validated, or None (logged) when its data is not a Marathon
    event object. The controller reads only the type (`event_type_of`); this reads recorded streams."""
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
