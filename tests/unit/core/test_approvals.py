"""The approval gate's pure part: which state an approval environment runs, what an approval covers, and
the digest that tells the same plan from another."""

from __future__ import annotations

from dataclasses import replace

from reconciler.core.approvals import (
    approval_environments,
    desired_digest,
    in_force,
    matches_approved,
    plan_digest,
    review,
)
from reconciler.core.autoscale_policy import AutoscalePolicy
from reconciler.core.model import ActionKind, Desired, HealPolicy
from reconciler.core.naming import REVISION_LABEL
from reconciler.core.plan import PlanOptions, build_plan
from tests.unit.core.planner_builders import EMPTY, applied, desired_app, desired_of, with_definition, with_instances

OPTIONS = PlanOptions()


def _gated(desired: Desired, env: str = "prod") -> Desired:
    environments = {name: replace(e, approval_required=name == env) for name, e in desired.environments.items()}
    return replace(desired, environments=environments)


def _shop(tag: str = "1.0", instances: int = 2, revision: str = "r1") -> Desired:
    return _gated(desired_of(
        desired_app("web", "prod", instances, cmd=f"web {tag}"),
        desired_app("db", "prod", 1, cmd="db"),
        desired_app("web", "test", 1, cmd="web"),
        revision=revision,
    ))


def test_only_the_environments_in_scope_that_require_approval_are_gated() -> None:
    assert approval_environments(_shop()) == ("prod",)
    assert approval_environments(_shop(), "test") == ()


def test_an_environment_never_approved_is_left_out_entirely_and_the_others_are_the_specs() -> None:
    specs = _shop()
    running = in_force(specs, {"prod": None})
    assert set(running.environments) == {"test"}
    assert set(running.apps) == {"/test/web"}
    assert build_plan(running, EMPTY, PlanOptions(prune=True)).actions[0].target == "/test/web"


def test_an_approved_environment_runs_its_approved_apps_under_the_approved_revision() -> None:
    approved, specs = _shop(revision="old"), _shop(tag="2.0", instances=3, revision="new")
    running = in_force(specs, {"prod": approved})
    assert running.apps["/prod/web"] == approved.apps["/prod/web"]
    assert running.apps["/test/web"] == specs.apps["/test/web"]
    assert (running.revision_of("prod"), running.revision_of("test")) == ("old", "new")
    creates = {a.target: a for a in build_plan(running, EMPTY).actions}
    assert creates["/prod/web"].body is not None and creates["/prod/web"].body["labels"][REVISION_LABEL] == "old"
    assert creates["/test/web"].body is not None and creates["/test/web"].body["labels"][REVISION_LABEL] == "new"


def test_what_an_approval_covers() -> None:
    base = _shop()
    assert desired_digest(base, "prod") == desired_digest(replace(base, revision="other"), "prod")
    moved = replace(base, apps={**base.apps, "/prod/db": replace(base.apps["/prod/db"], source="specs/p.yaml:9")})
    assert desired_digest(moved, "prod") == desired_digest(base, "prod")  # a comment moved a line
    assert desired_digest(_shop(tag="2.0"), "prod") != desired_digest(base, "prod")
    assert desired_digest(_shop(instances=3), "prod") != desired_digest(base, "prod")
    strict = replace(base.apps["/prod/db"], heal=HealPolicy(max_unavailable=0))
    assert desired_digest(replace(base, apps={**base.apps, "/prod/db": strict}), "prod") != desired_digest(base, "prod")
    assert desired_digest(_shop(tag="2.0"), "test") == desired_digest(base, "test")  # another env's change


def test_nothing_approved_yet_makes_every_write_of_the_environment_wait() -> None:
    reviewed = review(_shop(), None, EMPTY, OPTIONS, "prod")
    assert reviewed.needed and reviewed.approved_digest is None
    assert [(a.kind, a.target) for a in reviewed.actions] == [
        (ActionKind.CREATE, "/prod/db"), (ActionKind.CREATE, "/prod/web")]
    assert set(reviewed.desired.apps) == {"/prod/db", "/prod/web"}


