"""The per-metric proposal (pure core): the Kubernetes HPA's replica calculator over Marathon tasks.

A transcription of pkg/controller/podautoscaler/replica_calculator.go (GetResourceReplicas,
calcPlainMetricReplicas, GetExternalMetricReplicas, GetExternalPerPodMetricReplicas, groupPods) and
metrics/utilization.go, with tasks for pods. Values are kept in milli-units as integers, as the HPA
keeps them, so its rounding (the integer utilization percentage) is reproduced exactly.

Task phases map as: TASK_RUNNING is a running pod; TASK_STAGING/TASK_STARTING are pending pods
(unready); TASK_KILLING (a deletion timestamp), every terminal state and TASK_UNREACHABLE are ignored.
A task's Marathon health is its Ready condition; a task of an app without health checks is ready
from its start, as a pod without a readiness probe is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from reconciler.core.autoscale_policy import AutoscalePolicy, MetricKind, MetricTarget, TargetType

_RUNNING = frozenset({"TASK_RUNNING"})
_PENDING = frozenset({"TASK_STAGING", "TASK_STARTING", "TASK_STAGED"})


@dataclass(frozen=True)
class TaskSample:
    """One reading of a task: `cpu` in cores, `mem` in MiB, other metrics in their own unit."""

    at: float
    window: float = 30.0
    cpu: float | None = None
    mem: float | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskView:
    """A Marathon task as the autoscaler sees it. `healthy_since` is when its health last changed."""

    task_id: str
    state: str = "TASK_RUNNING"
    healthy: bool | None = None
    started_at: float | None = None
    healthy_since: float | None = None
    cpus: float = 0.0
    mem: float = 0.0
    sample: TaskSample | None = None


@dataclass(frozen=True)
class Proposal:
    """One metric's outcome: `instances` None when it could not be computed (`error` says why)."""

    metric: MetricTarget
    instances: int | None
    current: float | None = None
    error: str | None = None
    within_tolerance: bool = False


@dataclass(frozen=True)
class _Groups:
    ready: int
    unready: frozenset[str]
    missing: frozenset[str]
    values: dict[str, int]  # task id -> milli-value, ready tasks with a sample only


def milli(value: float) -> int:
    return round(value * 1000)


def propose(
    policy: AutoscalePolicy,
    metric: MetricTarget,
    spec_instances: int,
    tasks: Sequence[TaskView],
    external: Mapping[str, float],
    now: float,
) -> Proposal:
    """The instance count one metric asks for (horizontal.go computeReplicasForMetric)."""
    if metric.kind is MetricKind.PROMETHEUS:
        return _external(policy, metric, spec_instances, tasks, external)
    if not tasks:
        return Proposal(metric, None, error="no tasks returned while calculating the instance count")
    if metric.kind in (MetricKind.CPU, MetricKind.MEM):
        return _resource(policy, metric, spec_instances, tasks, now)
    return _plain(policy, metric, spec_instances, tasks, now)


def _value_of(metric: MetricTarget, sample: TaskSample) -> float | None:
    if metric.kind is MetricKind.CPU:
        return sample.cpu
    if metric.kind is MetricKind.MEM:
        return sample.mem
    return sample.metrics.get(metric.name)


def _group(policy: AutoscalePolicy, metric: MetricTarget, tasks: Sequence[TaskView], now: float) -> _Groups:
    """replica_calculator.go groupPods: ready count, unready and missing tasks, the ready tasks' values."""
    ready, unready, missing, values = 0, set(), set(), {}
    for task in tasks:
        if task.state in _PENDING:
            unready.add(task.task_id)
            continue
        if task.state not in _RUNNING:
            continue  # ignored: being killed, gone, or unreachable
        value = None if task.sample is None else _value_of(metric, task.sample)
        if value is None:
            missing.add(task.task_id)
            continue
        if metric.kind is MetricKind.CPU and _cpu_unready(policy, task, now):
            unready.add(task.task_id)
            continue
        ready += 1
        values[task.task_id] = milli(value)
    return _Groups(ready, frozenset(unready), frozenset(missing), values)


def _cpu_unready(policy: AutoscalePolicy, task: TaskView, now: float) -> bool:
    """groupPods' CPU rule: within the initialization period a sample must postdate readiness by a window."""
    if task.started_at is None:
        return True
    healthy = task.healthy is not False
    transition = task.healthy_since if task.healthy_since is not None else task.started_at
    sample = task.sample
    if task.started_at + policy.cpu_initialization_seconds > now:
        return not healthy or (sample is not None and sample.at < transition + sample.window)
    return not healthy and task.started_at + policy.initial_readiness_delay_seconds > transition


