"""The `heal` block of an app (spec layer): parsed and checked here, and turned into the core's
HealPolicy for the render step (the `autoscale` block is spec/autoscale.py).

Durations are written `30s`/`10m`, shares `70%`; see docs/spec.md for the defaults.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema

from reconciler.core.model import HealPolicy
from reconciler.spec.fields import Flag, SpecModel, Whole
from reconciler.spec.problems import rule_error
from reconciler.spec.units import Duration

MAX_INSTANCES = 10_000
_PERCENT_TEXT = re.compile(r"^\d+(\.\d+)?\s*%$")


_UNAVAILABLE = "maxUnavailable is a number of instances (1) or a percentage (25%)"
_UNAVAILABLE_HINT = "write a whole number of instances like 1, or a percentage of `instances` like 25%"


def _count_or_percent(value: Any) -> Any:
    """`1` or `"25%"`, kept as text so both forms survive until the instance count is known."""
    if isinstance(value, bool):
        raise rule_error(_UNAVAILABLE, _UNAVAILABLE_HINT)
    if isinstance(value, int):
        if not 0 <= value <= MAX_INSTANCES:
            raise rule_error(f"maxUnavailable must be between 0 and {MAX_INSTANCES}", _UNAVAILABLE_HINT)
        return str(value)
    if isinstance(value, str) and _PERCENT_TEXT.match(value.strip()):
        if float(value.strip().rstrip("% ")) > 100:
            raise rule_error("maxUnavailable is at most 100%", _UNAVAILABLE_HINT)
        return value.strip()
    raise rule_error(_UNAVAILABLE, _UNAVAILABLE_HINT)


CountOrPercent = Annotated[
    str,
    BeforeValidator(_count_or_percent),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": r"^\d+(\.\d+)?\s*%$"}]}),
]


class CrashLoopSpec(SpecModel):
    """Stop healing an app healed `heals` times within `window` (it crash-loops; report it instead)."""

    heals: Whole = Field(5, ge=1, le=1000)
    window: Duration = 600.0


class HealSpec(SpecModel):
    enabled: Flag = True
    critical_for: Duration = 30.0
    max_unavailable: CountOrPercent | None = None
    backoff: Duration = 30.0
    crash_loop: CrashLoopSpec | None = None


_DEFAULT_HEAL = HealPolicy()  # frozen: one shared by every app without `heal`


def heal_policy(spec: HealSpec | None, instances: int) -> HealPolicy:
    """The core HealPolicy; a percentage `maxUnavailable` is taken of `instances` (at least 1)."""
    if spec is None:
        return _DEFAULT_HEAL
    crash_loop = spec.crash_loop or CrashLoopSpec()
    return HealPolicy(
        critical_for_seconds=spec.critical_for,
        max_unavailable=_unavailable(spec.max_unavailable, instances),
        backoff_seconds=spec.backoff,
        crash_loop_heals=crash_loop.heals,
        crash_loop_window_seconds=crash_loop.window,
        enabled=spec.enabled,
    )


def _unavailable(text: str | None, instances: int) -> int | None:
    if text is None:
        return None
    if text.endswith("%"):
        return max(1, math.floor(instances * float(text.rstrip("% ")) / 100))
    return int(text)
