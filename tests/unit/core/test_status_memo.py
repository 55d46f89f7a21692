"""The status rows' memo: a controller's next cycle computes again only the rows whose inputs changed,
and every row is the one computed afresh; Consul's instances are grouped once per instances tuple, and
a group of the very same instances stays the same tuple."""

from __future__ import annotations

from dataclasses import replace

from reconciler.core.app_status import StatusMemo, app_statuses, plan_statuses, status_rows, status_summary
from reconciler.core.model import Action, ActionKind, Actual, Desired, Plan
from reconciler.core.registry import CheckStatus, ConsulObservation, ServiceInstance, instance_changes
from tests.unit.consul.consul_world import actual_app, actual_of, desired_app, desired_of, instance_of, task

APPS = 20


def world() -> tuple[Desired, Actual, ConsulObservation]:
    wanted = [desired_app("shop", f"app-{n:02}", instances=2) for n in range(APPS)]
    tasks = {a.app_id: [task(a.app_id, n) for n in range(2)] for a in wanted}
    instances = tuple(instance_of(t, "shop", a.name) for a in wanted for t in tasks[a.app_id])
    return desired_of(*wanted), actual_of(*(actual_app(a, tasks[a.app_id]) for a in wanted)), \
        ConsulObservation(instances=instances)


def test_an_unchanged_cycle_computes_no_row_and_gives_the_same_rows() -> None:
    desired, actual, consul = world()
    memo = StatusMemo()
    first = app_statuses(desired, actual, consul, memo=memo)
    assert memo.computed == APPS and first == app_statuses(desired, actual, consul)
    # The next cycle: a new Actual and a new observation over the same objects (what the clients hand back).
    again = app_statuses(desired, Actual(apps=dict(actual.apps), complete=True),
                         ConsulObservation(instances=consul.instances), memo=memo)
    assert memo.computed == APPS and again == first
    assert status_rows(desired, actual, consul, memo=memo) == status_rows(desired, actual, consul)
    assert status_summary(desired, actual, consul, memo=memo) == status_summary(desired, actual, consul)
    assert memo.computed == APPS


def test_a_drifted_app_a_failing_check_and_a_planned_action_compute_their_rows_only() -> None:
    desired, actual, consul = world()
    memo = StatusMemo()
    app_statuses(desired, actual, consul, memo=memo)
    drifted = actual.apps["/shop/app-03"]
    actual = replace(actual, apps={**actual.apps, drifted.app_id: replace(drifted, instances=3)})
    failing = tuple(replace(i, status=CheckStatus.CRITICAL) if i.app_id == "/shop/app-07" and i.task_id.endswith("t0")
                    else i for i in consul.instances)
    consul = ConsulObservation(instances=failing)
    scale = Action(ActionKind.SCALE, "/shop/app-11", "instances 2 -> 3", env="shop")
    plan = Plan(actions=(scale,))
    rows = plan_statuses(desired, actual, consul, plan, memo=memo)
    assert memo.computed == APPS + 3
    assert rows == plan_statuses(desired, actual, consul, plan)
    by_id = {r.app_id: r for r in rows}
    assert by_id["/shop/app-03"].want == 3 and by_id["/shop/app-07"].passing == 1
    assert not by_id["/shop/app-11"].synced and by_id["/shop/app-00"].fine


def test_an_app_gone_from_the_specs_is_forgotten_and_a_new_one_computed() -> None:
    desired, actual, consul = world()
    memo = StatusMemo()
    app_statuses(desired, actual, consul, memo=memo)
    fewer = replace(desired, apps={k: v for k, v in desired.apps.items() if k != "/shop/app-05"})
    assert len(app_statuses(fewer, actual, consul, memo=memo)) == APPS - 1 and memo.computed == APPS
    app_statuses(desired, actual, consul, memo=memo)
    assert memo.computed == APPS + 1


def carried(previous: ConsulObservation, instances: tuple[ServiceInstance, ...]) -> ConsulObservation:
    """The next observation, indexed from `previous` as a planner owner does (engine/planning.py)."""
    observation = ConsulObservation(instances=instances)
    observation.carry_indexes(previous, instance_changes(previous.instances, instances))
    return observation


def test_consul_groups_carried_over_are_kept_per_instances_tuple_and_per_group() -> None:
    _, _, consul = world()
    consul.instances_of_app("/shop/app-01"), consul.instances_of_task(consul.instances[0].task_id)  # indexed
    same = carried(consul, consul.instances)
    assert same.instances_of_app("/shop/app-01") is consul.instances_of_app("/shop/app-01")
    one_moved = tuple(replace(i, status=CheckStatus.WARNING) if i.app_id == "/shop/app-02" else i
                      for i in consul.instances)
    moved = carried(consul, one_moved)
    assert moved.instances_of_app("/shop/app-01") is consul.instances_of_app("/shop/app-01")
    assert moved.instances_of_app("/shop/app-02") != consul.instances_of_app("/shop/app-02")
    assert all(i.status == CheckStatus.WARNING for i in moved.instances_of_app("/shop/app-02"))
    task_id = consul.instances[0].task_id
    assert moved.instances_of_task(task_id) is consul.instances_of_task(task_id)
    # A list is never taken for the same list later: its groups are computed whenever asked.
    listed: list[ServiceInstance] = list(consul.instances)
    first = ConsulObservation(instances=listed).instances_of_app("/shop/app-01")  # type: ignore[arg-type]
    listed.pop(0)
    assert len(ConsulObservation(instances=listed).instances_of_app("/shop/app-00")) == 1  # type: ignore[arg-type]
    assert len(first) == 2
