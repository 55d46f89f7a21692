"""The change scan (engine/plan_changes.py): the keys whose objects moved, and the owners of Consul instances.
A task id or service id two apps claim has both as owners, a changed instance of it names both, and once
one app lets the key go the scan names the other alone, with no fall-back to "any app may have changed"."""

from __future__ import annotations

from dataclasses import replace

from reconciler.core.heal import HealMemory
from reconciler.core.model import ActualApp, ActualTask
from reconciler.core.plan import PlanOptions
from reconciler.core.registry import CheckStatus, InstanceChanges, ServiceInstance
from reconciler.engine.plan_changes import Basis, ChangeScan, Owners, changed_keys
from tests.unit.consul.consul_world import instance_of, task
from tests.unit.engine.test_planner_changes import World, started

OPTIONS = PlanOptions()


def app_of(app_id: str, *tasks: ActualTask) -> ActualApp:
    return ActualApp(app_id, {"id": app_id}, len(tasks), tasks=tasks)


def changed(instance: ServiceInstance) -> InstanceChanges:
    return InstanceChanges(added=(replace(instance, status=CheckStatus.CRITICAL),), removed=(instance,))


def test_a_key_two_apps_claim_names_both_and_then_the_one_left() -> None:
    shared = task("/int/a", 0)
    a = app_of("/int/a", shared, task("/int/a", 1))
    b = app_of("/int/b", replace(shared, app_id="/int/b"))
    owners = Owners({"/int/a": a, "/int/b": b})
    instance = instance_of(shared, "int", "a")
    assert owners.of(changed(instance)) == {"/int/a", "/int/b"}

    owners.moved({"/int/a": a, "/int/b": b}, {"/int/b": b}, {"/int/a"})  # a leaves
    assert owners.of(changed(instance)) == {"/int/b"}
    assert owners.of(changed(instance_of(task("/int/a", 1), "int", "a"))) == set()

    owners.moved({"/int/b": b}, {"/int/b": b, "/int/a": a}, {"/int/a"})  # a is back, then b lets the task go
    owners.moved({"/int/a": a, "/int/b": b}, {"/int/a": a, "/int/b": app_of("/int/b")}, {"/int/b"})
    assert owners.of(changed(instance)) == {"/int/a"}


def test_a_service_id_two_apps_claim_names_both() -> None:
    """`/int_a`'s task `t0` and `/int/a`'s task `int_a.t0` have one service id, `int_a.t0`."""
    original = task("/int/a", 0)
    twin = app_of("/int_a", replace(original, app_id="/int_a", task_id="t0"))
    owners = Owners({"/int/a": app_of("/int/a", original), "/int_a": twin})
    by_service_id = replace(instance_of(original, "int", "a"), meta={})  # no task id to go by
    assert owners.of(changed(by_service_id)) == {"/int/a", "/int_a"}


def basis_of(world: World) -> Basis:
    whole, observation = world.specs(), world.observation()
    return Basis(whole, whole, OPTIONS, True, True, observation.actual, observation.consul, HealMemory())


def critical(world: World, task_id: str) -> None:
    n = next(n for n, i in enumerate(world.instances) if i.task_id == task_id)
    world.instances[n] = replace(world.instances[n], status=CheckStatus.CRITICAL, output=f"at {world.now:g}")
    world.now += 1


def test_after_a_claim_of_two_apps_went_away_an_instance_change_names_its_one_app() -> None:
    world, scan = started(3), ChangeScan()
    scan.keep(basis_of(world))
    lender, borrower = world.actual_apps["/int/app0"], world.actual_apps["/int/app1"]
    lent = lender.tasks[0]
    world.actual_apps[borrower.app_id] = replace(borrower, tasks=(*borrower.tasks, replace(lent, app_id="/int/app1")))
    steps = [lambda: None, lambda: critical(world, lent.task_id)]
    steps += [lambda: world.actual_apps.update({borrower.app_id: borrower}), lambda: critical(world, lent.task_id)]
    named = []
    for step in steps:
        step()
        current = basis_of(world)
        named.append(scan.changes(current).apps)
        scan.keep(current)
    assert named == [{"/int/app1"}, {"/int/app0", "/int/app1"}, {"/int/app1"}, {"/int/app0"}]


def test_changed_keys_names_what_is_not_the_very_same_object_in_either_mapping() -> None:
    one, two, three = object(), object(), object()
    kept = {"a": one, "b": two, "c": three}
    assert changed_keys(kept, kept) == set() and changed_keys(kept, dict(kept)) == set()
    assert changed_keys(kept, {"a": one, "b": object(), "c": three}) == {"b"}  # same keys, same order
    assert changed_keys(kept, {"c": three, "b": two, "a": one}) == set()  # another order
    assert changed_keys(kept, {"a": one, "c": three, "d": two}) == {"b", "d"}  # one gone, one come
    assert changed_keys(kept, {"a": one, "b": {}, "c": three}) == {"b"}
    assert changed_keys({"a": {}}, {"a": {}}) == {"a"}  # equal is not the same
