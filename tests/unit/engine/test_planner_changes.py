"""A planner owner's change-driven plans equal plans from scratch: side by side over seeded random sequences
of changes (apps added, removed, redefined and rescaled, tasks killed and started, Consul instances gone,
critical or back, queries changed or gone, a task id or service id claimed by two apps and released, the
environment narrowed, prune on and off, a new revision, Consul unreadable, the clock moving on), the
owner's plan equals a fresh Planner's at every step, while the owner decides again only what changed."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pytest

from reconciler.core.approvals import narrowed
from reconciler.core.heal import HealMemory
from reconciler.core.model import (
    Actual,
    ActualApp,
    Desired,
    DesiredApp,
    DesiredEnvironment,
    HealPolicy,
    TaskState,
)
from reconciler.core.plan import PlanOptions
from reconciler.core.queries import desired_queries
from reconciler.core.registrations import service_id_of
from reconciler.core.registry import CheckStatus, ConsulObservation, ObservedQuery, ServiceInstance
from reconciler.engine.observe import Observation
from reconciler.engine.planning import CyclePlan, Planner
from tests.unit.consul.consul_world import desired_app, instance_of, task
from tests.unit.core.planner_builders import applied

STEPS = 60
HEAL = HealPolicy(critical_for_seconds=30, backoff_seconds=20)


@dataclass
class World:
    """The state of the systems, in immutable objects: a step replaces the objects it changes and keeps
    every other one the very same object, as the spec layer and the adapters do."""

    rng: random.Random
    desired_apps: dict[str, DesiredApp] = field(default_factory=dict)
    actual_apps: dict[str, ActualApp] = field(default_factory=dict)
    instances: list[ServiceInstance] = field(default_factory=list)
    queries: dict[str, ObservedQuery] = field(default_factory=dict)
    revision: str = "r1"
    whole: Desired | None = None  # the same object while the specs do not change
    env: str | None = None
    prune: bool = False
    consul_readable: bool = True
    now: float = 1000.0
    serial: int = 0

    def specs(self) -> Desired:
        if self.whole is None:
            own = {env: tuple(sorted(a.name for a in self.desired_apps.values() if a.env == env))
                   for env in ("int", "func")}
            environments = {
                "int": DesiredEnvironment("int", "/int", apps=own["int"]),
                "func": DesiredEnvironment("func", "/func", base="int", apps=own["func"]),
            }
            self.whole = Desired(environments=environments, apps=dict(self.desired_apps), revision=self.revision)
        return self.whole

    def observation(self) -> Observation:
        consul = (ConsulObservation(tuple(self.instances), dict(self.queries)) if self.consul_readable
                  else ConsulObservation(complete=False, problems=("consul: connection refused",)))
        return Observation(Actual(apps=dict(self.actual_apps)), consul)

    def converge(self) -> None:
        """Everything as the specs want it: Marathon's apps with their tasks, registrations and queries."""
        whole = self.specs()
        deployed = applied(whole, Actual(apps={}))
        self.actual_apps = {
            app_id: replace(app, tasks=tuple(task(app_id, n) for n in range(app.instances)))
            for app_id, app in deployed.apps.items()
        }
        self.instances = [
            instance_of(t, whole.apps[app.app_id].env, whole.apps[app.app_id].name)
            for app in self.actual_apps.values() for t in app.tasks
        ]
        wanted, _ = desired_queries(whole)
        self.queries = {q.name: ObservedQuery(f"q-{q.name}", q.name, q.service, q.tags, q.only_passing) for q in wanted}

    # The changes, each picked at random ---------------------------------------------------------------

    def add_app(self) -> None:
        self.serial += 1
        env = self.rng.choice(("int", "func"))
        app = desired_app(env, f"new{self.serial}", instances=self.rng.randint(1, 3), heal=HEAL, cmd="serve")
        self._desire(app.app_id, app)

    def remove_app(self) -> None:
        if self.desired_apps:
            self._desire(self._pick(self.desired_apps), None)

    def redefine_app(self) -> None:
        if self.desired_apps:
            app = self.desired_apps[self._pick(self.desired_apps)]
            definition = {**app.definition, "cmd": f"serve --v{self.rng.randint(1, 9)}"}
            self._desire(app.app_id, replace(app, definition=definition))

    def rescale_app(self) -> None:
        if self.desired_apps:
            app = self.desired_apps[self._pick(self.desired_apps)]
            count = self.rng.randint(0, 3)
            self._desire(app.app_id, replace(app, instances=count, definition={**app.definition, "instances": count}))

    def scale_in_marathon(self) -> None:
        if self.actual_apps:
            app = self.actual_apps[self._pick(self.actual_apps)]
            self.actual_apps[app.app_id] = replace(app, instances=app.instances + self.rng.choice((-1, 1)))

    def delete_in_marathon(self) -> None:
        if self.actual_apps:
            del self.actual_apps[self._pick(self.actual_apps)]

    def kill_task(self) -> None:
        apps = [app for app in self.actual_apps.values() if app.tasks]
        if apps:
            app = self.rng.choice(apps)
            tasks = list(app.tasks)
            n = self.rng.randrange(len(tasks))
            if self.rng.random() < 0.5:
                tasks[n] = replace(tasks[n], state=self.rng.choice((TaskState.KILLED, TaskState.KILLING)))
            else:
                del tasks[n]
            self.actual_apps[app.app_id] = replace(app, tasks=tuple(tasks))

    def start_task(self) -> None:
        if self.actual_apps:
            app = self.actual_apps[self._pick(self.actual_apps)]
            self.serial += 1
            started = task(app.app_id, 10 + self.serial % 200, healthy=self.rng.choice((True, None)))
            self.actual_apps[app.app_id] = replace(app, tasks=(*app.tasks, started))

    def drop_instance(self) -> None:
        if self.instances:
            del self.instances[self.rng.randrange(len(self.instances))]

    def check_moves(self) -> None:
        if self.instances:
            n = self.rng.randrange(len(self.instances))
            status = self.rng.choice((CheckStatus.CRITICAL, CheckStatus.CRITICAL, CheckStatus.WARNING,
                                      CheckStatus.PASSING))
            self.instances[n] = replace(self.instances[n], status=status, output=f"{status} at {self.now:g}")

    def reorder_instances(self) -> None:
        """Consul lists two instances the other way round (nothing else moved)."""
        if len(self.instances) > 1:
            i, j = sorted(self.rng.sample(range(len(self.instances)), 2))
            self.instances[i], self.instances[j] = self.instances[j], self.instances[i]

    def register_twice(self) -> None:
        """A second registration of one service id (on another node): the later one observed counts."""
        if self.instances:
            twin = self.rng.choice(self.instances)
            self.instances.insert(self.rng.randrange(len(self.instances) + 1), replace(twin, node="node-other"))

    def share_task_id(self) -> None:
        """One app lists a task of another under that task's id: both read its instances (heals, by task id)."""
        holders = [app for app in self.actual_apps.values() if app.tasks]
        if holders and len(self.actual_apps) > 1:
            lender = self.rng.choice(holders)
            borrower = self.actual_apps[self._pick({k: v for k, v in self.actual_apps.items() if k != lender.app_id})]
            lent = replace(self.rng.choice(lender.tasks), app_id=borrower.app_id)
            self.actual_apps[borrower.app_id] = replace(borrower, tasks=(*borrower.tasks, lent))

    def twin_in_marathon(self) -> None:
        """Someone runs `/int_app0` beside `/int/app0`: its tasks `tN` have the service ids `int_app0.tN` of the
        other's tasks (registrations read instances by service id)."""
        originals = {app_id: app for app_id, app in self.actual_apps.items() if app_id.count("/") == 2}
        if originals:
            original = originals[self._pick(originals)]
            twin_id = "/" + original.app_id.strip("/").replace("/", "_")
            tasks = tuple(replace(t, app_id=twin_id, task_id=t.task_id.partition(".")[2]) for t in original.tasks)
            self.actual_apps[twin_id] = replace(original, app_id=twin_id, tasks=tasks)

    def claimed_check_moves(self) -> None:
        """The check of an instance that two apps read moves (else any instance's)."""
        claims: dict[str, set[str]] = {}
        for app in self.actual_apps.values():
            for t in app.tasks:
                for key in (t.task_id, service_id_of(app.app_id, t.task_id)):
                    claims.setdefault(key, set()).add(app.app_id)
        shared = [n for n, i in enumerate(self.instances) if len(claims.get(i.task_id, ())) > 1
                  or len(claims.get(i.service_id, ())) > 1]
        if not shared:
            self.check_moves()
            return
        n = self.rng.choice(shared)
        status = self.rng.choice((CheckStatus.CRITICAL, CheckStatus.WARNING, CheckStatus.PASSING))
        self.instances[n] = replace(self.instances[n], status=status, output=f"{status} at {self.now:g}")

    def release_claims(self) -> None:
        """The tasks one app holds under another's name go (a borrowed task, a twin app's)."""
        for app_id, app in sorted(self.actual_apps.items()):
            own = [t for t in app.tasks if t.task_id.startswith(app_id.strip("/").replace("/", "_") + ".")]
            if app_id.count("/") == 1:  # a twin
                del self.actual_apps[app_id]
                return
            if len(own) < len(app.tasks):
                self.actual_apps[app_id] = replace(app, tasks=tuple(own))
                return

    def change_query(self) -> None:
        if self.queries:
            name = self._pick(self.queries)
            if self.rng.random() < 0.5:
                del self.queries[name]
            else:
                self.queries[name] = replace(self.queries[name], tags=("elsewhere", *self.queries[name].tags[1:]))

    def narrow(self) -> None:
        self.env = self.rng.choice((None, None, "int", "func"))

    def toggle_prune(self) -> None:
        self.prune = not self.prune

    def new_revision(self) -> None:
        self.serial += 1
        self.revision, self.whole = f"r{self.serial}", None

    def toggle_consul(self) -> None:
        self.consul_readable = not self.consul_readable

    def time_passes(self) -> None:
        self.now += self.rng.choice((1.0, 15.0, 31.0, 61.0))

    def nothing(self) -> None:
        """An idle cycle: the same objects again."""

    def _pick(self, mapping: dict[str, object]) -> str:
        return self.rng.choice(sorted(mapping))

    def _desire(self, app_id: str, app: DesiredApp | None) -> None:
        if app is None:
            self.desired_apps.pop(app_id, None)
        else:
            self.desired_apps[app_id] = app
        self.whole = None


