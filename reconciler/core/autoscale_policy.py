"""An app's autoscaling policy (pure core): bounds, metric targets, tolerance and behavior.

The words and defaults are the Kubernetes HPA's (autoscaling/v2 `HorizontalPodAutoscalerBehavior`,
pkg/apis/autoscaling/v2/defaults.go), with Marathon tasks in place of pods: a `Tasks` policy is the
HPA's `Pods` policy. The spec layer builds these values; core/autoscale.py decides with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

DEFAULT_DOWNSCALE_STABILIZATION = 300.0  # the HPA controller's --horizontal-pod-autoscaler-downscale-stabilization
DEFAULT_CPU_INITIALIZATION = 300.0  # --horizontal-pod-autoscaler-cpu-initialization-period
DEFAULT_INITIAL_READINESS_DELAY = 30.0  # --horizontal-pod-autoscaler-initial-readiness-delay
DEFAULT_TOLERANCE = 0.1  # --horizontal-pod-autoscaler-tolerance
LEGACY_SCALE_UP_FACTOR = 2.0  # horizontal.go scaleUpLimitFactor
LEGACY_SCALE_UP_MINIMUM = 4.0  # horizontal.go scaleUpLimitMinimum


class SelectPolicy(StrEnum):
    MAX = "Max"
    MIN = "Min"
    DISABLED = "Disabled"


class PolicyType(StrEnum):
    TASKS = "Tasks"
    PERCENT = "Percent"


class MetricKind(StrEnum):
    CPU = "cpu"
    MEM = "mem"
    TASK = "taskMetric"
    PROMETHEUS = "prometheus"


class TargetType(StrEnum):
    UTILIZATION = "utilization"  # cpu, mem: a share of the task's allocation
    AVERAGE_VALUE = "averageValue"  # per task
    VALUE = "value"  # the query's total (prometheus only)


@dataclass(frozen=True)
class ScalingPolicy:
    type: PolicyType
    value: int
    period_seconds: float


@dataclass(frozen=True)
class ScalingRules:
    """One direction of `behavior`. A None stabilization window takes the controller's default."""

    stabilization_seconds: float | None
    select: SelectPolicy
    policies: tuple[ScalingPolicy, ...]

    @property
    def longest_period(self) -> float:
        return max((policy.period_seconds for policy in self.policies), default=0.0)


DEFAULT_SCALE_UP = ScalingRules(
    stabilization_seconds=0.0,
    select=SelectPolicy.MAX,
    policies=(ScalingPolicy(PolicyType.TASKS, 4, 15.0), ScalingPolicy(PolicyType.PERCENT, 100, 15.0)),
)
DEFAULT_SCALE_DOWN = ScalingRules(
    stabilization_seconds=None, select=SelectPolicy.MAX, policies=(ScalingPolicy(PolicyType.PERCENT, 100, 15.0),)
)


@dataclass(frozen=True)
class Behavior:
    scale_up: ScalingRules = DEFAULT_SCALE_UP
    scale_down: ScalingRules = DEFAULT_SCALE_DOWN


@dataclass(frozen=True)
class MetricTarget:
    """One target. `target` is a fraction for utilization (0.7 = 70%), else a value in the metric's unit.

    `name` is the task metric's name or the Prometheus query; `source` names where a task metric is read.
    """

    kind: MetricKind
    target: float
    target_type: TargetType = TargetType.UTILIZATION
    name: str = ""
    source: str = ""

    @property
    def label(self) -> str:
        return self.kind.value if self.kind in (MetricKind.CPU, MetricKind.MEM) else f"{self.kind.value}:{self.name}"


@dataclass(frozen=True)
class AutoscalePolicy:
    """Everything the decision needs of an app's `autoscale` block. `behavior` None: the HPA's legacy rules."""

    min_instances: int
    max_instances: int
    metrics: tuple[MetricTarget, ...] = ()
    tolerance_up: float = DEFAULT_TOLERANCE
    tolerance_down: float = DEFAULT_TOLERANCE
    cpu_initialization_seconds: float = DEFAULT_CPU_INITIALIZATION
    initial_readiness_delay_seconds: float = DEFAULT_INITIAL_READINESS_DELAY
    behavior: Behavior | None = None
    downscale_stabilization_seconds: float = DEFAULT_DOWNSCALE_STABILIZATION

    def within_tolerance(self, ratio: float) -> bool:
        """replica_calculator.go Tolerances.isWithin: no change while 1-down <= ratio <= 1+up."""
        return (1.0 - self.tolerance_down) <= ratio <= (1.0 + self.tolerance_up)

    @property
    def scale_down_window(self) -> float:
        if self.behavior is None or self.behavior.scale_down.stabilization_seconds is None:
            return self.downscale_stabilization_seconds
        return self.behavior.scale_down.stabilization_seconds

    @property
    def scale_up_window(self) -> float:
        if self.behavior is None:
            return 0.0
        return self.behavior.scale_up.stabilization_seconds or 0.0
