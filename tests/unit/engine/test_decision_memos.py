"""core/decision_memo.py through plan_cycle: after one change, only the app (or query) that changed is
decided again, the change shows in the plan, and the memos forget apps and queries no longer observed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.core.decision_memo import IdentityMemo
from reconciler.core.heal import HealMemory
from reconciler.core.model import ActionKind, Desired
from reconciler.core.registry import MANAGED_TAG, CheckStatus
from reconciler.engine.observe import Observation
from reconciler.engine.planning import Planner
from tests.unit.engine.test_plan_memo import cycle, idle, world


@pytest.fixture
def planner() -> Planner:
    """One controller's planner, kept across the cycles of a test."""
    return Planner()


def counts(planner: Planner) -> tuple[int, int, int]:
    memos = planner.memos
    return memos.registrations.computed, memos.heals.computed, memos.queries.computed


def settled(planner: Planner) -> tuple[Desired, Observation, HealMemory]:
    desired, observation = world()
    _, memory = idle(planner, desired, observation)
    return desired, observation, memory


def with_instance(observation: Observation, index: int, **changes: object) -> Observation:
    instances = list(observation.consul.instances)
    instances[index] = replace(instances[index], **changes)  # type: ignore[arg-type]
    return replace(observation, consul=replace(observation.consul, instances=tuple(instances)))


def test_identity_memo_gives_back_only_for_the_same_objects_and_forgets_what_a_pass_skipped() -> None:
    memo: IdentityMemo[str] = IdentityMemo()
    first, equal = {"a": 1}, {"a": 1}
    with memo.pass_(lambda: ("k", "gone")):
        assert memo.get("k", (first,), lambda: "one") == "one"
        memo.get("gone", (first,), lambda: "x")
    with memo.pass_(lambda: ("k",)) as deciding:
        assert list(deciding) == ["k"]
        assert memo.get("k", (first,), lambda: "two") == "one"  # the same object: kept
    assert memo.size == 1 and memo.values() == ["one"]  # "gone" was not asked for in the last pass
    with memo.pass_(lambda: ("k", "k2")):
        assert memo.get("k", (equal,), lambda: "three") == "three"  # equal, not the same: computed again
        assert memo.get("k2", (first, None), lambda: "y") == "y"
        memo.once("k2", "y")
    assert memo.values() == ["three", "y"] and memo.computed == 4
    with memo.pass_(lambda: ("k", "k2")):
        assert memo.get("k2", (first, None), lambda: "made again") == "made again"  # made with the clock
    memo.get("outside", (first,), lambda: "z")  # outside a pass nothing is kept
    assert memo.size == 1


def test_a_pass_told_what_changed_decides_those_and_the_clocks_and_keeps_every_other_value_in_place() -> None:
    memo: IdentityMemo[str] = IdentityMemo()
    objects = {key: object() for key in "abcde"}
    keys = ["a", "b", "d", "e"]
    with memo.pass_(lambda: keys) as deciding:
        for key in deciding:
            value = memo.get(key, (objects[key],), lambda key=key: key.upper())
            if key == "e":
                memo.once(key, value)
    keys = ["a", "b", "c", "d", "e"]  # c comes, b changes, d goes
    keys.remove("d")
    with memo.pass_(lambda: keys, frozenset({"b", "c", "d"})) as deciding:
        assert list(deciding) == ["b", "c", "d", "e"]  # the changed ones, and the one made with the clock
        memo.get("b", (object(),), lambda: "B2")
        memo.get("c", (objects["c"],), lambda: "C")
        memo.once("e", "E2")
    assert memo.values() == ["A", "B2", "C", "E2"] and memo.computed == 4 + 2
    with memo.pass_(lambda: keys, frozenset()) as deciding:
        assert list(deciding) == ["e"]
        memo.get("e", (objects["e"],), lambda: "E3")  # no longer with the clock: given back from now on
    assert memo.values() == ["A", "B2", "C", "E3"]
    with memo.pass_(lambda: keys, frozenset()) as deciding:
        assert list(deciding) == []
    assert memo.values() == ["A", "B2", "C", "E3"]


def test_an_idle_plan_after_a_cleared_plan_memo_decides_nothing_again(planner: Planner) -> None:
    desired, observation, memory = settled(planner)
    before = counts(planner)
    planner.plans.clear()
    again = cycle(planner, desired, replace(observation), memory)
    assert again.plan.empty and counts(planner) == before


def test_a_critical_instance_is_decided_again_for_its_app_alone(planner: Planner) -> None:
    desired, observation, memory = settled(planner)
    before = counts(planner)
    changed = with_instance(observation, 0, status=CheckStatus.CRITICAL, output="refused")
    planned = cycle(planner, desired, changed, memory)
    registrations, heals, queries = (b - a for a, b in zip(before, counts(planner), strict=True))
    assert (registrations, heals, queries) == (1, 1, 0)
    assert planned.memory.critical_since  # the waiting heal is planned: the change is seen
    assert any(a.kind == ActionKind.WARN and "critical" in a.reason for a in planned.plan.actions)
    again = cycle(planner, desired, changed, planned.memory, now=101.0)
    assert again.memory.critical_since == planned.memory.critical_since
    assert counts(planner)[1] == before[1] + 2  # a critical task is decided with the clock: never given back


def test_a_registration_that_differs_is_registered_again(planner: Planner) -> None:
    desired, observation, memory = settled(planner)
    before = counts(planner)
    moved = with_instance(observation, 1, port=1)
    planned = cycle(planner, desired, moved, memory)
    assert counts(planner)[0] == before[0] + 1
    (register,) = [a for a in planned.plan.pending if a.kind == ActionKind.REGISTER]
    assert "Port" in register.reason and register.target == observation.consul.instances[1].service_id


def test_a_changed_query_is_compared_again_alone(planner: Planner) -> None:
    desired, observation, memory = settled(planner)
    before = counts(planner)
    name, query = next(iter(observation.consul.queries.items()))
    queries = {**observation.consul.queries, name: replace(query, tags=("staging", MANAGED_TAG))}
    planned = cycle(planner, desired, replace(observation, consul=replace(observation.consul, queries=queries)), memory)
    assert counts(planner)[2] == before[2] + 1
    assert [(a.kind, a.target) for a in planned.plan.pending] == [(ActionKind.QUERY_UPDATE, name)]


def test_the_memos_forget_an_app_no_longer_observed(planner: Planner) -> None:
    desired, observation, memory = settled(planner)
    assert planner.memos.registrations.size == 2 and planner.memos.heals.size == 2
    apps = {k: v for k, v in observation.actual.apps.items() if k != "/prod/web"}
    cycle(planner, desired, replace(observation, actual=replace(observation.actual, apps=apps)), memory)
    assert planner.memos.registrations.size == 1 and planner.memos.heals.size == 1
