"""The kill budget counts what serves (docs/healing.md, Budget): a running task is up when its checks
pass (passing, warning, maintenance) or when it is one of the cycle's overdue kill candidates; a running
task not registered in Consul yet, or critical and not overdue, is down like a missing instance."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import pytest

from reconciler.core.heal import HealMemory, decide_heals, default_budget
from reconciler.core.model import Action, ActionKind, Actual, ActualTask, Desired, HealPolicy, Outcome, TaskState
from reconciler.core.registry import CheckStatus, ConsulObservation, ServiceInstance
from tests.unit.consul.consul_world import HTTP_CHECK, actual_app, actual_of, desired_app, desired_of, instance_of, task

POLICY = HealPolicy(critical_for_seconds=30, backoff_seconds=0, crash_loop_heals=100, crash_loop_window_seconds=600)
T0 = 1_000.0
APP = "/integration/api"


def tid(n: int) -> str:
    return f"integration_api.t{n}"


def world(
    statuses: dict[int, CheckStatus | None], instances: int = 4, policy: HealPolicy = POLICY,
    states: dict[int, TaskState] | None = None, healthy: bool | None = True,
) -> tuple[Desired, Actual, ConsulObservation]:
    """Tasks t1..tN of /integration/api with these Consul statuses (None: not registered)."""
    wanted = desired_app("integration", "api", instances=instances, heal=policy, healthChecks=[HTTP_CHECK])
    states = states or {}
    tasks = [task(APP, n, states.get(n, TaskState.RUNNING), healthy) for n in sorted(statuses)]
    consul = ConsulObservation(tuple(
        instance_of(t, "integration", "api", statuses[n]) for n, t in zip(sorted(statuses), tasks, strict=True)
        if statuses[n] is not None
    ))
    return desired_of(wanted), actual_of(actual_app(wanted, tasks)), consul


def kill_actions(actions: tuple[Action, ...]) -> dict[str, Action]:
    return {a.target: a for a in actions if a.kind == ActionKind.KILL_TASK}


def planned(actions: tuple[Action, ...]) -> list[str]:
    return [t for t, a in kill_actions(actions).items() if a.outcome == Outcome.PLANNED]


C, P = CheckStatus.CRITICAL, CheckStatus.PASSING
OVERDUE = HealMemory(critical_since={tid(2): T0 - 60})  # t2 critical for 60 s > 30 s


@pytest.mark.parametrize("healthy", [True, None, False])
def test_a_replacement_not_registered_yet_holds_the_budget(healthy: bool | None) -> None:
    """The first kill's replacement t1 runs but Consul has no instance of it yet (whatever Marathon's own
    health says: traffic finds it only through Consul): t2, overdue, waits."""
    desired, actual, consul = world({1: None, 2: C, 3: P, 4: P}, healthy=healthy)
    decisions = decide_heals(desired, actual, consul, OVERDUE, T0)
    kill = kill_actions(decisions.actions)[tid(2)]
    assert kill.outcome == Outcome.REFUSED
    assert kill.reason.endswith("not killed: kill budget of the app used up (1 instance(s) not serving yet count"
                                " against it)")


def test_a_replacement_critical_inside_its_grace_window_holds_the_budget() -> None:
    """Every fresh HTTP check starts critical: t1, registered and critical for 5 s, does not serve yet."""
    desired, actual, consul = world({1: C, 2: C, 3: P, 4: P})
    memory = HealMemory(critical_since={tid(1): T0 - 5, tid(2): T0 - 60})
    decisions = decide_heals(desired, actual, consul, memory, T0)
    assert planned(decisions.actions) == []
    assert "1 instance(s) not serving yet" in kill_actions(decisions.actions)[tid(2)].reason


@pytest.mark.parametrize("status", [CheckStatus.PASSING, CheckStatus.WARNING, CheckStatus.MAINTENANCE])
def test_a_replacement_that_serves_frees_the_budget(status: CheckStatus) -> None:
    desired, actual, consul = world({1: status, 2: C, 3: P, 4: P})
    decisions = decide_heals(desired, actual, consul, OVERDUE, T0)
    assert planned(decisions.actions) == [tid(2)]


def test_overdue_candidates_count_as_up() -> None:
    """Killing a task that already fails removes no capacity: with every task overdue (a shared
    dependency down), the budget of one still allows one kill."""
    desired, actual, consul = world({1: C, 2: C, 3: C, 4: C})
    memory = HealMemory(critical_since={tid(n): T0 - 60 + n for n in range(1, 5)})
    decisions = decide_heals(desired, actual, consul, memory, T0)
    assert planned(decisions.actions) == [tid(1)]


def test_a_replacement_failing_past_its_own_grace_window_is_a_candidate() -> None:
    """A replacement critical for longer than criticalFor is overdue like any task: it counts as up and
    is killed first (it has been critical the longest), and the others wait."""
    desired, actual, consul = world({1: C, 2: C, 3: P, 4: P})
    memory = HealMemory(critical_since={tid(1): T0 - 90, tid(2): T0 - 60})
    decisions = decide_heals(desired, actual, consul, memory, T0)
    assert planned(decisions.actions) == [tid(1)]
    assert kill_actions(decisions.actions)[tid(2)].reason.endswith("kill budget of the app used up")


def test_a_task_critical_through_its_node_holds_the_budget() -> None:
    """Its node's checks (serfHealth) make t1 critical: never healed, and it serves nothing meanwhile."""
    desired, actual, consul = world({1: C, 2: C, 3: P, 4: P})
    on_dead_node = replace(consul.instances[0], node_critical=True, output="Agent not live or unreachable")
    consul = replace(consul, instances=(on_dead_node, *consul.instances[1:]))
    decisions = decide_heals(desired, actual, consul, HealMemory(critical_since={tid(2): T0 - 60}), T0)
    assert tid(1) not in kill_actions(decisions.actions)
    assert "1 instance(s) not serving yet" in kill_actions(decisions.actions)[tid(2)].reason