def test_the_specs_at_the_approved_state_need_nothing() -> None:
    approved = _shop(revision="old")
    reviewed = review(_shop(revision="new"), approved, applied(approved), OPTIONS, "prod")
    assert not reviewed.needed and reviewed.actions == ()
    assert matches_approved(_shop(revision="new"), approved, "prod")
    assert not matches_approved(_shop(), None, "prod")


def test_only_the_writes_beyond_the_approved_state_wait_and_the_same_plan_keeps_its_digest() -> None:
    approved = _shop()
    drifted = with_definition(applied(approved), "/prod/db", cmd="by hand")  # both plans fix this drift
    specs = _shop(instances=3, revision="r2")
    reviewed = review(specs, approved, drifted, OPTIONS, "prod")
    assert [(a.kind, a.target, a.instances_to) for a in reviewed.actions] == [(ActionKind.SCALE, "/prod/web", 3)]
    assert review(specs, approved, drifted, OPTIONS, "prod").digest == reviewed.digest
    assert reviewed.digest == plan_digest(reviewed.desired_digest, reviewed.actions)


def test_a_change_of_the_actual_state_gives_another_digest() -> None:
    approved, specs = _shop(), _shop(tag="2.0")
    actual = applied(approved)
    before = review(specs, approved, actual, OPTIONS, "prod")
    assert [a.kind for a in before.actions] == [ActionKind.UPDATE]
    scaled = review(specs, approved, with_instances(actual, "/prod/web", 5), OPTIONS, "prod")
    edited = review(specs, approved, with_definition(actual, "/prod/web", cmd="by hand"), OPTIONS, "prod")
    assert len({before.digest, scaled.digest, edited.digest}) == 3
    assert before.desired_digest == scaled.desired_digest == edited.desired_digest


def test_prune_puts_the_deletes_of_apps_that_left_the_specs_in_the_plan() -> None:
    approved = _shop()
    without_db = replace(approved, apps={k: v for k, v in approved.apps.items() if k != "/prod/db"},
                         environments={**approved.environments,
                                       "prod": replace(approved.environments["prod"], apps=("web",))})
    actual = applied(approved)
    assert review(without_db, approved, actual, OPTIONS, "prod").actions == ()
    pruned = review(without_db, approved, actual, PlanOptions(prune=True), "prod")
    assert [(a.kind, a.target) for a in pruned.actions] == [(ActionKind.DELETE, "/prod/db")]


def _autoscaled(desired: Desired, low: int = 1, high: int = 6) -> Desired:
    web = replace(desired.apps["/prod/web"], autoscale=AutoscalePolicy(min_instances=low, max_instances=high))
    return replace(desired, apps={**desired.apps, "/prod/web": web})


def test_a_scaling_of_an_autoscaled_app_keeps_the_digest_and_a_hand_edit_still_changes_it() -> None:
    approved, specs = _autoscaled(_shop()), _autoscaled(_shop(tag="2.0"))
    actual = applied(approved)
    before = review(specs, approved, actual, OPTIONS, "prod")
    assert [a.kind for a in before.actions] == [ActionKind.UPDATE]
    for count in (3, 5):  # the autoscaler's counts: not a change of the plan the approver looks at
        scaled = review(specs, approved, with_instances(actual, "/prod/web", count), OPTIONS, "prod")
        assert scaled.digest == before.digest
        assert [a.body["instances"] for a in scaled.actions if a.body] == [count]  # the writes keep the count
    edited = review(specs, approved, with_definition(actual, "/prod/web", cmd="by hand"), OPTIONS, "prod")
    assert edited.digest != before.digest
    # new bounds are a spec change: the clamp they make waits, whatever the count it clamps
    bounded = _autoscaled(_shop(), low=4)
    clamps = [review(bounded, approved, with_instances(actual, "/prod/web", n), OPTIONS, "prod") for n in (2, 3)]
    assert [[(a.kind, a.instances_to) for a in r.actions] for r in clamps] == [[(ActionKind.SCALE, 4)]] * 2
    assert clamps[0].digest == clamps[1].digest != review(_shop(), approved, actual, OPTIONS, "prod").digest
