"""Decoding a large answer with the cyclic garbage collector paused (shared by the adapters).

Parsing `/v2/apps` or a Consul list builds a tree of thousands of dicts that lives only while it is
compared with the last one. With the collector on, that burst triggers collections which promote it to
the oldest generation, and every few cycles a full collection walks the controller's whole heap (its
memos of 1,000 apps) for garbage that reference counting frees anyway. JSON has no reference cycles.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Iterator
from typing import Any

import orjson


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collection inside the block (synchronous code only); the previous setting after it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parsed_json(content: bytes) -> Any:
    """`content` parsed as JSON with the collector paused: by orjson (about twice as fast on a 10,000-app
    or 10,000-check answer), else by the standard parser, whose leniency (NaN, integers beyond 64 bits,
    UTF-16 or UTF-32) or error stays the rule."""
    with gc_paused():
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError:
            return json.loads(content)