def test_a_larger_budget_still_allows_what_is_left() -> None:
    """maxUnavailable 2: one replacement not serving yet leaves one kill for three overdue tasks."""
    desired, actual, consul = world({1: None, 2: C, 3: C, 4: C}, policy=replace(POLICY, max_unavailable=2))
    memory = HealMemory(critical_since={tid(2): T0 - 60, tid(3): T0 - 50, tid(4): T0 - 40})
    decisions = decide_heals(desired, actual, consul, memory, T0)
    assert planned(decisions.actions) == [tid(2)]


def test_kills_in_flight_and_tasks_not_serving_are_both_said() -> None:
    """t1 killed and still listed killing, its replacement t5 running and not registered yet: two down."""
    desired, actual, consul = world({1: None, 2: C, 3: P, 4: P, 5: None}, instances=4,
                                    policy=replace(POLICY, max_unavailable=2), states={1: TaskState.KILLING})
    memory = HealMemory(critical_since={tid(2): T0 - 60}, heals={APP: (T0 - 5,)}, killed={tid(1): T0 - 5})
    decisions = decide_heals(desired, actual, consul, memory, T0)
    assert kill_actions(decisions.actions)[tid(2)].reason.endswith(
        "kill budget of the app used up (1 task(s) killed and still listed by Marathon and 1 instance(s) not"
        " serving yet count against it)"
    )


def test_an_app_whose_tasks_are_never_registered_is_left_alone() -> None:
    """No Consul instance at all (no task judged): nothing to kill and nothing refused."""
    desired, actual, consul = world({1: None, 2: None, 3: None, 4: None})
    decisions = decide_heals(desired, actual, consul, HealMemory(), T0)
    assert decisions.actions == () and decisions.memory.critical_since == {}


# A seeded simulation: tasks failing for good, heal kills, Marathon replacing the killed tasks (listed
# killing for a while, the replacement staging, then running and not registered yet, then registered and
# critical inside its grace window, then passing). Every cycle, the kills whose replacement does not pass
# yet never exceed the budget, and in the end every failing task has been replaced.

STEP = 10.0  # seconds between cycles; a replacement's grace phase stays within criticalFor (30 s)