def _resource(
    policy: AutoscalePolicy, metric: MetricTarget, current: int, tasks: Sequence[TaskView], now: float
) -> Proposal:
    """GetResourceReplicas: utilization of the tasks' allocation (cpus or mem) against a percentage."""
    groups = _group(policy, metric, tasks, now)
    if not groups.values:
        return Proposal(metric, None, error="no samples for the running tasks (they may be unready)")
    requests = {t.task_id: milli(t.cpus if metric.kind is MetricKind.CPU else t.mem) for t in tasks}
    target = metric.target * 100
    values = dict(groups.values)
    ratio, utilization = _utilization_ratio(values, requests, target)
    if ratio is None:
        return Proposal(metric, None, error=f"the tasks allocate no {metric.kind.value}")
    with_unready = bool(groups.unready) and ratio > 1.0
    if not with_unready and not groups.missing:
        if policy.within_tolerance(ratio):
            return Proposal(metric, current, utilization, within_tolerance=True)
        return Proposal(metric, math.ceil(ratio * groups.ready), utilization)
    if groups.missing and ratio < 1.0:
        fallback = max(100, int(target))
        values.update({name: requests[name] * fallback // 100 for name in groups.missing})
    elif groups.missing and ratio > 1.0:
        values.update(dict.fromkeys(groups.missing, 0))
    if with_unready:
        values.update(dict.fromkeys(groups.unready, 0))
    new_ratio, _ = _utilization_ratio(values, requests, target)
    return _rebalanced(policy, metric, current, ratio, new_ratio or 0.0, len(values), utilization)


def _utilization_ratio(
    values: Mapping[str, int], requests: Mapping[str, int], target: float
) -> tuple[float | None, float]:
    """metrics/utilization.go GetResourceUtilizationRatio, with its integer percentage."""
    used = sum(values[name] for name in values if name in requests)
    requested = sum(requests[name] for name in values if name in requests)
    if requested == 0:
        return None, 0.0
    utilization = (used * 100) // requested
    return utilization / target, float(utilization)


def _rebalanced(
    policy: AutoscalePolicy,
    metric: MetricTarget,
    current: int,
    ratio: float,
    new_ratio: float,
    counted: int,
    usage: float,
) -> Proposal:
    """The second pass once missing and unready tasks are filled in: never a change of direction."""
    if policy.within_tolerance(new_ratio):
        return Proposal(metric, current, usage, within_tolerance=True)
    if (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return Proposal(metric, current, usage)
    proposed = math.ceil(new_ratio * counted)
    if (new_ratio < 1.0 and proposed > current) or (new_ratio > 1.0 and proposed < current):
        return Proposal(metric, current, usage)
    return Proposal(metric, proposed, usage)


def _plain(
    policy: AutoscalePolicy, metric: MetricTarget, current: int, tasks: Sequence[TaskView], now: float
) -> Proposal:
    """calcPlainMetricReplicas: a per-task metric against an average value."""
    groups = _group(policy, metric, tasks, now)
    if not groups.values:
        return Proposal(metric, None, error=f"no samples of {metric.name} for the running tasks")
    target = milli(metric.target)
    values = dict(groups.values)
    ratio, usage = _usage_ratio(values, target)
    with_unready = bool(groups.unready) and ratio > 1.0
    if not with_unready and not groups.missing:
        if policy.within_tolerance(ratio):
            return Proposal(metric, current, usage, within_tolerance=True)
        return Proposal(metric, math.ceil(ratio * groups.ready), usage)
    if groups.missing:
        values.update(dict.fromkeys(groups.missing, target if ratio < 1.0 else 0))
    if with_unready:
        values.update(dict.fromkeys(groups.unready, 0))
    new_ratio, _ = _usage_ratio(values, target)
    return _rebalanced(policy, metric, current, ratio, new_ratio, len(values), usage)


def _usage_ratio(values: Mapping[str, int], target: int) -> tuple[float, float]:
    """metrics/utilization.go GetMetricUsageRatio: the integer average over the target."""
    average = sum(values.values()) // len(values)
    return average / target, average / 1000


def _external(
    policy: AutoscalePolicy,
    metric: MetricTarget,
    spec_instances: int,
    tasks: Sequence[TaskView],
    external: Mapping[str, float],
) -> Proposal:
    """GetExternalMetricReplicas (`value`) and GetExternalPerPodMetricReplicas (`averageValue`)."""
    if metric.name not in external:
        return Proposal(metric, None, error=f"the query {metric.name!r} could not be read")
    usage = milli(external[metric.name])
    target = milli(metric.target)
    if metric.target_type is TargetType.AVERAGE_VALUE:
        status = sum(1 for task in tasks if task.state in _RUNNING | _PENDING)
        if status == 0:
            return Proposal(metric, None, error="no tasks to average the query over")
        ratio = usage / (target * status)
        within = policy.within_tolerance(ratio)
        proposed = status if within else math.ceil(usage / target)
        return Proposal(metric, proposed, math.ceil(usage / status) / 1000, within_tolerance=within)
    ratio = usage / target
    if spec_instances == 0:
        return Proposal(metric, math.ceil(ratio), usage / 1000)
    if policy.within_tolerance(ratio):
        return Proposal(metric, spec_instances, usage / 1000, within_tolerance=True)
    ready = sum(1 for task in tasks if task.state in _RUNNING and task.healthy is not False)
    return Proposal(metric, math.ceil(ratio * ready), usage / 1000)
