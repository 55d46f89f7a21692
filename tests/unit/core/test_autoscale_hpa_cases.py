"""The autoscaling decision against cases translated from the Kubernetes HPA's own test suite.

Sources (kubernetes/kubernetes, pkg/controller/podautoscaler): replica_calculator_test.go
(TestReplicaCalc*: one metric's proposal), horizontal_test.go (TestScalingWithRules,
TestNormalizeDesiredReplicas, TestNormalizeDesiredReplicasWithBehavior, TestScaleUpOneMetricEmpty,
TestNoScaleDownOneMetricEmpty). Pods become tasks: a CPU request of "1.0" is `cpus: 1.0`, a level of
300 (milli-cores) is a sample of 0.3 cores, `PodPending` is TASK_STAGING, a deletion timestamp is
TASK_KILLING, `PodFailed` is TASK_FAILED, readiness False is an unhealthy task. The suite's "hot"
pods started within the CPU initialization period with a sample older than one window after
readiness; "cool" pods started long before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from reconciler.core.autoscale import Recommendation, ScaleEvent, ScaleHistory, decide
from reconciler.core.autoscale_metrics import TaskSample, TaskView, propose
from reconciler.core.autoscale_policy import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
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

NOW = 10_000.0
COOL, HOT = NOW - 3600, NOW - 60


def task(
    index: int,
    *,
    cpu: float | None = None,
    qps: float | None = None,
    cpus: float = 1.0,
    ready: bool = True,
    start: float = COOL,
    state: str = "TASK_RUNNING",
) -> TaskView:
    sample = None
    if cpu is not None or qps is not None:
        sample = TaskSample(at=NOW - 5, window=60, cpu=cpu, metrics={} if qps is None else {"qps": qps})
    return TaskView(f"t{index}", state, ready, start, start, cpus, 1024, sample)


def cpu_tasks(
    levels: Sequence[int],
    count: int,
    *,
    ready: Sequence[bool] = (),
    start: Sequence[float] = (),
    states: Sequence[str] = (),
    requests: Sequence[float] = (),
) -> list[TaskView]:
    return [
        task(
            i,
            cpu=levels[i] / 1000 if i < len(levels) else None,
            ready=ready[i] if i < len(ready) else True,
            start=start[i] if i < len(start) else COOL,
            state=states[i] if i < len(states) else "TASK_RUNNING",
            cpus=requests[i] if i < len(requests) else 1.0,
        )
        for i in range(count)
    ]


def policy(*metrics: MetricTarget, low: int = 1, high: int = 1000, behavior: Behavior | None = None) -> AutoscalePolicy:
    return AutoscalePolicy(low, high, metrics, behavior=behavior)


CPU = {target: MetricTarget(MetricKind.CPU, target / 100) for target in (30, 50, 100)}
QPS = MetricTarget(MetricKind.TASK, 15.0, TargetType.AVERAGE_VALUE, "qps", "prometheus")

# (name, current, tasks, target %, expected): replica_calculator_test.go, resource (CPU) cases.
RESOURCE_CASES = [
    ("ScaleUp", 3, cpu_tasks([300, 500, 700], 3), 30, 5),
    ("ScaleUpUnreadyLessScale", 3, cpu_tasks([300, 500, 700], 3, ready=[False, True, True]), 30, 4),
    ("ScaleUpHotCpuLessScale", 3, cpu_tasks([300, 500, 700], 3, start=[HOT, COOL, COOL]), 30, 4),
    ("ScaleUpUnreadyNoScale", 3, cpu_tasks([400, 500, 700], 3, ready=[True, False, False]), 30, 3),
    ("ScaleHotCpuNoScale", 3, cpu_tasks([400, 500, 700], 3, ready=[True, False, False], start=[COOL, HOT, HOT]), 30, 3),
    ("ScaleUpIgnoresFailedPods", 2, cpu_tasks([500, 700], 4, states=["TASK_RUNNING"] * 2 + ["TASK_FAILED"] * 2), 30, 4),
    (
        "ScaleUpIgnoresDeletionPods",
        2,
        cpu_tasks([500, 700], 4, states=["TASK_RUNNING"] * 2 + ["TASK_KILLING"] * 2),
        30,
        4,
    ),
    ("ScaleDown", 5, cpu_tasks([100, 300, 500, 250, 250], 5), 50, 3),
    ("ScaleDownIncludeUnreadyPods", 5, cpu_tasks([100, 300, 500, 250, 250], 5, ready=[True] * 3 + [False] * 2), 50, 2),
    ("ScaleDownExcludeUnscheduledPods", 5, cpu_tasks([100], 5, states=["TASK_RUNNING"] + ["TASK_STAGING"] * 4), 50, 1),
    ("ScaleDownIgnoreHotCpuPods", 5, cpu_tasks([100, 300, 500, 250, 250], 5, start=[COOL] * 3 + [HOT] * 2), 50, 2),
    (
        "ScaleDownIgnoresFailedPods",
        5,
        cpu_tasks([100, 300, 500, 250, 250], 7, states=["TASK_RUNNING"] * 5 + ["TASK_FAILED"] * 2),
        50,
        3,
    ),
    (
        "ScaleDownIgnoresDeletionPods",
        5,
        cpu_tasks([100, 300, 500, 250, 250], 7, states=["TASK_RUNNING"] * 5 + ["TASK_KILLING"] * 2),
        50,
        3,
    ),
    ("Tolerance", 3, cpu_tasks([1010, 1030, 1020], 3, requests=[0.9, 1.0, 1.1]), 100, 3),
    ("MissingMetrics", 4, cpu_tasks([400, 95], 4), 100, 3),
    ("MissingMetricsNoChangeEq", 2, cpu_tasks([1000], 2), 100, 2),
    ("MissingMetricsNoChangeGt", 2, cpu_tasks([1900], 2), 100, 2),
    ("MissingMetricsNoChangeLt", 2, cpu_tasks([600], 2), 100, 2),
    ("MissingMetricsUnreadyChange", 3, cpu_tasks([100, 450], 3, ready=[False, True, True]), 50, 3),
    ("MissingMetricsHotCpuNoChange", 3, cpu_tasks([100, 450], 3, start=[HOT, COOL, COOL]), 50, 3),
    ("MissingMetricsUnreadyScaleUp", 3, cpu_tasks([100, 2000], 3, ready=[False, True, True]), 50, 4),
    (
        "MissingMetricsHotCpuScaleUp",
        3,
        cpu_tasks([100, 2000], 3, ready=[False, True, True], start=[HOT, COOL, COOL]),
        50,
        4,
    ),
    ("MissingMetricsUnreadyScaleDown", 4, cpu_tasks([100, 100, 100], 4, ready=[False, True, True, True]), 50, 3),
    ("DuringRollingUpdateWithMaxSurge", 2, cpu_tasks([100, 100], 3), 50, 2),
]


@pytest.mark.parametrize(
    ("name", "current", "tasks", "target", "expected"), RESOURCE_CASES, ids=[c[0] for c in RESOURCE_CASES]
)
def test_resource_proposal_matches_the_hpa(
    name: str, current: int, tasks: list[TaskView], target: int, expected: int
) -> None:
    metric = MetricTarget(MetricKind.CPU, target / 100)
    assert propose(policy(metric), metric, current, tasks, {}, NOW).instances == expected


def qps_tasks(levels: Sequence[int], *, ready: Sequence[bool] = (), start: Sequence[float] = ()) -> list[TaskView]:
    return [
        task(
            i, qps=level / 1000, ready=ready[i] if i < len(ready) else True, start=start[i] if i < len(start) else COOL
        )
        for i, level in enumerate(levels)
    ]


# replica_calculator_test.go, per-pod custom metrics ("qps" levels in milli-units, target 15000 = 15).
PLAIN_CASES = [
    ("ScaleUpCM", 3, qps_tasks([20000, 10000, 30000]), 15.0, 4),
    (
        "ScaleUpCMUnreadyHotCpuNoLessScale",
        3,
        qps_tasks([50000, 10000, 30000], ready=[True, True, False], start=[COOL, COOL, HOT]),
        15.0,
        6,
    ),
    (
        "ScaleUpCMUnreadyHotCpuScaleWouldScaleDown",
        3,
        qps_tasks([50000, 15000, 30000], ready=[False, True, False], start=[HOT, COOL, HOT]),
        15.0,
        7,
    ),
    ("ScaleDownCM", 5, qps_tasks([12000] * 5), 20.0, 3),
    ("ToleranceCM", 3, qps_tasks([20000, 21000, 21000]), 20.0, 3),
]


@pytest.mark.parametrize(
    ("name", "current", "tasks", "target", "expected"), PLAIN_CASES, ids=[c[0] for c in PLAIN_CASES]
)
def test_task_metric_proposal_matches_the_hpa(
    name: str, current: int, tasks: list[TaskView], target: float, expected: int
) -> None:
    metric = replace(QPS, target=target)
    assert propose(policy(metric), metric, current, tasks, {}, NOW).instances == expected


# replica_calculator_test.go, external metrics: (name, current, readiness, level, target, type, expected).
EXTERNAL_CASES = [
    ("ScaleUpCMExternalIgnoresUnreadyPods", 3, [False, True, False], 8.6, 4.4, TargetType.VALUE, 2),
    ("ScaleDownCMExternal", 5, [True] * 5, 8.6, 14.334, TargetType.VALUE, 3),
    ("ToleranceCMExternal", 3, [True] * 3, 8.6, 8.888, TargetType.VALUE, 3),
    ("ScaleUpPerPodCMExternal", 3, [True] * 3, 8.6, 2.15, TargetType.AVERAGE_VALUE, 4),
    ("ScaleDownPerPodCMExternal", 5, [True] * 5, 8.6, 2.867, TargetType.AVERAGE_VALUE, 3),
    ("TolerancePerPodCMExternal", 3, [True] * 3, 8.6, 2.9, TargetType.AVERAGE_VALUE, 3),
]


@pytest.mark.parametrize(
    ("name", "current", "ready", "level", "target", "kind", "expected"),
    EXTERNAL_CASES,
    ids=[c[0] for c in EXTERNAL_CASES],
)
def test_external_proposal_matches_the_hpa(
    name: str, current: int, ready: list[bool], level: float, target: float, kind: TargetType, expected: int
) -> None:
    metric = MetricTarget(MetricKind.PROMETHEUS, target, kind, "sum(qps)")
    tasks = [task(i, ready=flag) for i, flag in enumerate(ready)]
    assert propose(policy(metric), metric, current, tasks, {"sum(qps)": level}, NOW).instances == expected


def test_no_samples_at_all_is_an_error_not_a_proposal() -> None:
    """TestReplicaCalcEmptyMetrics: no metrics means no decision (never a scale-down on missing data)."""
    proposal = propose(policy(CPU[100]), CPU[100], 4, cpu_tasks([], 3), {}, NOW)
    assert proposal.instances is None and proposal.error


# groupPods (TestGroupPods): the CPU readiness rules, one task, `expected_ready`.
GROUP_CASES = [
    ("ready with fresh metrics during initialization", NOW - 60, True, NOW - 30, NOW, 30, True),
    ("ready without fresh metrics during initialization", NOW - 60, True, NOW - 30, NOW, 60, False),
    ("unready during initialization", NOW - 600, False, NOW - 594, NOW, 60, False),
    ("ready without fresh metrics after initialization", NOW - 180, True, NOW - 180, NOW - 120, 60, True),
    ("unready that was ready after initialization", NOW - 600, False, NOW - 540, NOW, 60, True),
    ("never ready after initialization", NOW - 600, False, NOW - 590, NOW, 60, False),
]


@pytest.mark.parametrize(
    ("name", "start", "healthy", "since", "at", "window", "ready"), GROUP_CASES, ids=[c[0] for c in GROUP_CASES]
)
def test_cpu_readiness_follows_group_pods(
    name: str, start: float, healthy: bool, since: float, at: float, window: float, ready: bool
) -> None:
    metric = CPU[50]
    view = TaskView("t0", "TASK_RUNNING", healthy, start, since, 1.0, 1024, TaskSample(at, window, cpu=0.1))
    # one ready task at 10% of a 50% target proposes 1; an unready one leaves no sample at all
    proposal = propose(replace(policy(metric), cpu_initialization_seconds=300), metric, 2, [view], {}, NOW)
    assert (proposal.instances is not None) == ready


def rules(
    tasks: int = 0, tasks_period: float = 0, percent: int = 0, percent_period: float = 0, window: float = 0
) -> ScalingRules:
    """horizontal_test.go generateScalingRules."""
    policies = []
    if tasks:
        policies.append(ScalingPolicy(PolicyType.TASKS, tasks, tasks_period))
    if percent:
        policies.append(ScalingPolicy(PolicyType.PERCENT, percent, percent_period))
    return ScalingRules(window, SelectPolicy.MAX, tuple(policies))


def decide_with(
    current: int, recommendation: int, low: int, high: int, behavior: Behavior | None, history: ScaleHistory
) -> tuple[int, str | None]:
    """Decide with one metric that proposes exactly `recommendation` (a per-task query at 1 per task)."""
    query = MetricTarget(MetricKind.PROMETHEUS, 1.0, TargetType.AVERAGE_VALUE, "q")
    rules = replace(policy(query, low=low, high=high, behavior=behavior), tolerance_up=0.0, tolerance_down=0.0)
    tasks = [task(i) for i in range(current)]
    decision = decide(rules, current, tasks, now=NOW, history=history, external={"q": float(recommendation)})
    assert decision.recommendation == recommendation
    return decision.instances, decision.limited_by


UNIFORM_EVENTS = ScaleHistory(scale_events=(ScaleEvent(NOW - 100, 1), ScaleEvent(NOW - 60, 5), ScaleEvent(NOW - 20, 9)))

# TestScalingWithRules: (name, current, prenormalized, min, max, up rules, down rules, history, expected, limit)
RULE_CASES = [
    ("within range", 5, 7, 3, 8, None, None, ScaleHistory(), 7, None),
    ("desired < min", 3, 1, 2, 8, None, None, ScaleHistory(), 2, "min"),
    ("max < scale-up limit", 9, 1000, 1, 10, None, None, ScaleHistory(), 10, "max"),  # current 20 in the HPA test
    ("more than max", 100, 1000, 100, 150, None, None, ScaleHistory(), 150, "max"),
    ("user scale-up limit", 3, 1000, 1, 2000, rules(percent=1, percent_period=60), None, ScaleHistory(), 4, "policy:0"),
    (
        "user scale-down limit",
        1000,
        3,
        3,
        2000,
        None,
        rules(tasks=20, tasks_period=60),
        ScaleHistory(),
        980,
        "policy:0",
    ),
    ("default scale-up", 10, 50, 1, 1000, None, None, ScaleHistory(), 20, "policy:1"),
    ("pods policy larger", 10, 500, 1, 1000, rules(100, 60, 100, 60), None, ScaleHistory(), 110, "policy:0"),
    ("percent policy larger", 10, 500, 1, 1000, rules(2, 60, 100, 60), None, ScaleHistory(), 20, "policy:1"),
    ("large pod policy", 10, 50, 1, 1000, rules(100, 60), None, ScaleHistory(), 50, None),
    ("pod policy limit", 10, 50, 1, 1000, rules(30, 60), None, ScaleHistory(), 40, "policy:0"),
    (
        "percent policy limit",
        10,
        50,
        1,
        1000,
        rules(percent=200, percent_period=60),
        None,
        ScaleHistory(),
        30,
        "policy:0",
    ),
    ("down percent larger", 100, 2, 1, 1000, None, rules(20, 60, 1, 60, 300), ScaleHistory(), 80, "policy:0"),
    ("down pods larger", 100, 2, 1, 1000, None, rules(2, 60, 1, 60, 300), ScaleHistory(), 98, "policy:0"),
    ("down min with large pod policy", 10, 1, 1, 1000, None, rules(100, 60, window=300), ScaleHistory(), 1, None),
    (
        "down min with large percent policy",
        10,
        2,
        5,
        1000,
        None,
        rules(percent=100, percent_period=60, window=300),
        ScaleHistory(),
        5,
        "min",
    ),
    ("down pod policy limit", 10, 2, 1, 1000, None, rules(5, 60, window=300), ScaleHistory(), 5, "policy:0"),
    (
        "down percent policy",
        10,
        5,
        1,
        1000,
        None,
        rules(percent=50, percent_period=60, window=300),
        ScaleHistory(),
        5,
        None,
    ),
    ("up events, pod policy", 100, 500, 1, 200, rules(300, 60), None, UNIFORM_EVENTS, 200, "max"),
    ("up events hold the count", 100, 500, 1, 1000, rules(5, 120), None, UNIFORM_EVENTS, 100, "policy:0"),
    ("up events, pod policy over 120s", 100, 500, 1, 1000, rules(150, 120), None, UNIFORM_EVENTS, 235, "policy:0"),
]


@pytest.mark.parametrize(
    ("name", "current", "recommended", "low", "high", "up", "down", "history", "expected", "limit"),
    RULE_CASES,
    ids=[c[0] for c in RULE_CASES],
)
def test_rate_policies_match_scaling_with_rules(
    name: str,
    current: int,
    recommended: int,
    low: int,
    high: int,
    up: ScalingRules | None,
    down: ScalingRules | None,
    history: ScaleHistory,
    expected: int,
    limit: str | None,
) -> None:
    behavior = Behavior(up or DEFAULT_SCALE_UP, down or replace(DEFAULT_SCALE_DOWN, stabilization_seconds=0))
    assert decide_with(current, recommended, low, high, behavior, history) == (expected, limit)


def history_of(*pairs: tuple[int, float]) -> ScaleHistory:
    return ScaleHistory(recommendations=tuple(Recommendation(NOW + at, count) for count, at in pairs))


# TestNormalizeDesiredReplicasWithBehavior:
# (name, recommendations, current, prenormalized, up window, down window, expected)
STABILIZATION_CASES = [
    ("empty, scaling down", history_of(), 100, 5, 0, 0, 5),
    ("simple scale-down stabilization", history_of((4, -120), (5, -60)), 100, 3, 0, 180, 5),
    ("simple scale-up stabilization", history_of((4, -120), (5, -60)), 1, 7, 300, 0, 4),
    ("no scale-down stabilization", history_of((1, -120), (2, -60)), 100, 3, 300, 0, 3),
    ("no scale-up stabilization", history_of((4, -120), (5, -60)), 1, 3, 0, 300, 3),
    ("scale-down, obsolete entries", history_of((10, -600), (4, -60), (5, -120), (9, -540)), 100, 3, 0, 180, 5),
    ("scale-up, obsolete entries", history_of((10, -6000), (6, -60), (5, -120), (9, -180)), 1, 100, 300, 300, 5),
    ("no scale-up when the proposal goes down", history_of((2, -6000), (3, -180)), 2, 1, 300, 300, 2),
    ("no scale-down when the proposal goes up", history_of((2, -6000), (1, -180)), 2, 3, 300, 300, 2),
]


@pytest.mark.parametrize(
    ("name", "history", "current", "recommended", "up", "down", "expected"),
    STABILIZATION_CASES,
    ids=[c[0] for c in STABILIZATION_CASES],
)
def test_stabilization_windows_match_the_hpa(
    name: str, history: ScaleHistory, current: int, recommended: int, up: float, down: float, expected: int
) -> None:
    wide = ScalingPolicy(PolicyType.PERCENT, 100_000, 15)
    behavior = Behavior(
        ScalingRules(up, SelectPolicy.MAX, (wide,)),
        ScalingRules(down, SelectPolicy.MAX, (ScalingPolicy(PolicyType.PERCENT, 100, 15),)),
    )
    assert decide_with(current, recommended, 1, 100_000, behavior, history)[0] == expected


# TestNormalizeDesiredReplicas (legacy rules, 5 minute window): (name, recommendations, prenormalized, expected)
LEGACY_CASES = [
    ("empty log", history_of(), 5, 5),
    ("stabilize", history_of((4, -120), (5, -60)), 3, 5),
    ("no stabilize", history_of((1, -120), (2, -60)), 3, 3),
    ("no stabilize, old recommendations", history_of((10, -600), (9, -540)), 3, 3),
    ("stabilize, old recommendations", history_of((10, -600), (4, -60), (5, -120), (9, -540)), 3, 5),
]


@pytest.mark.parametrize(("name", "history", "recommended", "expected"), LEGACY_CASES, ids=[c[0] for c in LEGACY_CASES])
def test_legacy_stabilization_matches_the_hpa(
    name: str, history: ScaleHistory, recommended: int, expected: int
) -> None:
    assert decide_with(6, recommended, 1, 100, None, history)[0] == expected


def test_legacy_scale_up_is_at_most_twice_current_or_four() -> None:
    """horizontal.go calculateScaleUpLimit: max(2 x current, 4)."""
    assert decide_with(3, 50, 1, 100, None, ScaleHistory()) == (6, "legacy-scale-up-limit")
    assert decide_with(1, 50, 1, 100, None, ScaleHistory()) == (4, "legacy-scale-up-limit")


def test_a_failed_metric_lets_a_scale_up_through() -> None:
    """TestScaleUpOneMetricEmpty: CPU at 30% target over [300, 400, 500] scales 3 -> 4 though qps failed."""
    query = MetricTarget(MetricKind.PROMETHEUS, 0.1, TargetType.VALUE, "sum(qps)")
    decision = decide(
        policy(CPU[30], query, low=2, high=6), 3, cpu_tasks([300, 400, 500], 3), now=NOW, history=ScaleHistory()
    )
    assert decision.instances == 4


def test_a_failed_metric_blocks_a_scale_down() -> None:
    """TestNoScaleDownOneMetricEmpty: CPU says 3, the query could not be read: stay at 5."""
    query = MetricTarget(MetricKind.PROMETHEUS, 1.0, TargetType.VALUE, "sum(qps)")
    tasks = cpu_tasks([100, 300, 500, 250, 250], 5)
    decision = decide(policy(CPU[50], query, low=2, high=6), 5, tasks, now=NOW, history=ScaleHistory())
    assert decision.instances == 5 and "could not be read" in decision.reason


def test_bounds_and_zero() -> None:
    tasks = cpu_tasks([500] * 3, 3)
    assert decide(policy(CPU[50], low=4, high=8), 3, tasks, now=NOW).instances == 4
    assert decide(policy(CPU[50], low=1, high=2), 3, tasks, now=NOW).instances == 2
    zero = decide(policy(CPU[50], low=1, high=8), 0, [], now=NOW)
    assert (zero.instances, zero.scaled) == (0, False) and "disabled" in zero.reason


def test_first_sight_seeds_the_current_count_so_no_immediate_scale_down() -> None:
    """reconcileAutoscaler records the current count the first time it sees an autoscaler."""
    idle = cpu_tasks([10] * 4, 4)
    first = decide(policy(CPU[50]), 4, idle, now=NOW)
    assert first.instances == 4 and first.limited_by == "stabilization"
    later = decide(policy(CPU[50]), 4, idle, now=NOW + 301, history=first.history)
    assert later.instances == 1
