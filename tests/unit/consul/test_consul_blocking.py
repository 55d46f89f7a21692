"""Unit tests of BlockingState and Go duration parsing (the client rules of blocking queries)."""

from __future__ import annotations

import pytest

from reconciler.consul.blocking import BlockingState, duration_seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5m", 300.0), ("10s", 10.0), ("1h5m", 3900.0), ("1.5s", 1.5), ("250ms", 0.25), ("90", 90.0), ("0s", 0.0)],
)
def test_duration_seconds(text: str, seconds: float) -> None:
    assert duration_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5 minutes", "m5", "5x", "1h 5m"])
def test_duration_seconds_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        duration_seconds(text)


@pytest.mark.parametrize(
    ("before", "returned", "after"),
    [
        (0, 17, 17),  # first answer: start blocking at its index
        (17, 17, 17),  # wait timed out, nothing changed
        (17, 30, 30),  # moved forward
        (17, 3, 0),  # went backwards (snapshot restore): reset, read once without blocking
        (0, 0, 1),  # an index of 0 is clamped so that the next call blocks
        (5, None, 0),  # no index header at all: not a blocking endpoint answer, read again plainly
    ],
)
def test_advance(before: int, returned: int | None, after: int) -> None:
    assert BlockingState(index=before).advance(returned).index == after


def test_advance_keeps_wait() -> None:
    assert BlockingState(index=1, wait="30s").advance(2).wait == "30s"


def test_query_params() -> None:
    assert BlockingState().query_params() == {}
    assert BlockingState(index=9, wait="1m").query_params() == {"index": "9", "wait": "1m"}


def test_wait_seconds_is_capped_and_includes_jitter() -> None:
    assert BlockingState(wait="16s").wait_seconds == pytest.approx(17.0)
    assert BlockingState(wait="1h").wait_seconds == pytest.approx(600.0 + 37.5)
