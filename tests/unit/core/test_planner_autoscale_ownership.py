"""The instance count of an autoscaled app belongs to the autoscaler within [min, max]: the plan never
scales back a count inside the bounds (the autoscaler's or a person's), clamps one outside them at
once, including after a spec change of min or max, and leaves 0 alone (autoscaling off)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.core.autoscale_policy import AutoscalePolicy, MetricKind, MetricTarget
from reconciler.core.model import ActionKind, DesiredApp
from reconciler.core.plan import PlanOptions, build_plan
from tests.unit.core.planner_builders import applied, desired_app, desired_of, with_instances

CPU = (MetricTarget(MetricKind.CPU, 0.7),)


def autoscaled(low: int, high: int) -> DesiredApp:
    app = desired_app("web", instances=low, cmd="run")
    return replace(app, autoscale=AutoscalePolicy(low, high, CPU))


@pytest.mark.parametrize(
    ("running", "low", "high", "expected"),
    [
        (5, 2, 8, None),  # scaled inside the bounds: left alone
        (2, 2, 8, None),
        (8, 2, 8, None),
        (12, 2, 8, 8),  # above max: clamped at once
        (1, 2, 8, 2),  # below min: clamped at once
        (0, 2, 8, None),  # 0 turns autoscaling off, as the HPA has it
    ],
)
def test_the_plan_never_fights_a_count_inside_the_bounds(
    running: int, low: int, high: int, expected: int | None
) -> None:
    desired = desired_of(autoscaled(low, high))
    actual = with_instances(applied(desired), "/int/web", running)
    pending = build_plan(desired, actual, PlanOptions()).pending
    if expected is None:
        assert pending == ()
    else:
        assert [(a.kind, a.instances_to) for a in pending] == [(ActionKind.SCALE, expected)]


def test_a_spec_change_of_the_bounds_clamps_at_once() -> None:
    before = desired_of(autoscaled(2, 8))
    actual = with_instances(applied(before), "/int/web", 7)
    after = desired_of(autoscaled(2, 5))
    assert [a.instances_to for a in build_plan(after, actual, PlanOptions()).pending] == [5]
    raised = desired_of(autoscaled(9, 12))
    assert [a.instances_to for a in build_plan(raised, actual, PlanOptions()).pending] == [9]


def test_an_app_without_autoscale_is_still_scaled_back_to_its_instances() -> None:
    desired = desired_of(desired_app("web", instances=3, cmd="run"))
    actual = with_instances(applied(desired), "/int/web", 5)
    assert [a.instances_to for a in build_plan(desired, actual, PlanOptions()).pending] == [3]


def test_a_new_autoscaled_app_starts_at_its_instances_and_the_autoscalers_count_wins() -> None:
    desired = desired_of(autoscaled(2, 8))
    created = build_plan(desired, applied(desired_of()), PlanOptions()).pending
    assert [(a.kind, a.instances_to) for a in created] == [(ActionKind.CREATE, 2)]
    actual = applied(desired)
    decided = build_plan(desired, actual, PlanOptions(instances={"/int/web": 6})).pending
    assert [(a.kind, a.instances_to) for a in decided] == [(ActionKind.SCALE, 6)]
