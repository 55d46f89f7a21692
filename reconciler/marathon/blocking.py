"""A synchronous entry to the Marathon client for callers without an event loop (adapter layer).

The CLI's one-shot commands call `run_with_client`: a fresh client in a fresh event loop, closed
when the action ends, so that no connection outlives the command.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from reconciler.core.model import Actual
from reconciler.marathon.client import MarathonClient

ResultT = TypeVar("ResultT")


def run_with_client(base_url: str, action: Callable[[MarathonClient], Awaitable[ResultT]], **options: Any) -> ResultT:
    """`await action(client)` for a client built from `base_url` and `options` (MarathonClient's keywords)."""

    async def run() -> ResultT:
        async with MarathonClient(base_url, **options) as client:
            return await action(client)

    return asyncio.run(run())


def observe(base_url: str, **options: Any) -> Actual:
    """Marathon's whole actual state, read synchronously (two requests)."""
    return run_with_client(base_url, lambda client: client.observe(), **options)
