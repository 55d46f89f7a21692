"""core/durations.py: the one duration syntax of spec files and the CLI's duration flags."""

from __future__ import annotations

import pytest

from reconciler.core.durations import duration_seconds
from reconciler.spec.units import parse_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30.0), ("10m", 600.0), ("1h30m", 5400.0), ("1h", 3600.0), ("1.5h", 5400.0), ("2m30s", 150.0),
    (" 45s ", 45.0), ("0s", 0.0),
])
def test_a_duration_is_read_in_seconds(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds
    assert parse_duration(text) == seconds  # the spec files read the same


@pytest.mark.parametrize("text", ["", "90", "5x", "1d", "s", "h1", "1m1h", "-5s", "1 h"])
def test_anything_else_is_not_a_duration(text: str) -> None:
    assert duration_seconds(text) is None