CHANGES: list[Callable[[World], None]] = [
    World.add_app, World.remove_app, World.redefine_app, World.rescale_app, World.scale_in_marathon,
    World.delete_in_marathon, World.kill_task, World.kill_task, World.start_task, World.drop_instance,
    World.check_moves, World.check_moves, World.reorder_instances, World.register_twice, World.change_query,
    World.share_task_id, World.twin_in_marathon, World.claimed_check_moves, World.claimed_check_moves,
    World.release_claims,
    World.narrow, World.toggle_prune, World.new_revision, World.toggle_consul, World.time_passes,
    World.time_passes, World.nothing, World.converge,
]


def started(seed: int) -> World:
    world = World(random.Random(seed))
    for env, count in (("int", 6), ("func", 2)):
        for n in range(count):
            app = desired_app(env, f"app{n}", instances=world.rng.randint(1, 3), heal=HEAL, cmd="serve")
            world.desired_apps[app.app_id] = app
    world.converge()
    return world


def plan_of(planner: Planner, world: World, memory: HealMemory, observation: Observation) -> CyclePlan:
    whole = world.specs()
    desired = narrowed(whole, world.env) if world.env else whole
    options = PlanOptions(prune=world.prune, env=world.env)
    return planner.plan(desired, observation, options, memory, world.now, consul_desired=whole)


