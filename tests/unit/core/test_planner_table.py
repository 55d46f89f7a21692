"""Planner table tests: one scenario per row, the kinds, reasons, changes and bodies it must yield."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.core.hashing import definition_hash
from reconciler.core.model import (
    Action,
    ActionKind,
    Actual,
    ActualDeployment,
    Desired,
    DesiredApp,
    DesiredEnvironment,
    FieldChange,
    Outcome,
)
from reconciler.core.naming import APP_LABEL, ENV_LABEL, HASH_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, REVISION_LABEL
from reconciler.core.plan import PlanOptions, build_plan
from tests.unit.core.planner_builders import (
    EMPTY,
    applied,
    desired_app,
    desired_of,
    unmanaged,
    with_definition,
    with_instances,
)

WEB = desired_app("web", cmd="serve", cpus=0.5, mem=256, instances=2, env={"JAVA_OPTS": "-Xmx1g"}, labels={"team": "a"})
DB = desired_app("db", cmd="mysqld", instances=1)


def only(actions: tuple[Action, ...]) -> Action:
    assert len(actions) == 1, [a.line() for a in actions]
    return actions[0]


def test_create_when_absent_stamps_hash_revision_and_ownership() -> None:
    action = only(build_plan(desired_of(WEB, revision="abc123"), EMPTY).actions)
    assert (action.kind, action.target, action.reason, action.env) == (
        ActionKind.CREATE,
        "/int/web",
        "not in Marathon",
        "int",
    )
    assert action.body is not None
    labels = action.body["labels"]
    assert labels[HASH_LABEL] == definition_hash(WEB.definition | {"labels": {k: v for k, v in labels.items()}})
    assert labels[REVISION_LABEL] == "abc123"
    assert labels[MANAGED_BY_LABEL] == MANAGED_BY_VALUE and labels[ENV_LABEL] == "int" and labels[APP_LABEL] == "web"
    assert labels["team"] == "a"
    assert action.body["instances"] == 2 and action.instances_to == 2


def test_create_without_revision_has_no_revision_label() -> None:
    action = only(build_plan(desired_of(WEB, revision=""), EMPTY).actions)
    assert action.body is not None and REVISION_LABEL not in action.body["labels"]


def test_unchanged_app_yields_no_action() -> None:
    desired = desired_of(WEB, DB)
    assert build_plan(desired, applied(desired)).actions == ()


def test_new_revision_alone_changes_nothing() -> None:
    """A commit that leaves an app's definition alone must not touch its labels (Marathon would restart it)."""
    actual = applied(desired_of(WEB, revision="r1"))
    assert build_plan(desired_of(WEB, revision="r2"), actual).actions == ()


def test_spec_change_lists_changes_and_stamps_new_hash_and_revision() -> None:
    actual = applied(desired_of(WEB, revision="r1"))
    changed = desired_app(
        "web", cmd="serve", cpus=1.5, mem=256, instances=2, env={"JAVA_OPTS": "-Xmx2g"}, labels={"team": "a"}
    )
    action = only(build_plan(desired_of(changed, revision="r2"), actual).actions)
    assert action.kind == ActionKind.UPDATE
    assert action.reason == "spec changed: 2 fields"
    assert action.changes == (FieldChange("/cpus", 0.5, 1.5), FieldChange("/env/JAVA_OPTS", "-Xmx1g", "-Xmx2g"))
    assert action.body is not None
    assert action.body["labels"][REVISION_LABEL] == "r2"
    assert action.body["labels"][HASH_LABEL] != actual.apps["/int/web"].labels[HASH_LABEL]
    assert action.body["instances"] == 2 and action.instances_to is None


DRIFT_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("scalar", {"cpus": 2}, "/cpus"),
    ("string", {"cmd": "serve --evil"}, "/cmd"),
    ("map member changed", {"env": {"JAVA_OPTS": "-Xmx9g"}}, "/env/JAVA_OPTS"),
    ("map member added", {"env": {"JAVA_OPTS": "-Xmx1g", "DEBUG": "1"}}, "/env/DEBUG"),
    ("map member removed", {"env": None}, "/env/JAVA_OPTS"),
    ("label changed", {"labels": None}, "/labels/team"),
]


