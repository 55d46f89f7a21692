"""Plan order: environments sorted, dependencies first for writes, dependents first for deletes."""

from __future__ import annotations

from reconciler.core.model import Action, ActionKind, Actual
from reconciler.core.order import dependency_order, order_actions
from reconciler.core.plan import PlanOptions, build_plan
from tests.unit.core.planner_builders import EMPTY, applied, desired_app, desired_of, unmanaged


def targets(actions: tuple[Action, ...]) -> list[str]:
    return [action.target for action in actions]


def test_creates_follow_dependencies_with_ties_broken_by_id() -> None:
    desired = desired_of(
        desired_app("web", deps=["api"]),
        desired_app("api", deps=["db", "cache"]),
        desired_app("db", deps=["zookeeper"]),
        desired_app("cache"),
        desired_app("zookeeper"),
        desired_app("admin"),
    )
    assert targets(build_plan(desired, EMPTY).actions) == [
        "/int/admin",
        "/int/cache",
        "/int/zookeeper",
        "/int/db",
        "/int/api",
        "/int/web",
    ]


def test_marathon_dependencies_field_counts_too() -> None:
    desired = desired_of(desired_app("a", dependencies=["/int/b"]), desired_app("b"))
    assert targets(build_plan(desired, EMPTY).actions) == ["/int/b", "/int/a"]


def test_deletes_come_after_writes_dependents_first() -> None:
    old = desired_of(
        desired_app("web", deps=["api"]), desired_app("api", deps=["db"]), desired_app("db"), desired_app("keep")
    )
    actual = applied(old)
    desired = desired_of(desired_app("keep", cmd="changed"), desired_app("new"))
    plan = build_plan(desired, actual, PlanOptions(prune=True, force=True))
    assert [(a.kind, a.target) for a in plan.actions] == [
        (ActionKind.UPDATE, "/int/keep"),
        (ActionKind.CREATE, "/int/new"),
        (ActionKind.DELETE, "/int/web"),
        (ActionKind.DELETE, "/int/api"),
        (ActionKind.DELETE, "/int/db"),
    ]


def test_environments_are_planned_one_after_another_in_name_order() -> None:
    desired = desired_of(
        desired_app("b", environment="zeta"),
        desired_app("a", environment="alpha", deps=["c"]),
        desired_app("c", environment="alpha"),
        desired_app("web", environment="func-1"),
    )
    assert targets(build_plan(desired, EMPTY).actions) == ["/alpha/c", "/alpha/a", "/func-1/web", "/zeta/b"]


def test_warnings_lead_their_environment() -> None:
    desired = desired_of(desired_app("a"), desired_app("z"))
    actual = Actual(apps={"/int/z": unmanaged("/int/z")})
    assert [a.kind for a in build_plan(desired, actual).actions] == [ActionKind.WARN, ActionKind.CREATE]


def test_cycles_fall_back_to_id_order() -> None:
    assert dependency_order(["/c", "/b", "/a", "/d"], {"/a": ["/b"], "/b": ["/a"], "/c": ["/d"]}) == [
        "/d",
        "/c",
        "/a",
        "/b",
    ]


def test_dependencies_outside_the_plan_are_ignored() -> None:
    actions = [Action(ActionKind.CREATE, "/e/b", "r", env="e"), Action(ActionKind.CREATE, "/e/a", "r", env="e")]
    assert targets(order_actions(actions, {"/e/a": ["/e/zookeeper"], "/e/b": ["/e/a"]})) == ["/e/a", "/e/b"]


def test_same_input_gives_an_identical_plan_whatever_the_mapping_order() -> None:
    apps = [desired_app(f"s{i}", deps=[f"s{i + 1}"] if i % 3 else [], cpus=0.1 * i) for i in range(12)]
    forward, backward = desired_of(*apps), desired_of(*reversed(apps))
    actual = applied(desired_of(*apps[::2]))
    assert build_plan(forward, actual) == build_plan(backward, actual) == build_plan(forward, actual)


def test_write_bodies_carry_absolute_dependencies_for_marathon() -> None:
    desired = desired_of(desired_app("api", deps=["db"], dependencies=["cache", "/int/db"]), desired_app("db"))
    create = build_plan(desired, EMPTY).actions[-1]
    assert create.body is not None and create.body["dependencies"] == ["/int/cache", "/int/db"]
