"""`asyncio.run` for commands whose coroutine returns a large result (cli layer).

CPython 3.11's `asyncio.Runner.run` looks up SIGINT's handler once the main task is done, and
`signal.getsignal` formats that handler (a partial holding the task) into an error message it then
drops: the task's repr includes its result's. For a 10,000-app plan that repr cost about 0.4 s of a
cold `reconciler plan`. The main task here returns None; the result travels beside it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_returning(coroutine: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(coroutine)`'s result, without the main task ever holding (and formatting) it."""
    kept: list[T] = []

    async def main() -> None:
        kept.append(await coroutine)

    asyncio.run(main())
    return kept[0]
