"""core/registry.py's instance changes and carried indexes: what moved between two observations' instances
is the span between their common head and tail, and an observation indexed from the one before groups
exactly as one indexed afresh, keeping the very groups that did not move."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.core.registry import NO_CHANGES, ConsulObservation, ServiceInstance, instance_changes
from tests.unit.consul.consul_world import instance_of, task

INSTANCES = tuple(instance_of(task(f"/shop/app-{n % 4}", n), "shop", f"app-{n % 4}") for n in range(12))


def test_the_same_or_an_equal_run_of_the_same_objects_is_no_change() -> None:
    assert instance_changes(INSTANCES, INSTANCES) is NO_CHANGES
    assert instance_changes(INSTANCES, tuple(INSTANCES)) is NO_CHANGES
    assert instance_changes(INSTANCES, tuple(list(INSTANCES))) is NO_CHANGES


def test_one_replaced_instance_is_the_only_change() -> None:
    moved = replace(INSTANCES[5], output="critical")
    after = (*INSTANCES[:5], moved, *INSTANCES[6:])
    changes = instance_changes(INSTANCES, after)
    assert changes.added == (moved,) and changes.removed == (INSTANCES[5],)


@pytest.mark.parametrize(("before", "after", "added", "removed"), [
    (INSTANCES, INSTANCES[:-1], (), INSTANCES[-1:]),  # the last one gone
    (INSTANCES[1:], INSTANCES, INSTANCES[:1], ()),  # one more at the head
    (INSTANCES, (*INSTANCES[:3], *INSTANCES[4:]), (), INSTANCES[3:4]),  # one gone in the middle
    (INSTANCES, (INSTANCES[2], *INSTANCES[1:2], INSTANCES[0], *INSTANCES[3:]), INSTANCES[2::-1], INSTANCES[:3]),
])
def test_the_span_between_the_common_head_and_tail_is_what_moved(
    before: tuple[ServiceInstance, ...], after: tuple[ServiceInstance, ...],
    added: tuple[ServiceInstance, ...], removed: tuple[ServiceInstance, ...],
) -> None:
    changes = instance_changes(before, after)
    assert (changes.added, changes.removed) == (added, removed)


@pytest.mark.parametrize("after", [
    (*INSTANCES[:5], replace(INSTANCES[5], output="critical"), *INSTANCES[6:]),
    INSTANCES[:7] + INSTANCES[8:],
    (INSTANCES[9], *INSTANCES[:9], *INSTANCES[10:]),
    (*INSTANCES, replace(INSTANCES[0], node="node-other")),  # a second registration of one service id
    (*INSTANCES[:6], *(replace(i, tags=("shop",)) for i in INSTANCES[6:])),  # no longer ours: many moved
])
def test_a_carried_index_groups_as_a_fresh_one_and_keeps_the_groups_that_did_not_move(
    after: tuple[ServiceInstance, ...],
) -> None:
    before = ConsulObservation(instances=INSTANCES)
    before.instances_of_app("/shop/app-0"), before.instances_of_task("")  # both indexes made
    carried = ConsulObservation(instances=after)
    carried.carry_indexes(before, instance_changes(INSTANCES, after))
    fresh = ConsulObservation(instances=after)
    assert carried.managed_by_id == fresh.managed_by_id and carried.instances_by_task == fresh.instances_by_task
    for app in range(4):
        app_id = f"/shop/app-{app}"
        assert carried.instances_of_app(app_id) == fresh.instances_of_app(app_id)
        if carried.instances_of_app(app_id) == before.instances_of_app(app_id):
            assert carried.instances_of_app(app_id) is before.instances_of_app(app_id)