@pytest.mark.parametrize(("name", "edit", "path"), DRIFT_CASES, ids=[c[0] for c in DRIFT_CASES])
def test_drift_on_a_field_the_spec_sets(name: str, edit: dict[str, Any], path: str) -> None:
    desired = desired_of(WEB)
    actual = applied(desired)
    if name == "label changed":
        labels = dict(actual.apps["/int/web"].labels)
        labels["team"] = "intruder"
        edit = {"labels": labels}
    action = only(build_plan(desired, with_definition(actual, "/int/web", **edit)).actions)
    assert action.kind == ActionKind.UPDATE
    assert path in [change.path for change in action.changes]
    assert action.reason.startswith("drift: someone changed ") and action.reason.endswith(" in Marathon")
    assert path in action.reason


def test_drift_in_nested_objects_names_the_json_pointer() -> None:
    web = desired_app(
        "web", container={"type": "DOCKER", "docker": {"image": "web:1"}}, healthChecks=[{"path": "/health"}]
    )
    desired = desired_of(web)
    actual = applied(desired)
    drifted = with_definition(
        actual,
        "/int/web",
        container={"type": "DOCKER", "docker": {"image": "web:2"}},
        healthChecks=[{"path": "/health", "intervalSeconds": 5}],
    )
    action = only(build_plan(desired, drifted).actions)
    assert action.changes == (
        FieldChange("/container/docker/image", "web:2", "web:1"),
        FieldChange("/healthChecks/0/intervalSeconds", 5, None),
    )


def test_drift_update_keeps_hash_and_revision_labels() -> None:
    desired = desired_of(WEB, revision="r1")
    actual = with_definition(applied(desired), "/int/web", cpus=3)
    labels = actual.apps["/int/web"].labels
    action = only(build_plan(desired_of(WEB, revision="r9"), actual).actions)
    assert action.body is not None
    assert action.body["labels"][HASH_LABEL] == labels[HASH_LABEL]
    assert action.body["labels"][REVISION_LABEL] == "r1"
    assert action.body["cpus"] == 0.5


def test_field_the_spec_leaves_unset_is_marathons() -> None:
    desired = desired_of(WEB)
    actual = with_definition(applied(desired), "/int/web", constraints=[["hostname", "UNIQUE"]], disk=50)
    assert build_plan(desired, actual).actions == ()


def test_spec_change_resets_fields_the_spec_no_longer_sets() -> None:
    with_checks = desired_app(
        "web", cmd="serve", healthChecks=[{"path": "/h"}], constraints=[["hostname", "UNIQUE"]], cpus=2
    )
    actual = applied(desired_of(with_checks))
    action = only(build_plan(desired_of(desired_app("web", cmd="serve")), actual).actions)
    assert action.body is not None
    assert action.body["healthChecks"] == [] and action.body["constraints"] == [] and action.body["cpus"] == 1
    assert {c.path for c in action.changes} == {"/healthChecks", "/constraints", "/cpus"}


def test_pure_instance_change_is_a_scale_with_a_minimal_body() -> None:
    desired = desired_of(WEB)
    action = only(build_plan(desired, with_instances(applied(desired), "/int/web", 5)).actions)
    assert action.kind == ActionKind.SCALE
    assert action.body == {"id": "/int/web", "instances": 2}
    assert (action.instances_from, action.instances_to, action.reason) == (5, 2, "instances 5 -> 2")


def test_autoscaler_count_wins_over_the_spec() -> None:
    desired = desired_of(WEB)
    actual = applied(desired)
    action = only(build_plan(desired, actual, PlanOptions(instances={"/int/web": 4})).actions)
    assert (action.kind, action.reason, action.body) == (
        ActionKind.SCALE,
        "instances 2 -> 4",
        {"id": "/int/web", "instances": 4},
    )
    assert (
        build_plan(desired, with_instances(actual, "/int/web", 4), PlanOptions(instances={"/int/web": 4})).actions == ()
    )


def test_definition_and_instance_change_is_one_update_carrying_instances() -> None:
    actual = applied(desired_of(WEB))
    changed = desired_app(
        "web", cmd="serve v2", cpus=0.5, mem=256, instances=3, env={"JAVA_OPTS": "-Xmx1g"}, labels={"team": "a"}
    )
    action = only(build_plan(desired_of(changed), actual).actions)
    assert action.kind == ActionKind.UPDATE
    assert action.reason == "spec changed: 1 field; instances 2 -> 3"
    assert action.body is not None and action.body["instances"] == 3
    assert (action.instances_from, action.instances_to) == (2, 3)


