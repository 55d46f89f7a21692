"""The `heal` and `autoscale` blocks of an app (spec layer): parsed and checked here, and turned into
the core's HealPolicy and AutoscalePolicy for the render step.

Durations are written `30s`/`10m`, shares `70%`; see docs/spec.md for the defaults.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema, model_validator

from reconciler.core.model import AutoscalePolicy, HealPolicy, MetricTarget
from reconciler.spec.fields import SpecModel
from reconciler.spec.problems import RangeHint, rule_error
from reconciler.spec.units import Duration, Percent

MAX_INSTANCES = 10_000
_PERCENT_TEXT = re.compile(r"^\d+(\.\d+)?\s*%$")


_UNAVAILABLE = "maxUnavailable is a number of instances (1) or a percentage (25%)"
_UNAVAILABLE_HINT = "write a whole number of instances like 1, or a percentage of `instances` like 25%"


def _count_or_percent(value: Any) -> Any:
    """`1` or `"25%"`, kept as text so both forms survive until the instance count is known."""
    if isinstance(value, bool):
        raise rule_error(_UNAVAILABLE, _UNAVAILABLE_HINT)
    if isinstance(value, int):
        if value < 0:
            raise rule_error("maxUnavailable must not be negative", _UNAVAILABLE_HINT)
        return str(value)
    if isinstance(value, str) and _PERCENT_TEXT.match(value.strip()):
        return value.strip()
    raise rule_error(_UNAVAILABLE, _UNAVAILABLE_HINT)


CountOrPercent = Annotated[
    str,
    BeforeValidator(_count_or_percent),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": r"^\d+(\.\d+)?\s*%$"}]}),
]


class CrashLoopSpec(SpecModel):
    """Stop healing an app healed `heals` times within `window` (it crash-loops; report it instead)."""

    heals: int = Field(5, ge=1, le=1000)
    window: Duration = 600.0


class HealSpec(SpecModel):
    enabled: bool = True
    critical_for: Duration = 30.0
    max_unavailable: CountOrPercent | None = None
    backoff: Duration = 30.0
    crash_loop: CrashLoopSpec | None = None


_SHARE = "a share above 0 and at most 100%, e.g. 70% (or 0.7)"
Share = Annotated[Percent, Field(gt=0, le=1), RangeHint(low=_SHARE, high=_SHARE)]


class MetricSpec(SpecModel):
    """One target: `{cpu: 70%}` (share of the app's cpus) or `{mem: 80%}` (share of its mem)."""

    cpu: Share | None = None
    mem: Share | None = None

    @model_validator(mode="after")
    def _one_metric(self) -> MetricSpec:
        if (self.cpu is None) == (self.mem is None):
            raise rule_error(
                "a metric names exactly one of `cpu` or `mem`, e.g. {cpu: 70%}",
                "one target per list item: metrics: [{cpu: 70%}, {mem: 80%}]",
            )
        return self


class ScaleRuleSpec(SpecModel):
    stabilization_window: Duration | None = None
    max_step: int | None = Field(None, ge=1, le=MAX_INSTANCES)


class BehaviorSpec(SpecModel):
    scale_down: ScaleRuleSpec | None = None
    scale_up: ScaleRuleSpec | None = None


class AutoscaleSpec(SpecModel):
    min_instances: int = Field(alias="min", ge=1, le=MAX_INSTANCES)
    max_instances: int = Field(alias="max", ge=1, le=MAX_INSTANCES)
    metrics: list[MetricSpec] = Field(min_length=1)
    behavior: BehaviorSpec | None = None
    tolerance: Annotated[Percent, Field(le=1), RangeHint(high="a share of the target up to 100%, e.g. 10%")] = 0.1

    @model_validator(mode="after")
    def _min_below_max(self) -> AutoscaleSpec:
        if self.min_instances > self.max_instances:
            raise rule_error(
                f"min ({self.min_instances}) is greater than max ({self.max_instances})",
                "make `min` at most `max` (equal bounds fix the instance count)",
            )
        return self


def heal_policy(spec: HealSpec | None, instances: int) -> HealPolicy:
    """The core HealPolicy; a percentage `maxUnavailable` is taken of `instances` (at least 1)."""
    if spec is None:
        return HealPolicy()
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


def autoscale_policy(spec: AutoscaleSpec | None) -> AutoscalePolicy | None:
    if spec is None:
        return None
    behavior = spec.behavior or BehaviorSpec()
    down = behavior.scale_down or ScaleRuleSpec()
    up = behavior.scale_up or ScaleRuleSpec()
    defaults = AutoscalePolicy(min_instances=spec.min_instances, max_instances=spec.max_instances)
    return AutoscalePolicy(
        min_instances=spec.min_instances,
        max_instances=spec.max_instances,
        metrics=tuple(_metric(metric) for metric in spec.metrics),
        tolerance=spec.tolerance,
        scale_down_stabilization_seconds=_or(down.stabilization_window, defaults.scale_down_stabilization_seconds),
        scale_up_stabilization_seconds=_or(up.stabilization_window, defaults.scale_up_stabilization_seconds),
        max_step_up=up.max_step,
        max_step_down=down.max_step,
    )


def _metric(metric: MetricSpec) -> MetricTarget:
    return MetricTarget("cpu", metric.cpu) if metric.cpu is not None else MetricTarget("mem", metric.mem or 0.0)


def _or(value: float | None, default: float) -> float:
    return default if value is None else value
