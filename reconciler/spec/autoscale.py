"""The `autoscale` block of an app (spec layer): parsed and checked here, turned into the core's
AutoscalePolicy for the render step and for `reconciler autoscale simulate`.

The shape is the Kubernetes HPA's (`behavior`, `selectPolicy`, `Tasks`/`Percent` policies), in this
project's units: durations like `15s`, shares like `70%`. See docs/autoscaling.md.
"""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import Field, model_validator

from reconciler.core.autoscale_policy import (
    DEFAULT_CPU_INITIALIZATION,
    DEFAULT_INITIAL_READINESS_DELAY,
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    DEFAULT_TOLERANCE,
    AutoscalePolicy,
    Behavior,
    MetricKind,
    MetricTarget,
    PolicyType,
    ScalingPolicy,
    ScalingRules,
    SelectPolicy,
    TargetType,
)
from reconciler.spec.fields import Real, SpecModel, Whole
from reconciler.spec.policies import MAX_INSTANCES
from reconciler.spec.problems import RangeHint, rule_error
from reconciler.spec.units import Duration, Percent

MAX_STEP_PERIOD = 15.0  # `maxStep: N` is a Tasks policy of N per 15s
_SHARE = "a share above 0 and at most 100%, e.g. 70% (or 0.7)"
Share = Annotated[Percent, Field(gt=0, le=1), RangeHint(low=_SHARE, high=_SHARE)]
Tolerance = Annotated[Percent, Field(le=1), RangeHint(high="a share of the target up to 100%, e.g. 10%")]
Window = Annotated[Duration, Field(le=3600), RangeHint(high="at most 1h, as the HPA allows")]
Amount = Annotated[Real, Field(gt=0, allow_inf_nan=False), RangeHint(low="a number above 0")]


class ToleranceSpec(SpecModel):
    scale_up: Tolerance = DEFAULT_TOLERANCE
    scale_down: Tolerance = DEFAULT_TOLERANCE


class PolicySpec(SpecModel):
    """`{type: Tasks, value: 4, period: 15s}`: at most 4 tasks (or 4%) per 15 seconds."""

    type: PolicyType
    value: Whole = Field(ge=1, le=MAX_INSTANCES * 100)
    period: Annotated[Duration, Field(gt=0, le=1800), RangeHint(low="above 0s", high="at most 30m, as the HPA allows")]


class ScaleRuleSpec(SpecModel):
    stabilization_window: Window | None = None
    select_policy: SelectPolicy | None = None
    policies: list[PolicySpec] | None = Field(None, min_length=1)
    max_step: Whole | None = Field(None, ge=1, le=MAX_INSTANCES)

    @model_validator(mode="after")
    def _step_or_policies(self) -> ScaleRuleSpec:
        if self.max_step is not None and self.policies is not None:
            raise rule_error(
                "`maxStep` and `policies` both limit the rate: write one of them",
                "`maxStep: N` is shorthand for `policies: [{type: Tasks, value: N, period: 15s}]`",
            )
        return self


class BehaviorSpec(SpecModel):
    scale_up: ScaleRuleSpec | None = None
    scale_down: ScaleRuleSpec | None = None


class TargetSpec(SpecModel):
    value: Amount | None = None
    average_value: Amount | None = None


class TaskMetricSpec(SpecModel):
    """A per-task metric: its `name`, the `source` that reads it, and an `averageValue` target."""

    name: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=200)
    target: TargetSpec

    @model_validator(mode="after")
    def _average(self) -> TaskMetricSpec:
        if self.target.average_value is None or self.target.value is not None:
            raise rule_error("a task metric's target is `averageValue` (per task)", "target: {averageValue: 100}")
        return self


class PrometheusSpec(SpecModel):
    """An instant query: its total against `value`, or per running task against `averageValue`."""

    query: str = Field(min_length=1, max_length=4000)
    target: TargetSpec

    @model_validator(mode="after")
    def _one_target(self) -> PrometheusSpec:
        if (self.target.value is None) == (self.target.average_value is None):
            raise rule_error(
                "a Prometheus target is exactly one of `value` or `averageValue`",
                "target: {value: 500} for the query's total, or {averageValue: 50} per task",
            )
        return self


