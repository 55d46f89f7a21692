"""core/decision_memo.py through plan_cycle: after one change, only the app (or query) that changed is
decided again, the change shows in the plan, and the memos forget apps and queries no longer observed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from reconciler.core.decision_memo import IdentityMemo
from reconciler.core.heal import HealMemory
from reconciler.core.model import ActionKind, Desired
from reconciler.core.registry import MANAGED_TAG, CheckStatus
from reconciler.engine.observe import Observation
from reconciler.engine.planning import DECISIONS, PLANS
from tests.unit.engine.test_plan_memo import cycle, idle, world


@pytest.fixture(autouse=True)
def fresh_memos() -> Iterator[None]:
    PLANS.clear()
    DECISIONS.clear()
    yield
    PLANS.clear()
    DECISIONS.clear()


def counts() -> tuple[int, int, int]:
    return DECISIONS.registrations.computed, DECISIONS.heals.computed, DECISIONS.queries.computed


def settled() -> tuple[Desired, Observation, HealMemory]:
    desired, observation = world()
    _, memory = idle(desired, observation)
    return desired, observation, memory


def with_instance(observation: Observation, index: int, **changes: object) -> Observation:
    instances = list(observation.consul.instances)
    instances[index] = replace(instances[index], **changes)  # type: ignore[arg-type]
    return replace(observation, consul=replace(observation.consul, instances=tuple(instances)))


def test_identity_memo_gives_back_only_for_the_same_objects_and_forgets_what_a_pass_skipped() -> None:
    memo: IdentityMemo[str] = IdentityMemo()
    first, equal = {"a": 1}, {"a": 1}
    with memo.pass_():
        assert memo.get("k", (first,), lambda: "one") == "one"
        memo.get("gone", (first,), lambda: "x")
    with memo.pass_():
        assert memo.get("k", (first,), lambda: "two") == "one"  # the same object: kept
    assert memo.size == 1  # "gone" was not asked for in the last pass
    with memo.pass_():
        assert memo.get("k", (equal,), lambda: "three") == "three"  # equal, not the same: computed again
        assert memo.get("k2", (first, None), lambda: "y") == "y"
        memo.skip("k2")
    assert memo.size == 1 and memo.computed == 4
    memo.get("outside", (first,), lambda: "z")  # outside a pass nothing is kept
    assert memo.size == 1


def test_an_idle_plan_after_a_cleared_plan_memo_decides_nothing_again() -> None:
    desired, observation, memory = settled()
    before = counts()
    PLANS.clear()
    again = cycle(desired, replace(observation), memory)
    assert again.plan.empty and counts() == before


def test_a_critical_instance_is_decided_again_for_its_app_alone() -> None:
    desired, observation, memory = settled()
    before = counts()
    changed = with_instance(observation, 0, status=CheckStatus.CRITICAL, output="refused")
    planned = cycle(desired, changed, memory)
    registrations, heals, queries = (b - a for a, b in zip(before, counts(), strict=True))
    assert (registrations, heals, queries) == (1, 1, 0)
    assert planned.memory.critical_since  # the waiting heal is planned: the change is seen
    assert any(a.kind == ActionKind.WARN and "critical" in a.reason for a in planned.plan.actions)
    again = cycle(desired, changed, planned.memory, now=101.0)
    assert again.memory.critical_since == planned.memory.critical_since
    assert counts()[1] == before[1] + 2  # a critical task is decided with the clock: never given back


def test_a_registration_that_differs_is_registered_again() -> None:
    desired, observation, memory = settled()
    before = counts()
    moved = with_instance(observation, 1, port=1)
    planned = cycle(desired, moved, memory)
    assert counts()[0] == before[0] + 1
    (register,) = [a for a in planned.plan.pending if a.kind == ActionKind.REGISTER]
    assert "Port" in register.reason and register.target == observation.consul.instances[1].service_id


def test_a_changed_query_is_compared_again_alone() -> None:
    desired, observation, memory = settled()
    before = counts()
    name, query = next(iter(observation.consul.queries.items()))
    queries = {**observation.consul.queries, name: replace(query, tags=("staging", MANAGED_TAG))}
    planned = cycle(desired, replace(observation, consul=replace(observation.consul, queries=queries)), memory)
    assert counts()[2] == before[2] + 1
    assert [(a.kind, a.target) for a in planned.plan.pending] == [(ActionKind.QUERY_UPDATE, name)]


def test_the_memos_forget_an_app_no_longer_observed() -> None:
    desired, observation, memory = settled()
    assert DECISIONS.registrations.size == 2 and DECISIONS.heals.size == 2
    apps = {k: v for k, v in observation.actual.apps.items() if k != "/prod/web"}
    cycle(desired, replace(observation, actual=replace(observation.actual, apps=apps)), memory)
    assert DECISIONS.registrations.size == 1 and DECISIONS.heals.size == 1
