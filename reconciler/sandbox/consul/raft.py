"""The one write index of the emulated datacenter and its change signal (sandbox layer, Consul emulator).

Consul stamps every write with a raft index; blocking queries wait for the index of what they read to
move past the one they already have. Every write here takes the next index and wakes every waiter, who
then recompute their own view (spurious wake-ups are allowed, as in Consul).
"""

from __future__ import annotations

import asyncio
import contextlib


class RaftIndex:
    """A monotonic write index (starting above 1) and an awaitable 'something changed' signal."""

    def __init__(self) -> None:
        self.current = 1
        self._changed = asyncio.Event()
        self.waiting = 0  # blocking readers asleep right now: tests wait on it instead of sleeping

    def advance(self) -> int:
        """Take the next index for a write and wake every blocking reader."""
        self.current += 1
        self._changed.set()
        self._changed = asyncio.Event()
        return self.current

    async def wait_change(self, timeout: float) -> None:
        """Return after the next write or after `timeout` seconds, whichever comes first."""
        event = self._changed
        self.waiting += 1
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)
        finally:
            self.waiting -= 1
