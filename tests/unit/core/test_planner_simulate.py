"""simulate_apply follows Marathon's write semantics for each action kind."""

from __future__ import annotations

from reconciler.core.model import Action, ActionKind, Actual, ActualApp, Outcome, Plan
from reconciler.core.simulate import simulate_apply

CURRENT = Actual(
    apps={"/e/a": ActualApp("/e/a", {"id": "/e/a", "cmd": "x", "env": {"A": "1", "B": "2"}, "cpus": 2}, 3)},
    complete=True,
)


def test_update_replaces_each_top_level_field_wholesale_and_keeps_the_others() -> None:
    body = {"id": "/e/a", "env": {"A": "9"}, "instances": 5}
    after = simulate_apply(Plan((Action(ActionKind.UPDATE, "/e/a", "r", body=body),)), CURRENT)
    app = after.apps["/e/a"]
    assert app.definition["env"] == {"A": "9"} and app.definition["cpus"] == 2 and app.instances == 5


def test_scale_changes_only_instances() -> None:
    after = simulate_apply(Plan((Action(ActionKind.SCALE, "/e/a", "r", body={"id": "/e/a", "instances": 1}),)), CURRENT)
    assert after.apps["/e/a"].instances == 1 and after.apps["/e/a"].definition["env"] == {"A": "1", "B": "2"}


def test_create_and_delete() -> None:
    plan = Plan(
        (
            Action(ActionKind.CREATE, "/e/b", "r", body={"id": "/e/b", "instances": 2}),
            Action(ActionKind.DELETE, "/e/a", "r"),
        )
    )
    after = simulate_apply(plan, CURRENT)
    assert list(after.apps) == ["/e/b"] and after.apps["/e/b"].instances == 2


def test_refused_and_warning_actions_change_nothing() -> None:
    plan = Plan(
        (
            Action(ActionKind.DELETE, "/e/a", "r", outcome=Outcome.REFUSED),
            Action(ActionKind.WARN, "/e/a", "r"),
        )
    )
    assert simulate_apply(plan, CURRENT) == CURRENT
