"""Decoding a large answer with the cyclic garbage collector paused (shared by the adapters).

Parsing `/v2/apps` or a Consul list builds a tree of thousands of dicts that lives only while it is
compared with the last one. With the collector on, that burst triggers collections which promote it to
the oldest generation, and every few cycles a full collection walks the controller's whole heap (its
memos of 1,000 apps) for garbage that reference counting frees anyway. JSON has no reference cycles.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


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
