"""The autoscaling decision (pure core): what instance count an app should run now, and why.

A transcription of the Kubernetes HPA controller's reconcileAutoscaler (pkg/controller/podautoscaler/
horizontal.go): out-of-bounds counts are brought into bounds; otherwise every metric proposes a count
(core/autoscale_metrics.py), the largest wins, and the result is normalized either by the legacy rules
(scale-down stabilization, scale up to at most max(2 x current, 4)) or, with a `behavior`, by the
stabilization windows and rate policies. Time is a parameter; the memory the HPA keeps per autoscaler
(recent recommendations, scale events) comes in and goes out as a ScaleHistory value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from reconciler.core.autoscale_metrics import Proposal, TaskView, propose
from reconciler.core.autoscale_policy import (
    LEGACY_SCALE_UP_FACTOR,
    LEGACY_SCALE_UP_MINIMUM,
    AutoscalePolicy,
    Behavior,
    PolicyType,
    ScalingRules,
    SelectPolicy,
)


@dataclass(frozen=True)
class Recommendation:
    at: float
    instances: int


@dataclass(frozen=True)
class ScaleEvent:
    """A scaling the autoscaler made: `change` > 0 up, < 0 down."""

    at: float
    change: int


@dataclass(frozen=True)
class ScaleHistory:
    recommendations: tuple[Recommendation, ...] = ()
    scale_events: tuple[ScaleEvent, ...] = ()


@dataclass(frozen=True)
class Decision:
    """`instances` to run; `recommendation` is the largest metric proposal before stabilization and limits."""

    instances: int
    current: int
    recommendation: int | None
    proposals: tuple[Proposal, ...]
    limited_by: str | None
    reason: str
    history: ScaleHistory = field(default_factory=ScaleHistory)

    @property
    def scaled(self) -> bool:
        return self.instances != self.current


@dataclass(frozen=True)
class _Normalized:
    instances: int
    limited_by: str | None


def decide(
    policy: AutoscalePolicy,
    instances: int,
    tasks: Sequence[TaskView],
    *,
    now: float,
    history: ScaleHistory | None = None,
    external: Mapping[str, float] | None = None,
) -> Decision:
    """The decision for an app that runs `instances` now. No history: seeded as the HPA does at first sight."""
    if history is None:
        history = ScaleHistory(recommendations=(Recommendation(now, instances),))
    if instances == 0:
        return Decision(0, 0, None, (), None, "autoscaling is disabled while the app has 0 instances", history)
    if instances > policy.max_instances:
        return _bounded(policy, instances, policy.max_instances, "max", history, now)
    if instances < policy.min_instances:
        return _bounded(policy, instances, policy.min_instances, "min", history, now)
    proposals = tuple(propose(policy, metric, instances, tasks, external or {}, now) for metric in policy.metrics)
    valid = [p for p in proposals if p.instances is not None]
    best = max(valid, key=lambda p: p.instances or 0, default=None)
    recommendation = best.instances if best is not None and best.instances is not None else None
    if recommendation is None or (len(valid) < len(proposals) and recommendation < instances):
        first = next(p.error for p in proposals if p.error)
        return Decision(instances, instances, None, proposals, None, f"no change: {first}", history)
    normalized = _normalize(policy, instances, recommendation, history, now)
    limited_by = normalized.limited_by or _tolerance_limit(proposals, recommendation, instances)
    history = _remember(policy, history, instances, recommendation, normalized.instances, now)
    reason = _reason(best, proposals, instances, recommendation, normalized.instances, limited_by)
    return Decision(normalized.instances, instances, recommendation, proposals, limited_by, reason, history)


def _bounded(
    policy: AutoscalePolicy, instances: int, bound: int, which: str, history: ScaleHistory, now: float
) -> Decision:
    side = "above max" if which == "max" else "below min"
    history = _with_event(policy, history, instances, bound, now)
    return Decision(
        bound, instances, None, (), which, f"{instances} instances is {side}: {instances} -> {bound}", history
    )


def _normalize(
    policy: AutoscalePolicy, current: int, recommendation: int, history: ScaleHistory, now: float
) -> _Normalized:
    if policy.behavior is None:
        return _legacy(policy, current, recommendation, history, now)
    stabilized = _stabilized(policy, current, recommendation, history, now)
    limited = _rate_limited(policy, policy.behavior, current, stabilized, history, now)
    if limited is not None:
        return limited
    return _Normalized(stabilized, "stabilization" if stabilized != recommendation else None)


def _legacy(
    policy: AutoscalePolicy, current: int, recommendation: int, history: ScaleHistory, now: float
) -> _Normalized:
    """normalizeDesiredReplicas: stabilizeRecommendation, then convertDesiredReplicasWithRules."""
    cutoff = now - policy.downscale_stabilization_seconds
    stabilized = max([recommendation, *(r.instances for r in history.recommendations if r.at >= cutoff)])
    scale_up_limit = int(max(LEGACY_SCALE_UP_FACTOR * current, LEGACY_SCALE_UP_MINIMUM))
    maximum, limit = (scale_up_limit, "legacy-scale-up-limit")
    if policy.max_instances <= scale_up_limit:
        maximum, limit = policy.max_instances, "max"
    if stabilized < policy.min_instances:
        return _Normalized(policy.min_instances, "min")
    if stabilized > maximum:
        return _Normalized(maximum, limit)
    return _Normalized(stabilized, "stabilization" if stabilized != recommendation else None)


def _stabilized(policy: AutoscalePolicy, current: int, recommendation: int, history: ScaleHistory, now: float) -> int:
    """stabilizeRecommendationWithBehaviors: the lowest recent proposal bounds an up, the highest a down."""
    up_cutoff, down_cutoff = now - policy.scale_up_window, now - policy.scale_down_window
    up, down = recommendation, recommendation
    for earlier in history.recommendations:
        if earlier.at > up_cutoff:
            up = min(up, earlier.instances)
        if earlier.at > down_cutoff:
            down = max(down, earlier.instances)
    return min(max(current, up), down)


def _rate_limited(
    policy: AutoscalePolicy, behavior: Behavior, current: int, desired: int, history: ScaleHistory, now: float
) -> _Normalized | None:
    """convertDesiredReplicasWithBehaviorRate: None when the desired count stands."""
    if desired > current:
        limit, which = _scale_limit(current, history, behavior.scale_up, now, up=True)
        limit = max(limit, current)
        maximum, which = (limit, which) if policy.max_instances > limit else (policy.max_instances, "max")
        return _Normalized(maximum, which) if desired > maximum else None
    if desired < current:
        limit, which = _scale_limit(current, history, behavior.scale_down, now, up=False)
        limit = min(limit, current)
        minimum, which = (limit, which) if policy.min_instances < limit else (policy.min_instances, "min")
        return _Normalized(minimum, which) if desired < minimum else None
    return None


def _scale_limit(current: int, history: ScaleHistory, rules: ScalingRules, now: float, *, up: bool) -> tuple[int, str]:
    """calculateScaleUpLimitWithScalingRules / calculateScaleDownLimitWithBehaviors."""
    if rules.select is SelectPolicy.DISABLED:
        return current, "policy:disabled"
    widest = (rules.select is SelectPolicy.MAX) == up  # up+Max and down+Min take the largest count
    best: tuple[int, str] | None = None
    for index, policy in enumerate(rules.policies):
        cutoff = now - policy.period_seconds
        added = sum(e.change for e in history.scale_events if e.change > 0 and e.at > cutoff)
        deleted = sum(-e.change for e in history.scale_events if e.change < 0 and e.at > cutoff)
        start = current - added + deleted
        proposed = _proposed(start, policy.type, policy.value, up=up)
        if best is None or (proposed > best[0] if widest else proposed < best[0]):
            best = (proposed, f"policy:{index}")
    return best if best is not None else (current, "policy:disabled")


def _proposed(start: int, kind: PolicyType, value: int, *, up: bool) -> int:
    if kind is PolicyType.TASKS:
        return start + value if up else start - value
    if up:  # rounded up, or a small percentage could never add a task
        return math.ceil(start * (1 + value / 100))
    return int(start * (1 - value / 100))


def _tolerance_limit(proposals: Sequence[Proposal], recommendation: int, current: int) -> str | None:
    if recommendation == current and any(p.within_tolerance for p in proposals):
        return "tolerance"
    return None


def _remember(
    policy: AutoscalePolicy, history: ScaleHistory, current: int, recommendation: int, decided: int, now: float
) -> ScaleHistory:
    """Record the proposal; forget what no window can reach any more (the HPA overwrites such entries)."""
    if policy.behavior is None:
        horizon = policy.downscale_stabilization_seconds
        kept = tuple(r for r in history.recommendations if r.at >= now - horizon)
    else:
        horizon = max(policy.scale_up_window, policy.scale_down_window)
        kept = tuple(r for r in history.recommendations if r.at > now - horizon)
    history = ScaleHistory((*kept, Recommendation(now, recommendation)), history.scale_events)
    return _with_event(policy, history, current, decided, now)


def _with_event(policy: AutoscalePolicy, history: ScaleHistory, current: int, decided: int, now: float) -> ScaleHistory:
    """storeScaleEvent: only with a behavior, and only when the count changes."""
    behavior = policy.behavior
    if behavior is None or decided == current:
        return history
    horizon = max(behavior.scale_up.longest_period, behavior.scale_down.longest_period)
    events = tuple(e for e in history.scale_events if e.at > now - horizon)
    return ScaleHistory(history.recommendations, (*events, ScaleEvent(now, decided - current)))


def _reason(
    best: Proposal | None,
    proposals: Sequence[Proposal],
    current: int,
    recommendation: int,
    decided: int,
    limited_by: str | None,
) -> str:
    if decided == current:
        why = {"tolerance": "within tolerance of the target", "stabilization": "held by the stabilization window"}
        text = why.get(limited_by or "", f"limited by {limited_by}" if limited_by else "at the recommended count")
        return f"no change at {current}: {text}"
    if decided > current and best is not None:
        trigger = f"{best.metric.label} above target"
    else:
        trigger = "all metrics below target"
    suffix = f" (recommended {recommendation}, limited by {limited_by})" if limited_by else ""
    return f"{trigger}: {current} -> {decided}{suffix}"