class MetricSpec(SpecModel):
    """One target: `{cpu: 70%}`, `{mem: 80%}`, `{taskMetric: {...}}` or `{prometheus: {...}}`."""

    cpu: Share | None = None
    mem: Share | None = None
    task_metric: TaskMetricSpec | None = None
    prometheus: PrometheusSpec | None = None

    @model_validator(mode="after")
    def _one_metric(self) -> MetricSpec:
        given = [v for v in (self.cpu, self.mem, self.task_metric, self.prometheus) if v is not None]
        if len(given) != 1:
            raise rule_error(
                "a metric names exactly one of `cpu`, `mem`, `taskMetric` or `prometheus`, e.g. {cpu: 70%}",
                "one target per list item: metrics: [{cpu: 70%}, {mem: 80%}]",
            )
        return self


class AutoscaleSpec(SpecModel):
    min_instances: Whole = Field(alias="min", ge=1, le=MAX_INSTANCES)
    max_instances: Whole = Field(alias="max", ge=1, le=MAX_INSTANCES)
    metrics: list[MetricSpec] = Field(min_length=1)
    behavior: BehaviorSpec | None = None
    tolerance: Tolerance | ToleranceSpec = DEFAULT_TOLERANCE
    cpu_initialization_period: Window = DEFAULT_CPU_INITIALIZATION
    initial_readiness_delay: Window = DEFAULT_INITIAL_READINESS_DELAY

    @model_validator(mode="after")
    def _min_below_max(self) -> AutoscaleSpec:
        if self.min_instances > self.max_instances:
            raise rule_error(
                f"min ({self.min_instances}) is greater than max ({self.max_instances})",
                "make `min` at most `max` (equal bounds fix the instance count)",
            )
        return self


def autoscale_policy(spec: AutoscaleSpec | None) -> AutoscalePolicy | None:
    if spec is None:
        return None
    up, down = (
        (spec.tolerance, spec.tolerance)
        if isinstance(spec.tolerance, float)
        else (spec.tolerance.scale_up, spec.tolerance.scale_down)
    )
    return AutoscalePolicy(
        min_instances=spec.min_instances,
        max_instances=spec.max_instances,
        metrics=tuple(_metric(metric) for metric in spec.metrics),
        tolerance_up=up,
        tolerance_down=down,
        cpu_initialization_seconds=spec.cpu_initialization_period,
        initial_readiness_delay_seconds=spec.initial_readiness_delay,
        behavior=_behavior(spec.behavior),
    )


def _behavior(spec: BehaviorSpec | None) -> Behavior | None:
    """A direction left out takes the HPA's default rules for that direction."""
    if spec is None:
        return None
    return Behavior(
        scale_up=_rules(spec.scale_up, DEFAULT_SCALE_UP), scale_down=_rules(spec.scale_down, DEFAULT_SCALE_DOWN)
    )


def _rules(spec: ScaleRuleSpec | None, default: ScalingRules) -> ScalingRules:
    if spec is None:
        return default
    if spec.max_step is not None:
        policies: tuple[ScalingPolicy, ...] = (ScalingPolicy(PolicyType.TASKS, spec.max_step, MAX_STEP_PERIOD),)
    elif spec.policies is not None:
        policies = tuple(ScalingPolicy(p.type, p.value, p.period) for p in spec.policies)
    else:
        policies = default.policies
    window = default.stabilization_seconds if spec.stabilization_window is None else spec.stabilization_window
    return ScalingRules(window, spec.select_policy or default.select, policies)


def _metric(spec: MetricSpec) -> MetricTarget:
    if spec.cpu is not None:
        return MetricTarget(MetricKind.CPU, spec.cpu)
    if spec.mem is not None:
        return MetricTarget(MetricKind.MEM, spec.mem)
    if spec.task_metric is not None:
        task = spec.task_metric
        return MetricTarget(
            MetricKind.TASK, _amount(task.target.average_value), TargetType.AVERAGE_VALUE, task.name, task.source
        )
    query = spec.prometheus
    assert query is not None  # _one_metric guarantees one of the four
    if query.target.value is not None:
        return MetricTarget(MetricKind.PROMETHEUS, query.target.value, TargetType.VALUE, query.query)
    return MetricTarget(
        MetricKind.PROMETHEUS, _amount(query.target.average_value), TargetType.AVERAGE_VALUE, query.query
    )


def _amount(value: float | None) -> float:
    return math.nan if value is None else value