@dataclass
class Slot:
    """One instance of the app: its current task and what it goes through next (phase, cycles left)."""

    number: int
    incarnation: int = 0
    phase: str = "passing"  # passing, failing, killing, staging, unregistered, grace
    left: int = 0
    healing: bool = False  # killed by a heal, its replacement not passing yet
    kill_seen: bool = True  # while killing: Marathon lists the task killing (False: still running)

    @property
    def task_id(self) -> str:
        return f"integration_api.t{self.number}-{self.incarnation}"


class Cluster:
    def __init__(self, rng: random.Random, instances: int) -> None:
        self.rng = rng
        self.slots = [Slot(n) for n in range(1, instances + 1)]

    def task_of(self, slot: Slot) -> ActualTask | None:
        if slot.phase == "staging" and slot.left == 0:
            return None  # not launched yet
        state = {"killing": TaskState.KILLING if slot.kill_seen else TaskState.RUNNING,
                 "staging": TaskState.STAGING}.get(slot.phase, TaskState.RUNNING)
        return replace(task(APP, slot.number), task_id=slot.task_id, state=state, healthy=None)

    def observe(self, wanted: Desired) -> tuple[Actual, ConsulObservation]:
        [app] = wanted.apps.values()
        tasks = [t for t in map(self.task_of, self.slots) if t is not None]
        status = {"passing": CheckStatus.PASSING, "failing": CheckStatus.CRITICAL, "grace": CheckStatus.CRITICAL}
        instances: list[ServiceInstance] = [
            instance_of(self.task_of(s) or task(APP, 0), "integration", "api", status[s.phase])
            for s in self.slots if s.phase in status
        ]
        return actual_of(actual_app(app, tasks)), ConsulObservation(tuple(instances))

    def kill(self, task_id: str) -> None:
        [slot] = [s for s in self.slots if s.task_id == task_id]
        assert slot.phase not in ("killing", "staging"), f"{task_id} killed while {slot.phase}"
        slot.phase, slot.left, slot.healing = "killing", self.rng.randint(0, 2), True
        slot.kill_seen = self.rng.random() < 0.7

    def advance(self) -> None:
        """One cycle of Marathon and Consul: each slot moves on once its phase's cycles are spent."""
        following = {"killing": "staging", "staging": "unregistered", "unregistered": "grace", "grace": "passing"}
        for slot in self.slots:
            if slot.phase not in following:
                continue
            if slot.left > 0:
                slot.left -= 1
                continue
            slot.phase = following[slot.phase]
            slot.left = {"staging": self.rng.randint(0, 2), "unregistered": self.rng.randint(0, 2),
                         "grace": self.rng.randint(0, 2)}.get(slot.phase, 0)
            if slot.phase == "staging":
                slot.incarnation += 1
            if slot.phase == "passing":
                slot.healing = False


@pytest.mark.parametrize("seed", range(40))
def test_kills_whose_replacement_does_not_serve_yet_never_exceed_the_budget(seed: int) -> None:
    rng = random.Random(seed)
    instances = rng.randint(2, 8)
    max_unavailable = rng.choice([None, 1, 2])
    policy = replace(POLICY, max_unavailable=max_unavailable)
    budget = default_budget(instances) if max_unavailable is None else max_unavailable
    wanted = desired_of(desired_app("integration", "api", instances=instances, heal=policy,
                                    healthChecks=[HTTP_CHECK]))
    cluster = Cluster(rng, instances)
    outage = rng.random() < 0.3  # a shared dependency down: every task fails
    for slot in cluster.slots:
        if outage or rng.random() < 0.6:
            slot.phase = "failing"
    failing = sum(s.phase == "failing" for s in cluster.slots)
    memory, now = HealMemory(), T0
    for cycle in range(150):
        actual, consul = cluster.observe(wanted)
        decisions = decide_heals(wanted, actual, consul, memory, now)
        for task_id in planned(decisions.actions):
            cluster.kill(task_id)
        healing = [s.task_id for s in cluster.slots if s.healing]
        assert len(healing) <= budget, f"seed {seed}, cycle {cycle}: {healing} healing, budget {budget}"
        memory, now = decisions.memory, now + STEP
        cluster.advance()
    assert [s.phase for s in cluster.slots] == ["passing"] * instances, f"seed {seed}: {failing} failing at first"
