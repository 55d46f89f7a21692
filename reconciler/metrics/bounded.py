"""Many reads of one pass, a few at a time and all within one deadline (layer 3, shared by the adapters).

The autoscaler's pass waits for its reads and the cycle waits for the pass. A client's timeout bounds
each wait for the next byte, not a whole answer: a remote that accepts the connection and trickles its
answer byte by byte, or many slow ones read one after another, would hold the cycle as long as they
like. Here a read still running at the deadline is cancelled and has no answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
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
