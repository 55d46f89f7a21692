"""The sandbox's single clock (sandbox layer): monotonic time for timers, wall time for timestamps.

Injectable so tests can shift wall time; every timestamp the API shows comes from `iso()`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def format_iso(epoch_seconds: float) -> str:
    """Marathon's timestamp shape: `2017-07-19T17:34:41.967Z` (UTC, milliseconds)."""
    return format_millis(round(epoch_seconds * 1000))


def format_millis(epoch_millis: int) -> str:
    moment = datetime.fromtimestamp(epoch_millis // 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_millis % 1000:03d}Z"


def version_key(text: str) -> str:
    """The version a timestamp names, in the shape versions are kept under (Timestamp(String) parses
    any ISO-8601 date-time with an offset); ValueError naming the text when it is none."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValueError(f"Invalid timestamp provided '{text}'. Expecting ISO-8601 datetime string.")
    micros = (moment - EPOCH) // timedelta(microseconds=1)
    # A sub-millisecond instant names no kept version (they are whole milliseconds).
    return format_millis(micros // 1000) if micros % 1000 == 0 else text


class Clock:
    """Monotonic seconds for scheduling, wall seconds for ISO timestamps."""

    def __init__(self, wall_offset: float = 0.0) -> None:
        self.wall_offset = wall_offset
        self._last_version_ms = 0

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time() + self.wall_offset

    def iso(self) -> str:
        return format_iso(self.wall())

    def next_version(self) -> str:
        """A fresh version timestamp, strictly later than every earlier one (versions are keys)."""
        now_ms = int(self.wall() * 1000)
        self._last_version_ms = max(now_ms, self._last_version_ms + 1)
        return format_millis(self._last_version_ms)
