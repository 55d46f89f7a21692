"""The Consul decisions' fast paths (core/registrations.py `_all_registered`, core/heal.py `_quiet`,
core/queries.py `_as_wanted`) side by side with the full decisions over varied synthetic worlds: every
reason a decision can have, mixed app by app, gives the same actions and the same heal memory, on a
first cycle and on the next one (memos warm), with the fast paths on and off."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from reconciler.core import heal, queries, registrations
from reconciler.core.decision_memo import DecisionMemos
from reconciler.core.heal import HealMemory, decide_heals
from reconciler.core.model import Action, Actual, ActualApp, ActualTask, Desired, DesiredApp, HealPolicy, TaskState
from reconciler.core.queries import plan_queries
from reconciler.core.registrations import plan_registrations
from reconciler.core.registry import (
    MANAGED_TAG,
    META_APP_VERSION,
    CheckStatus,
    ConsulObservation,
    ObservedQuery,
    ServiceInstance,
)
from tests.unit.consul.consul_world import actual_app, desired_app, desired_of, instance_of, task

NOW = 1_000.0
POLICY = HealPolicy(critical_for_seconds=30, backoff_seconds=60, crash_loop_heals=3)


@dataclass
class World:
    """One synthetic cycle's inputs, built app by app."""

    wanted: list[DesiredApp] = field(default_factory=list)
    apps: list[ActualApp] = field(default_factory=list)
    instances: list[ServiceInstance] = field(default_factory=list)
    queries: dict[str, ObservedQuery] = field(default_factory=dict)
    since: dict[str, float] = field(default_factory=dict)
    heals: dict[str, tuple[float, ...]] = field(default_factory=dict)
    registered: set[str] = field(default_factory=set)

    def inputs(self) -> tuple[Desired, Actual, ConsulObservation, HealMemory]:
        desired = desired_of(*self.wanted)
        actual = Actual(apps={a.app_id: a for a in self.apps})
        consul = ConsulObservation(instances=tuple(self.instances), queries=dict(self.queries))
        return desired, actual, consul, HealMemory(dict(self.since), dict(self.heals), frozenset(self.registered))


def observed_query(name: str, service: str, tags: tuple[str, ...], only_passing: bool = True) -> ObservedQuery:
    return ObservedQuery(query_id=f"id-{name}", name=name, service=service, tags=tags, only_passing=only_passing)


def add_app(world: World, rng: random.Random, n: int) -> None:
    """One app of a random case: how its tasks run, how Consul has them, what healing remembers."""
    env = rng.choice(["prod", "staging"])
    name = f"app{n}"
    policy = rng.choice([POLICY, POLICY, replace(POLICY, enabled=False), replace(POLICY, crash_loop_heals=0)])
    count = rng.choice([1, 1, 1, 2, 3])
    wanted = desired_app(env, name, instances=count, heal=policy)
    running = count + (1 if rng.random() < 0.1 else 0)  # one more than desired now and then
    tasks = [task(wanted.app_id, k) for k in range(1, running + 1)]
    rng.shuffle(tasks)  # Marathon's order is not the task ids' order
    tasks = [with_state(t, rng) for t in tasks]
    world.wanted.append(wanted)
    world.apps.append(actual_app(wanted, tasks, managed=rng.random() > 0.05))
    for t in tasks:
        world.instances.extend(instances_of(t, env, name, rng, world))
    add_query(world, rng, env, name)
    if rng.random() < 0.05:
        world.heals[wanted.app_id] = (NOW - rng.choice([10.0, 100.0, 1_000.0]),)  # a recent heal, or an old one


def with_state(t: ActualTask, rng: random.Random) -> ActualTask:
    roll = rng.random()
    if roll < 0.05:
        return replace(t, state=rng.choice([TaskState.STAGING, TaskState.KILLING, TaskState.FAILED]))
    return replace(t, healthy=rng.choice([True, True, False, None])) if roll < 0.15 else t


CASES: dict[str, Callable[[ServiceInstance, ActualTask], Any]] = {
    "port": lambda i, t: replace(i, port=i.port + 1),
    "address": lambda i, t: replace(i, address="10.9.9.9"),
    "name": lambda i, t: replace(i, name="other"),
    "tags reversed": lambda i, t: replace(i, tags=tuple(reversed(i.tags))),  # the same tags to Consul
    "tags extra": lambda i, t: replace(i, tags=(*i.tags, "canary")),
    "tags other env": lambda i, t: replace(i, tags=("elsewhere", MANAGED_TAG)),
    "meta version": lambda i, t: replace(i, meta={**i.meta, META_APP_VERSION: "older"}),
    "meta extra": lambda i, t: replace(i, meta={**i.meta, "owner": "x"}),
    "meta missing": lambda i, t: replace(i, meta={k: v for k, v in i.meta.items() if k != META_APP_VERSION}),
    "critical": lambda i, t: replace(i, status=CheckStatus.CRITICAL, output="refused"),
    "warning": lambda i, t: replace(i, status=CheckStatus.WARNING, output="slow"),
    "maintenance": lambda i, t: replace(i, status=CheckStatus.MAINTENANCE),
    "unknown status": lambda i, t: replace(i, status=None),
}


