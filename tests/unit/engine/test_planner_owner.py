"""Who owns a Planner: a controller keeps one for its life, every one-off sync makes its own, and one
planner shared by two threads (a controller's worker and its loop) plans one plan at a time, each right."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from reconciler.core.heal import HealMemory
from reconciler.core.model import Actual, Desired
from reconciler.core.plan import PlanOptions
from reconciler.engine import planning
from reconciler.engine.cycle import Reconciler
from reconciler.engine.observe import Observation
from reconciler.engine.planning import CyclePlan, Planner
from reconciler.engine.sync import SyncRequest
from tests.unit.engine.test_planner_changes import World, started

ROUNDS = 30


def test_a_controller_keeps_one_planner_and_a_one_off_sync_makes_its_own() -> None:
    desired = Desired(environments={}, apps={})
    reconciler = Reconciler(lambda: desired, marathon=None, consul=None)  # type: ignore[arg-type]
    assert reconciler._request(desired).planner is reconciler._request(desired).planner is reconciler.planner
    assert SyncRequest(desired).planner is not SyncRequest(desired).planner
    assert replace(SyncRequest(desired), dry_run=True).planner is not None


@pytest.fixture
def switching_often() -> Iterator[None]:
    """Threads switch every few bytecodes: two plans interleave if nothing keeps them apart."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def planned(planner: Planner, world: World, observation: Observation) -> CyclePlan:
    return planner.plan(world.specs(), observation, PlanOptions(prune=True), HealMemory(), world.now)


@pytest.mark.usefixtures("switching_often")
def test_two_threads_sharing_one_planner_each_get_the_plan_from_scratch(monkeypatch: pytest.MonkeyPatch) -> None:
    world = started(3)
    settled = world.observation()
    world.kill_task()
    world.check_moves()
    moved = world.observation()
    expected = {id(o): planned(Planner(), world, o) for o in (settled, moved)}
    shared, wrong, inside = Planner(), list[str](), [0, 0]  # plans inside now, most ever at once
    real = planning._plan_cycle

    def yielding(*args: Any) -> CyclePlan:
        inside[0] += 1
        inside[1] = max(inside)
        time.sleep(0)  # hands the interpreter to the other thread mid-plan
        try:
            return real(*args)
        finally:
            inside[0] -= 1

    monkeypatch.setattr(planning, "_plan_cycle", yielding)

    def plan_alternately(first: Observation, second: Observation) -> None:
        for n in range(ROUNDS):
            observation = first if n % 2 else second
            fresh = replace(observation, actual=Actual(apps=dict(observation.actual.apps)))
            try:
                if planned(shared, world, fresh) != expected[id(observation)]:
                    wrong.append(f"round {n}: another plan")
            except Exception as exc:  # a thread's exception would otherwise be lost
                wrong.append(f"round {n}: {exc!r}")

    threads = [threading.Thread(target=plan_alternately, args=pair) for pair in ((settled, moved), (moved, settled))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads) and wrong == []
    assert inside[1] == 1, "two plans ran at once"