def test_unmanaged_app_is_never_touched_even_with_prune() -> None:
    desired = desired_of(WEB)
    actual = Actual(apps={**applied(desired).apps, "/int/legacy": unmanaged("/int/legacy")})
    assert build_plan(desired, actual, PlanOptions(prune=True, force=True)).actions == ()


def test_desired_id_held_by_an_unmanaged_app_warns_and_does_nothing() -> None:
    actual = Actual(apps={"/int/web": unmanaged("/int/web", cpus=4)})
    plan = build_plan(desired_of(WEB), actual)
    action = only(plan.actions)
    assert action.kind == ActionKind.WARN and action.body is None
    assert MANAGED_BY_LABEL in action.reason and "/int/web" in action.reason
    assert plan.empty


def test_orphan_is_left_alone_without_prune_and_deleted_with_it() -> None:
    old = applied(desired_of(WEB, DB))
    desired = desired_of(WEB, *[desired_app(f"s{i}") for i in range(9)])
    actual = applied(desired, old)
    assert build_plan(desired, actual).actions == ()
    action = only(build_plan(desired, actual, PlanOptions(prune=True)).actions)
    assert (action.kind, action.target, action.reason, action.outcome) == (
        ActionKind.DELETE,
        "/int/db",
        "left the specs (prune)",
        Outcome.PLANNED,
    )


def test_prune_from_an_empty_spec_tree_deletes_nothing_and_a_tree_without_apps_is_refused() -> None:
    actual = applied(desired_of(WEB, DB))
    assert build_plan(desired_of(), actual, PlanOptions(prune=True, force=True)).actions == ()  # no scope at all
    no_apps = Desired(environments={"int": DesiredEnvironment("int", "/int")}, apps={})
    plan = build_plan(no_apps, actual, PlanOptions(prune=True, force=True))
    assert [a.kind for a in plan.actions] == [ActionKind.DELETE, ActionKind.DELETE]
    assert all(a.outcome == Outcome.REFUSED for a in plan.actions)
    assert all(a.reason.startswith("refusing to prune from an empty spec tree") for a in plan.actions)
    assert plan.empty and len(plan.refused) == 2


def test_prune_never_reaches_an_environment_outside_the_tree_even_by_a_similar_name() -> None:
    others = [desired_app("web", environment=env) for env in ("func-10", "func-1x", "other")]
    actual = applied(desired_of(WEB, DB, desired_app("web", environment="func-1"), *others))
    desired = desired_of(WEB, desired_app("api", environment="func-1"))
    plan = build_plan(desired, actual, PlanOptions(prune=True, force=True))
    assert sorted(a.target for a in plan.actions if a.kind == ActionKind.DELETE) == ["/func-1/web", "/int/db"]
    narrowed = Desired(environments={"func-1": desired.environments["func-1"]}, apps={})
    scoped = build_plan(narrowed, actual, PlanOptions(env="func-1"))
    assert scoped.prunable == ("/func-1/web",)


def test_a_plan_without_prune_names_the_apps_that_left_the_specs() -> None:
    actual = applied(desired_of(WEB, DB, desired_app("old")))
    plan = build_plan(desired_of(WEB), actual)
    assert plan.actions == () and plan.empty
    assert plan.prunable == ("/int/db", "/int/old")
    assert build_plan(desired_of(WEB), actual, PlanOptions(prune=True, force=True)).prunable == ()


def test_a_running_deployment_of_a_managed_app_in_scope_is_progressing() -> None:
    actual = applied(desired_of(WEB, DB, desired_app("web", environment="other")))
    deployments = (ActualDeployment("d1", ("/int/web", "/other/web", "/int/unknown")),)
    plan = build_plan(desired_of(WEB, DB), Actual(apps=actual.apps, deployments=deployments))
    assert plan.empty and plan.progressing == ("/int/web",)


