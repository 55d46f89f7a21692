"""The planner's memo of comparisons (core/compare_memo.py): it saves work on an unchanged app and
never hides a change, on either side, however the change is spelled."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from reconciler.core.compare_memo import ComparisonMemo
from reconciler.core.decision_memo import DecisionMemos
from reconciler.core.model import ActionKind, Actual, ActualApp, DesiredApp
from reconciler.core.plan import build_plan, compare_app
from tests.unit.core.planner_builders import applied, desired_app, desired_of, with_definition


@pytest.fixture
def memos() -> DecisionMemos:
    """One planner owner's memos, kept across the plans of a test."""
    return DecisionMemos()


def kinds(memos: DecisionMemos, desired_apps: list[DesiredApp], actual: Actual) -> list[ActionKind]:
    return [action.kind for action in build_plan(desired_of(*desired_apps), actual, memos=memos).actions]


def at_version(actual: Actual, version: str) -> Actual:
    return Actual(apps={key: replace(app, version=version) for key, app in actual.apps.items()})


def test_a_changed_spec_is_planned_after_an_unchanged_cycle(memos: DecisionMemos) -> None:
    app = desired_app("web", cmd="serve", mem=64)
    actual = applied(desired_of(app))
    assert kinds(memos, [app], actual) == []
    assert kinds(memos, [desired_app("web", cmd="serve --fast", mem=64)], actual) == [ActionKind.UPDATE]
    assert kinds(memos, [app], actual) == []  # back to what runs: nothing again


def test_drift_at_the_same_marathon_version_is_still_seen(memos: DecisionMemos) -> None:
    app = desired_app("web", cmd="serve", mem=64)
    actual = at_version(applied(desired_of(app)), "2026-01-01T00:00:00Z")
    assert kinds(memos, [app], actual) == []
    drifted = at_version(with_definition(actual, "/int/web", mem=512), "2026-01-01T00:00:00Z")
    [update] = build_plan(desired_of(app), drifted, memos=memos).actions
    assert update.kind == ActionKind.UPDATE and [c.path for c in update.changes] == ["/mem"]


def test_a_bool_where_a_number_was_is_a_change_on_both_sides() -> None:
    """`True == 1` in Python: the memo compares reprs too, so the spelling change is compared again."""
    memo: ComparisonMemo[Any] = ComparisonMemo()
    app = desired_app("web", cmd="serve", requirePorts=1)
    actual = ActualApp("/int/web", {"id": "/int/web", "cmd": "serve", "requirePorts": 1}, 1)
    memo.get(app, actual, compare_app)
    memo.get(desired_app("web", cmd="serve", requirePorts=True), actual, compare_app)
    assert memo.computed == 2
    bool_actual = ActualApp("/int/web", {"id": "/int/web", "cmd": "serve", "requirePorts": True}, 1)
    memo.get(desired_app("web", cmd="serve", requirePorts=True), bool_actual, compare_app)
    assert memo.computed == 3


def test_equal_definitions_in_new_objects_are_not_compared_again() -> None:
    memo: ComparisonMemo[Any] = ComparisonMemo()
    actual = ActualApp("/int/web", {"id": "/int/web", "cmd": "serve"}, 1, version="v1")
    first = memo.get(desired_app("web", cmd="serve"), actual, compare_app)
    again = memo.get(desired_app("web", cmd="serve"), replace(actual, definition=dict(actual.definition)), compare_app)
    assert again is first and memo.computed == 1


@pytest.mark.parametrize(
    "changed",
    [
        lambda app: replace(app, env="prod"),
        lambda app: replace(app, name="api"),
        lambda app: replace(app, dependencies=("/int/db",)),
    ],
)
def test_what_the_stamp_takes_from_the_app_is_part_of_the_key(changed: Any) -> None:
    memo: ComparisonMemo[Any] = ComparisonMemo()
    app = desired_app("web", cmd="serve")
    actual = ActualApp("/int/web", {"id": "/int/web", "cmd": "serve"}, 1, version="v1")
    memo.get(app, actual, compare_app)
    comparison = memo.get(changed(app), actual, compare_app)
    assert memo.computed == 2 and comparison == compare_app(changed(app), actual)


def test_the_memo_keeps_at_most_its_limit() -> None:
    memo: ComparisonMemo[Any] = ComparisonMemo(limit=2)
    apps = [desired_app(f"a{n}", cmd="serve") for n in range(3)]
    for app in apps:
        memo.get(app, ActualApp(app.app_id, {"id": app.app_id}, 1), compare_app)
    memo.get(apps[0], ActualApp(apps[0].app_id, {"id": apps[0].app_id}, 1), compare_app)
    assert memo.computed == 4  # the first app was the oldest: it had gone
