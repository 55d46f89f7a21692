"""Durations and percentages as spec authors write them (spec layer).

`30s`, `10m`, `1h30m` become seconds; `70%` becomes the fraction 0.7. Plain numbers are accepted
too (seconds, or a fraction when written below 1 with no `%`), so generated specs stay simple.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from annotated_types import Ge, Le
from pydantic import AllowInfNan, BeforeValidator, WithJsonSchema

from reconciler.core.durations import MAX_SECONDS, duration_seconds
from reconciler.spec.problems import RangeHint, rule_error

_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)\s*%$")
_DURATION_HINT = "seconds as a number (90), or a duration like 30s, 10m or 1h30m"
_PERCENT_HINT = "a percentage like 70%, or a fraction like 0.7"


def parse_duration(value: Any) -> Any:
    """Seconds from `90`, `30s`, `10m`, `1h30m`; anything else is left for pydantic to refuse."""
    if isinstance(value, bool):
        raise rule_error("a duration is a number of seconds or a string like 30s, 10m, 1h", _DURATION_HINT)
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        seconds = duration_seconds(value)
        if seconds is not None:
            return seconds
        raise rule_error(f"'{value}' is not a duration", _DURATION_HINT)
    raise rule_error("a duration is a number of seconds or a string like 30s, 10m, 1h", _DURATION_HINT)


def parse_percent(value: Any) -> Any:
    """A fraction from `70%` (0.7) or a bare number (taken as a fraction when <= 1, else as percent)."""
    if isinstance(value, bool):
        raise rule_error("a percentage is written like 70%", _PERCENT_HINT)
    if isinstance(value, int | float):
        return value if value <= 1 else value / 100
    if isinstance(value, str):
        match = _PERCENT.match(value.strip())
        if match:
            return float(match.group(1)) / 100
        raise rule_error(f"'{value}' is not a percentage", _PERCENT_HINT)
    raise rule_error("a percentage is written like 70%", _PERCENT_HINT)


_DURATION_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "number", "minimum": 0, "maximum": 2**31 - 1},
        {"type": "string", "pattern": r"^(\d+(\.\d+)?h)?(\d+(\.\d+)?m)?(\d+(\.\d+)?s)?$"},
    ],
    "description": "seconds, or a duration like 30s, 10m, 1h30m",
}
_PERCENT_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": r"^\d+(\.\d+)?\s*%$"}],
    "description": "a percentage like 70% (or a fraction like 0.7)",
}

_TOO_LONG = RangeHint(high="a duration is at most 2147483647 seconds (68 years): check the unit")
Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    Ge(0),
    Le(MAX_SECONDS),
    _TOO_LONG,
    AllowInfNan(False),
    WithJsonSchema(_DURATION_SCHEMA),
]
Percent = Annotated[float, BeforeValidator(parse_percent), Ge(0), AllowInfNan(False), WithJsonSchema(_PERCENT_SCHEMA)]
