"""Go duration strings as Consul reads and writes them (sandbox layer, Consul emulator).

Consul takes durations as Go strings ("10s", "1h5m", "250ms") and shows check durations the same
way ("10s", "0s"); session `LockDelay` is shown in nanoseconds.
"""

from __future__ import annotations

import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


class DurationError(ValueError):
    """A string that is not a Go duration."""


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string; "0" alone is allowed, as in Go."""
    raw = text.strip()
    sign = -1.0 if raw.startswith("-") else 1.0
    body = raw.lstrip("+-")
    if body == "0":
        return 0.0
    if not body:
        raise DurationError(f"time: invalid duration {text!r}")
    total, position = 0.0, 0
    for match in _PART.finditer(body):
        if match.start() != position:
            raise DurationError(f"time: invalid duration {text!r}")
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(body):
        raise DurationError(f"time: invalid duration {text!r}")
    return sign * total


def format_duration(seconds: float) -> str:
    """A Go-style duration string for a number of seconds ("10s", "1m30s", "0s", "500ms")."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{round(seconds * 1000):d}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{int(hours)}h" if hours else ""
    text += f"{int(minutes)}m" if hours or minutes else ""
    text += f"{secs:g}s"
    return text


def duration_field(value: object) -> float:
    """A request duration that may be a Go string or a bare number of nanoseconds (Go's JSON form)."""
    if isinstance(value, bool):
        raise DurationError(f"time: invalid duration {value!r}")
    if isinstance(value, int | float):
        return float(value) / 1e9
    if isinstance(value, str):
        return parse_duration(value) if value else 0.0
    raise DurationError(f"time: invalid duration {value!r}")
