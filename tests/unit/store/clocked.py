"""The clock the store unit tests move by hand (tests/unit/store/conftest.py hands it to the store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at

    def tick(self, seconds: float = 1.0) -> None:
        self.at += timedelta(seconds=seconds)
