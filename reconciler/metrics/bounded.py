"""Many reads of one pass, a few at a time and all within one deadline (layer 3, shared by the adapters).

The autoscaler's pass waits for its reads and the cycle waits for the pass. A client's timeout bounds
each wait for the next byte, not a whole answer: a remote that accepts the connection and trickles its
answer byte by byte, or many slow ones read one after another, would hold the cycle as long as they
like. Here a read still running at the deadline is cancelled and has no answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


async def read_within(
    keys: Sequence[K], read: Callable[[K], Awaitable[V]], *, concurrency: int, deadline: float
) -> dict[K, V]:
    """The answer of every `read(key)` that ended within `deadline` seconds, at most `concurrency` running
    at once; the reads still queued or running then are cancelled (so are all of them when the caller is).
    An exception other than a cancellation is a bug of `read`: raised once every read has stopped."""
    if not keys:
        return {}
    answers: dict[K, V] = {}
    gate = asyncio.Semaphore(concurrency)

    async def one(key: K) -> None:
        async with gate:
            answers[key] = await read(key)

    reads = [asyncio.create_task(one(key)) for key in keys]
    try:
        await asyncio.wait(reads, timeout=deadline)
    finally:
        for task in reads:
            task.cancel()
        outcomes = await asyncio.gather(*reads, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            raise outcome
    return answers


class ReadOutcomes:
    """Why each key of a pass (an agent, a query) could not be read, logged once per reason: WARNING when
    the reason is new, DEBUG while it lasts, and `event=<read_event>` at INFO once it is read again (a
    reading that stays out of reach does not fill the log at every cycle). `key` formats the key's field,
    such as `host=%s` or `query=%r`."""

    def __init__(self, logger: logging.Logger, failed_event: str, read_event: str, key: str) -> None:
        self._log = logger
        self._failed = f"event={failed_event} {key} error=%r"
        self._read = f"event={read_event} {key}"
        self._errors: dict[Hashable, str] = {}

    def outcome(self, key: Hashable, error: str | None) -> None:
        """`key`'s read this pass: None when it was read, else why not."""
        before = self._errors.pop(key, None)
        if error is not None:
            self._errors[key] = error
            self._log.log(logging.DEBUG if error == before else logging.WARNING, self._failed, key, error)
        elif before is not None:
            self._log.info(self._read, key)

    def keep_only(self, keys: Iterable[Hashable]) -> None:
        """Forgets the keys a pass no longer reads (an agent gone): if one comes back, its failure is new."""
        wanted = set(keys)
        self._errors = {key: error for key, error in self._errors.items() if key in wanted}