def instances_of(t: ActualTask, env: str, name: str, rng: random.Random, world: World) -> Iterator[ServiceInstance]:
    """The task's instances: as wanted, missing, differing, failing, twice, or left by a dead task."""
    roll = rng.random()
    if roll < 0.1:  # missing: lost if it was seen registered (healing repairs it), else a first registration
        if rng.random() < 0.5:
            world.registered.add(t.task_id)
        return
    instance = instance_of(t, env, name)
    if roll < 0.45:
        case = rng.choice(sorted(CASES))
        instance = CASES[case](instance, t)
        if case == "critical":
            world.since[t.task_id] = NOW - rng.choice([5.0, 31.0, 300.0])  # inside the grace window, or past it
    elif roll < 0.5:
        world.since[t.task_id] = NOW - 100.0  # flapping: critical last cycle, passing now
    world.registered.add(t.task_id)
    yield instance
    if rng.random() < 0.05:  # a duplicate registration of the task under another id
        yield replace(instance, service_id=instance.service_id + ".dup", node="node-x")
    if rng.random() < 0.05:  # a stale instance of a task that is gone
        gone = replace(t, task_id=t.task_id + "-gone")
        yield instance_of(gone, env, name)


def add_query(world: World, rng: random.Random, env: str, name: str) -> None:
    """The app's prepared query: as wanted, missing, resolving elsewhere, not ours, or a stale one of ours."""
    query = f"{name}.{env}"
    roll = rng.random()
    if roll < 0.6:
        tags = (env, MANAGED_TAG) if rng.random() < 0.8 else (MANAGED_TAG, env)
        world.queries[query] = observed_query(query, name, tags)
    elif roll < 0.7:
        world.queries[query] = observed_query(query, name, ("elsewhere", MANAGED_TAG))
    elif roll < 0.75:
        world.queries[query] = observed_query(query, name, (env, MANAGED_TAG), only_passing=False)
    elif roll < 0.8:
        world.queries[query] = observed_query(query, name, (env,))  # not ours
    elif roll < 0.85:
        world.queries[query] = observed_query(query, "other", (env, MANAGED_TAG))
    if rng.random() < 0.1:
        stale = f"old{name}.{env}"
        world.queries[stale] = observed_query(stale, f"old{name}", (env, MANAGED_TAG))


def world_of(seed: int, apps: int = 60) -> World:
    rng = random.Random(seed)
    world = World()
    for n in range(apps):
        add_app(world, rng, n)
    rng.shuffle(world.instances)
    return world


def decide(
    desired: Desired, actual: Actual, consul: ConsulObservation, memory: HealMemory, memos: DecisionMemos
) -> tuple[tuple[Action, ...], HealMemory]:
    registered = plan_registrations(desired, actual, consul, memos.registrations)
    queried = plan_queries(desired, actual, consul, prune=True, memos=memos)
    healed = decide_heals(desired, actual, consul, memory, NOW, memos.heals)
    return registered + queried + healed.actions, healed.memory


def two_cycles(world: World) -> list[tuple[tuple[Action, ...], HealMemory]]:
    """The decisions of a first cycle (memos cold) and of the next one on the same objects (memos warm)."""
    desired, actual, consul, memory = world.inputs()
    memos = DecisionMemos()
    first = decide(desired, actual, consul, memory, memos)
    return [first, decide(desired, actual, consul, first[1], memos)]


@pytest.fixture
def full_decisions(monkeypatch: pytest.MonkeyPatch) -> Callable[[World], list[Any]]:
    """The decisions with every fast path off: each app, query and task decided in full."""

    def decided(world: World) -> list[Any]:
        with monkeypatch.context() as patched:
            patched.setattr(registrations, "_all_registered", lambda *args: None)
            patched.setattr(heal, "_quiet", lambda *args: None)
            patched.setattr(queries, "_as_wanted", lambda *args: False)
            return two_cycles(world)

    return decided


@pytest.mark.parametrize("seed", range(30))
def test_the_fast_paths_decide_what_the_full_decisions_decide(
    seed: int, full_decisions: Callable[[World], list[Any]]
) -> None:
    world = world_of(seed)
    fast = two_cycles(world)
    assert fast == full_decisions(world)
    actions, memory = fast[0]
    assert actions and memory.registered  # the world is not trivial: something to do, tasks registered


def test_every_kind_of_decision_shows_up_across_the_worlds() -> None:
    reasons = " | ".join(a.reason for seed in range(30) for a in two_cycles(world_of(seed))[0][0])
    for expected in ("without a registration", "registration differs: Port", "Tags", "Meta", "Address", "Name",
                     "is gone", "duplicate registration", "being killed", "was lost", "critical for",
                     "check critical on task", "check warning", "instances running", "crash-looping",
                     "resolves to", "not ours", "left the specs"):
        assert expected in reasons, expected


def test_the_fast_paths_are_taken_for_an_app_registered_as_wanted_and_passing() -> None:
    wanted = desired_app("prod", "web", instances=2, heal=POLICY)
    tasks = [task(wanted.app_id, 2), task(wanted.app_id, 1)]
    app = actual_app(wanted, tasks)
    found = [instance_of(t, "prod", "web") for t in tasks]
    decided = registrations._all_registered(app, desired_of(wanted), list(found))
    assert decided == registrations.AppRegistrations(("prod_web.t1", "prod_web.t2"), ())
    assert heal._quiet(wanted, app, [(i,) for i in found]) == {"prod_web.t1", "prod_web.t2"}
    moved = replace(found[0], port=1)
    assert registrations._all_registered(app, desired_of(wanted), [moved, found[1]]) is None
    assert heal._quiet(wanted, app, [(replace(found[0], status=CheckStatus.WARNING),), (found[1],)]) is None