def afresh(observation: Observation) -> Observation:
    """The same observation in new containers: no index carried over from an earlier one."""
    consul = observation.consul
    return replace(observation, consul=ConsulObservation(consul.instances, consul.queries, consul.complete,
                                                         consul.problems))


@pytest.mark.parametrize("seed", range(12))
def test_an_owners_plan_equals_a_plan_from_scratch_at_every_step(seed: int) -> None:
    world, owner, memory = started(seed), Planner(), HealMemory()
    decided = from_scratch = 0
    memories = [memory]
    for step in range(STEPS):
        change = world.rng.choice(CHANGES)
        change(world)
        if world.rng.random() < 0.1:  # a plan from another memory than the last plan's (a one-off's, a restart's)
            memory = world.rng.choice(memories)
        observation = world.observation()
        fresh = Planner()
        expected = plan_of(fresh, world, memory, afresh(observation))
        planned = plan_of(owner, world, memory, observation)
        assert planned == expected, f"seed {seed}, step {step}: after {change.__name__}"
        memory = planned.memory
        memories.append(memory)
        decided += owner.memos.writes.computed
        from_scratch += fresh.memos.writes.computed
        owner.memos.writes.computed = 0
    assert decided < from_scratch / 2, "the owner decided again about as much as a plan from scratch"


def test_an_owner_decides_again_only_the_app_that_changed() -> None:
    world, owner = started(1), Planner()
    first = plan_of(owner, world, HealMemory(), world.observation())
    settled = plan_of(owner, world, first.memory, world.observation())
    memos = owner.memos
    before = (memos.writes.computed, memos.registrations.computed, memos.heals.computed)
    app = world.actual_apps["/int/app0"]
    world.actual_apps[app.app_id] = replace(app, instances=app.instances + 1)
    owner.plans.clear()  # not the idle plan: the change scan answers
    planned = plan_of(owner, world, settled.memory, world.observation())
    after = (memos.writes.computed, memos.registrations.computed, memos.heals.computed)
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 1]
    assert [(a.kind, a.target) for a in planned.plan.pending] == [("scale", "/int/app0")]
