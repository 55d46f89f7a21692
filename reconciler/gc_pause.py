"""Decoding a large answer with the cyclic garbage collector paused, off the event loop (shared by the adapters).

Parsing `/v2/apps` or a Consul list builds a tree of thousands of dicts that lives only while it is
compared with the last one. With the collector on, that burst triggers collections which promote it to
the oldest generation, and every few cycles a full collection walks the controller's whole heap (its
memos of 1,000 apps) for garbage that reference counting frees anyway. JSON has no reference cycles.
At 10,000 apps that decoding is hundreds of milliseconds, which `decoded_off_loop` runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import orjson

T = TypeVar("T")

# An answer this large or larger is decoded in a worker thread. Below it the decode holds the loop for
# at most about 6 ms (measured at 10,000 apps: Marathon's apps, the slowest, decode at about 45 MB/s,
# Consul's lists at 50 to 80 MB/s), while a trip to the thread costs about 0.1 ms and a hand-over of the
# interpreter: small answers stay cheap, the large ones (/v2/apps, every check, each node of a big
# cluster) leave the loop free.
OFF_LOOP_BYTES = 256 * 1024


class _Pauses:
    """The collector's setting is the process's, and blocks in a worker thread and on the loop may overlap:
    the first block turns it off, and only the last one to end turns it back on, if it was on before."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open = 0
        self._was_on = False

    def begin(self) -> None:
        with self._lock:
            if self._open == 0:
                self._was_on = gc.isenabled()
                gc.disable()
            self._open += 1

    def end(self) -> None:
        with self._lock:
            self._open -= 1
            if self._open == 0 and self._was_on:
                gc.enable()


_PAUSES = _Pauses()  # one per process, as the setting it guards


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collection inside the block (synchronous code only); the previous setting once every
    overlapping block, in any thread, is over."""
    _PAUSES.begin()
    try:
        yield
    finally:
        _PAUSES.end()


def parsed_json(content: bytes | str) -> Any:
    """`content` parsed as JSON with the collector paused: by orjson (about twice as fast on a 10,000-app
    or 10,000-check answer), else by the standard parser, whose leniency (NaN, the infinities, a number
    beyond a double, UTF-16 or UTF-32) or error stays the rule."""
    return parsed_json_strictly(content)[0]


def parsed_json_strictly(content: bytes | str) -> tuple[Any, bool]:
    """`parsed_json(content)` and whether orjson parsed it. A tree orjson parsed holds no NaN nor
    infinity; the standard parser's may, and orjson writes those back as `null`, so that only a tree
    orjson parsed is told apart from another by orjson's bytes of it (marathon/app_memo.py)."""
    with gc_paused():
        try:
            return orjson.loads(content), True
        except orjson.JSONDecodeError:
            return json.loads(content), False


async def decoded_off_loop(size: int, decode: Callable[[], T]) -> T:
    """`decode()` (of an answer of `size` bytes) with the collector paused: in a worker thread from
    OFF_LOOP_BYTES on (see `off_loop`)."""
    return await off_loop(size >= OFF_LOOP_BYTES, decode)


async def off_loop(large: bool, work: Callable[[], T]) -> T:
    """`work()` with the collector paused: in a worker thread when `large`, so that the event loop runs
    its other callbacks (the web server, the leader's beats, webhooks) meanwhile, but for the time of a
    single C call that holds the interpreter (orjson's parse of the whole answer: about 90 ms of a 14 MB
    `/v2/apps`). `work` must share nothing with the loop that either side changes."""
    if not large:
        with gc_paused():
            return work()
    return await asyncio.to_thread(_paused, work)


def _paused(work: Callable[[], T]) -> T:
    with gc_paused():
        return work()
