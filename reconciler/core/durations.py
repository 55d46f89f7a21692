"""Durations as people write them (pure core): `30s`, `10m`, `1h30m` -> seconds.

The spec files' syntax (spec/units.py wraps it for pydantic) and the CLI's duration flags (`history
--since`, `run --autoscale-samples-keep`) share it; here it needs neither pydantic nor the spec package.
"""

from __future__ import annotations

import re

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")

# Marathon's durations are int32 seconds (backoffSeconds, maxLaunchDelaySeconds); about 68 years.
MAX_SECONDS = 2**31 - 1


def duration_seconds(text: str) -> float | None:
    """Seconds of `30s`, `10m`, `1h30m`; None when `text` is not one (a bare number is the caller's to take)."""
    text = text.strip()
    match = _DURATION.match(text)
    if match and any(match.groups()):
        hours, minutes, seconds = (float(part) if part else 0.0 for part in match.groups())
        return hours * 3600 + minutes * 60 + seconds
    return None
