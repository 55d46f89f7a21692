"""cli/event_loop.py: a command's coroutine result comes back from the event loop without its repr ever
being formatted (CPython 3.11's Runner formats the main task, result included, when it restores SIGINT)."""

from __future__ import annotations

import asyncio

import pytest

from reconciler.cli.event_loop import run_returning


class Large:
    """Stands for a 10,000-app plan: counts how often it is formatted."""

    formatted = 0

    def __repr__(self) -> str:
        Large.formatted += 1
        return "Large()"


async def produce(value: Large) -> Large:
    await asyncio.sleep(0)
    return value


def test_the_result_comes_back_unformatted() -> None:
    value = Large()
    Large.formatted = 0
    assert run_returning(produce(value)) is value
    assert Large.formatted == 0


def test_an_error_of_the_coroutine_is_raised() -> None:
    async def fails() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_returning(fails())