def test_prune_limit_refuses_every_delete_and_force_lifts_it() -> None:
    everything = desired_of(*[desired_app(f"a{i}") for i in range(20)])
    actual = applied(everything)
    desired = desired_of(*[desired_app(f"a{i}") for i in range(17)])  # 3 deletes, limit max(1, 10% of 20) = 2
    plan = build_plan(desired, actual, PlanOptions(prune=True))
    assert len(plan.refused) == 3 and plan.empty
    assert "limit is 2" in plan.refused[0].reason and "--force" in plan.refused[0].reason
    assert plan.refused[0].detail == "left the specs (prune)"
    forced = build_plan(desired, actual, PlanOptions(prune=True, force=True))
    assert [a.target for a in forced.pending] == ["/int/a19", "/int/a18", "/int/a17"]


def test_prune_limit_is_at_least_one() -> None:
    actual = applied(desired_of(WEB, DB))
    plan = build_plan(desired_of(WEB), actual, PlanOptions(prune=True))
    assert [a.target for a in plan.pending] == ["/int/db"]


def test_env_filter_limits_creates_and_deletes_to_the_environment() -> None:
    orphans = applied(
        desired_of(
            desired_app("gone", environment="func-1"),
            desired_app("gone", environment="int"),
            *[desired_app(f"k{i}") for i in range(30)],
        )
    )
    keep = [desired_app(f"k{i}") for i in range(30)]
    desired = desired_of(desired_app("web", environment="func-1"), desired_app("web", environment="int"), *keep)
    plan = build_plan(desired, orphans, PlanOptions(prune=True, env="func-1"))
    assert [(a.kind, a.target) for a in plan.actions] == [
        (ActionKind.CREATE, "/func-1/web"),
        (ActionKind.DELETE, "/func-1/gone"),
    ]
    assert all(a.env == "func-1" for a in plan.actions)


def test_force_is_copied_from_the_desired_app() -> None:
    action = only(build_plan(desired_of(desired_app("web", force=True)), EMPTY).actions)
    assert action.force


def test_incomplete_observation_refuses_deletes_and_scale_downs() -> None:
    desired = desired_of(WEB, *[desired_app(f"k{i}") for i in range(10)])
    actual = with_instances(applied(desired_of(WEB, DB, *[desired_app(f"k{i}") for i in range(10)])), "/int/web", 9)
    partial = Actual(apps=actual.apps, complete=False, problems=("consul: connection refused",))
    plan = build_plan(desired, partial, PlanOptions(prune=True))
    assert plan.empty
    assert {a.target for a in plan.refused} == {"/int/web", "/int/db"}
    assert all("incomplete observation (consul: connection refused)" in a.reason for a in plan.refused)


def test_prune_limit_counts_the_apps_this_plan_creates() -> None:
    """10 managed + 10 created = 20: two deletes fit the 10% limit, and still do when planned again."""
    actual = applied(desired_of(*[desired_app(f"old{i}") for i in range(10)]))
    desired = desired_of(*[desired_app(f"old{i}") for i in range(8)], *[desired_app(f"new{i}") for i in range(10)])
    plan = build_plan(desired, actual, PlanOptions(prune=True))
    assert [a.target for a in plan.pending if a.kind == ActionKind.DELETE] == ["/int/old9", "/int/old8"]
    assert not plan.refused


def test_prune_of_one_environment_never_deletes_another_environments_app_in_a_shared_group() -> None:
    def app(env: str, name: str) -> DesiredApp:
        body = {"id": f"/shared/{name}", "instances": 1, "cmd": "serve"}
        return DesiredApp(f"/shared/{name}", env, name, body, 1)

    apps = (app("a", "x"), app("b", "y"))
    environments = {env: DesiredEnvironment(env, "/shared", apps=(name,)) for env, name in (("a", "x"), ("b", "y"))}
    desired = Desired(environments=environments, apps={a.app_id: a for a in apps}, revision="r1")
    actual = applied(desired)
    # `--env b` renders environment b alone: a's app is not in it, yet shares b's group.
    only_b = Desired(environments={"b": environments["b"]}, apps={"/shared/y": apps[1]}, revision="r2")
    assert build_plan(only_b, actual, PlanOptions(prune=True, force=True, env="b")).actions == ()
    b_emptied = Desired(environments={"b": environments["b"]}, apps={}, revision="r3")
    deleted = build_plan(b_emptied, actual, PlanOptions(prune=True, force=True, env="b")).actions
    assert [(a.kind, a.target) for a in deleted] == [(ActionKind.DELETE, "/shared/y")]
