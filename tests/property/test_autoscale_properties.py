"""Properties of the autoscaling decision (hypothesis): flat load with +-10% noise never changes the
count, whatever the policy's shape; a decision is always within min..max; replay is deterministic."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.autoscale import ScaleHistory
from reconciler.core.autoscale_metrics import TaskSample, TaskView
from reconciler.core.autoscale_policy import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    AutoscalePolicy,
    Behavior,
    MetricKind,
    MetricTarget,
)
from reconciler.core.autoscale_replay import Step, replay

TICK = 15.0


def flat_steps(count: int, cpus: float, target: float, noise: list[list[float]]) -> list[Step]:
    """`count` running tasks whose CPU stays at the target, each sample off by its noise share."""
    steps = []
    for tick, shares in enumerate(noise):
        now = tick * TICK
        tasks = tuple(
            TaskView(
                f"t{i}",
                "TASK_RUNNING",
                True,
                -3600,
                -3590,
                cpus,
                512,
                TaskSample(now - 5, 30, cpu=cpus * target * (1 + shares[i % len(shares)])),
            )
            for i in range(count)
        )
        steps.append(Step(now, tasks))
    return steps


@settings(max_examples=150, deadline=None)
@given(
    count=st.integers(1, 30),
    cpus=st.sampled_from([0.1, 0.25, 0.5, 1.0, 2.0, 4.0]),
    target=st.sampled_from([0.3, 0.5, 0.6, 0.7, 0.8, 0.9]),
    with_behavior=st.booleans(),
    noise=st.lists(st.lists(st.floats(-0.1, 0.1), min_size=1, max_size=30), min_size=1, max_size=40),
)
def test_flat_load_with_ten_percent_noise_never_scales(
    count: int, cpus: float, target: float, with_behavior: bool, noise: list[list[float]]
) -> None:
    behavior = Behavior(DEFAULT_SCALE_UP, DEFAULT_SCALE_DOWN) if with_behavior else None
    policy = AutoscalePolicy(1, 100, (MetricTarget(MetricKind.CPU, target),), behavior=behavior)
    outcomes = replay(policy, count, flat_steps(count, cpus, target, noise))
    assert [decision.instances for _, decision in outcomes] == [count] * len(noise)


@settings(max_examples=150, deadline=None)
@given(
    count=st.integers(1, 30),
    low=st.integers(1, 10),
    span=st.integers(0, 20),
    loads=st.lists(st.floats(0.0, 4.0), min_size=1, max_size=20),
)
def test_decisions_stay_within_bounds_and_replay_is_deterministic(
    count: int, low: int, span: int, loads: list[float]
) -> None:
    policy = AutoscalePolicy(low, low + span, (MetricTarget(MetricKind.CPU, 0.5),))
    steps = [
        Step(
            i * TICK,
            tuple(
                TaskView(f"t{j}", "TASK_RUNNING", True, -3600, -3590, 1.0, 512, TaskSample(i * TICK - 5, 30, cpu=load))
                for j in range(count)
            ),
        )
        for i, load in enumerate(loads)
    ]
    first = replay(policy, count, steps, ScaleHistory())
    assert all(low <= d.instances <= low + span for _, d in first)
    assert first == replay(policy, count, steps, ScaleHistory())
