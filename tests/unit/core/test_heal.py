"""Table-driven tests of decide_heals (pure core): each rule, each guard, boundary times."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.core.heal import HealMemory, decide_heals, default_budget, forget_unsent, minimum_healthy
from reconciler.core.model import Action, ActionKind, Actual, Desired, HealPolicy, Outcome, TaskState
from reconciler.core.registry import CheckStatus, ConsulObservation
from tests.unit.consul.consul_world import (
    HTTP_CHECK,
    actual_app,
    actual_of,
    desired_app,
    desired_of,
    instance_of,
    task,
)

POLICY = HealPolicy(critical_for_seconds=30, backoff_seconds=60, crash_loop_heals=3, crash_loop_window_seconds=600)
T0 = 1_000.0


def world(
    instances: int = 4,
    critical: tuple[int, ...] = (),
    warning: tuple[int, ...] = (),
    policy: HealPolicy = POLICY,
    running: int | None = None,
    upgrade: dict[str, float] | None = None,
    **app_kw: object,
) -> tuple[Desired, Actual, ConsulObservation]:
    extra = {"upgradeStrategy": upgrade} if upgrade else {}
    wanted = desired_app("integration", "api", instances=instances, heal=policy, healthChecks=[HTTP_CHECK], **extra)
    tasks = [task(wanted.app_id, n) for n in range(1, (running if running is not None else instances) + 1)]
    statuses = {n: CheckStatus.CRITICAL for n in critical} | {n: CheckStatus.WARNING for n in warning}
    consul = ConsulObservation(
        tuple(
            instance_of(t, "integration", "api", statuses.get(n, CheckStatus.PASSING), output=f"out {n}")
            for n, t in enumerate(tasks, 1)
        )
    )
    return desired_of(wanted), actual_of(actual_app(wanted, tasks, **app_kw)), consul


def since(*task_numbers: int, at: float = T0) -> HealMemory:
    return HealMemory(critical_since={f"integration_api.t{n}": at for n in task_numbers})


def kills(actions: tuple[Action, ...], outcome: Outcome = Outcome.PLANNED) -> list[str]:
    return [a.target for a in actions if a.kind == ActionKind.KILL_TASK and a.outcome == outcome]


def test_first_sight_of_critical_starts_the_clock_and_kills_nothing() -> None:
    desired, actual, consul = world(critical=(1,))
    decisions = decide_heals(desired, actual, consul, HealMemory(), T0)
    assert kills(decisions.actions) == []
    assert decisions.memory.critical_since == {"integration_api.t1": T0}


@pytest.mark.parametrize(
    ("elapsed", "killed"),
    [(29.0, False), (30.0, False), (30.001, True), (42.0, True)],
)
def test_critical_longer_than_the_grace_window_is_killed(elapsed: float, killed: bool) -> None:
    desired, actual, consul = world(critical=(1,))
    decisions = decide_heals(desired, actual, consul, since(1), T0 + elapsed)
    assert kills(decisions.actions) == (["integration_api.t1"] if killed else [])


def test_critical_inside_the_grace_window_is_shown_as_a_pending_heal() -> None:
    desired, actual, consul = world(critical=(1,))
    decisions = decide_heals(desired, actual, consul, since(1), T0 + 12)
    (warn,) = decisions.actions
    assert warn.kind == ActionKind.WARN and warn.target == "integration_api.t1"
    assert warn.reason == (
        "check critical on task integration_api.t1 (seen for 12s): healed when critical for more than 30s"
    )


def test_short_grace_windows_keep_a_decimal_in_the_reason() -> None:
    policy = replace(POLICY, critical_for_seconds=3)
    desired, actual, consul = world(critical=(1,), policy=policy)
    (kill,) = decide_heals(desired, actual, consul, since(1), T0 + 3.46).actions
    assert kill.reason == "critical for 3.5s > 3s"


def test_kill_action_shape_and_reason() -> None:
    desired, actual, consul = world(critical=(1,))
    decisions = decide_heals(desired, actual, consul, since(1), T0 + 42)
    (kill,) = decisions.actions
    assert kill.kind == ActionKind.KILL_TASK and kill.body == {"scale": False}
    assert kill.reason == "critical for 42s > 30s"
    assert kill.env == "integration" and kill.detail == "out 1"
    assert decisions.memory.heals == {"/integration/api": (T0 + 42,)}


def test_recovered_task_forgets_its_critical_clock() -> None:
    desired, actual, consul = world()
    decisions = decide_heals(desired, actual, consul, since(1), T0 + 10)
    assert decisions.actions == () and decisions.memory.critical_since == {}


def test_a_task_critical_through_its_node_s_own_checks_is_reported_never_healed() -> None:
    # serfHealth critical (the node's Consul agent down): every instance on the node turns critical,
    # whatever its task does; a kill cannot make the node's checks pass. Task 1 does not serve meanwhile:
    # it holds one instance of the budget (test_a_task_critical_through_its_node_holds_the_budget).
    desired, actual, consul = world(critical=(1, 2), policy=replace(POLICY, max_unavailable=2))
    on_dead_node = replace(consul.instances[0], node_critical=True, output="Agent not live or unreachable")
    consul = replace(consul, instances=(on_dead_node, *consul.instances[1:]))
    decisions = decide_heals(desired, actual, consul, since(1, 2), T0 + 100)
    assert kills(decisions.actions) == ["integration_api.t2"]
    [warn] = [a for a in decisions.actions if a.target == "integration_api.t1"]
    assert warn.kind == ActionKind.WARN and warn.reason == (
        f"check critical on task integration_api.t1 through node {on_dead_node.node}'s own checks (its Consul agent"
        " down or a node check failing): not healed, a kill cannot fix the node: Agent not live or unreachable"
    )
    assert "integration_api.t1" not in decisions.memory.critical_since  # its grace window starts when it is judged


def test_maintenance_is_deliberate_and_never_healed() -> None:
    desired, actual, consul = world()
    consul = replace(consul, instances=(replace(consul.instances[0], status=CheckStatus.MAINTENANCE),))
    decisions = decide_heals(desired, actual, consul, since(1), T0 + 100)
    assert kills(decisions.actions) == []


def test_warning_is_reported_not_acted_on() -> None:
    desired, actual, consul = world(warning=(2,))
    decisions = decide_heals(desired, actual, consul, HealMemory(), T0)
    (warn,) = decisions.actions
    assert warn.kind == ActionKind.WARN and warn.target == "integration_api.t2"
    assert warn.reason == "check warning on task integration_api.t2: out 2"
    assert decisions.memory.critical_since == {}


def test_more_instances_than_desired_is_a_warning_never_a_kill() -> None:
    desired, actual, consul = world(instances=2, running=3)
    decisions = decide_heals(desired, actual, consul, HealMemory(), T0)
    (warn,) = decisions.actions
    assert warn.kind == ActionKind.WARN and warn.target == "/integration/api"
    assert warn.reason == "3 instances running, 2 desired: reported, not killed"


def test_extra_instances_during_a_deployment_are_expected() -> None:
    desired, actual, consul = world(instances=2, running=3, deployment_ids=("d-1",))
    assert decide_heals(desired, actual, consul, HealMemory(), T0).actions == ()


@pytest.mark.parametrize(
    ("instances", "critical", "max_unavailable", "expected_kills"),
    [
        (4, (1, 2), None, 1),  # default budget: max(1, 25% of 4) = 1
        (8, (1, 2, 3, 4), None, 2),  # 25% of 8 = 2
        (10, (1, 2, 3, 4, 5), None, 2),  # 25% of 10 rounds down
        (2, (1, 2), None, 1),  # never below 1
        (4, (1, 2, 3), 2, 2),  # the app's own budget
        (4, (1, 2), 0, 0),  # a budget of 0 forbids healing
    ],
)
def test_kills_are_bounded_by_the_budget(
    instances: int, critical: tuple[int, ...], max_unavailable: int | None, expected_kills: int
) -> None:
    policy = replace(POLICY, max_unavailable=max_unavailable)
    desired, actual, consul = world(instances=instances, critical=critical, policy=policy)
    decisions = decide_heals(desired, actual, consul, since(*critical), T0 + 31)
    assert len(kills(decisions.actions)) == expected_kills
    refused = kills(decisions.actions, Outcome.REFUSED)
    assert len(refused) == len(critical) - expected_kills
    assert all("not killed" in a.reason for a in decisions.actions if a.outcome == Outcome.REFUSED)


def test_longest_critical_is_killed_first() -> None:
    desired, actual, consul = world(critical=(1, 2))
    memory = HealMemory(critical_since={"integration_api.t1": T0 + 5, "integration_api.t2": T0})
    decisions = decide_heals(desired, actual, consul, memory, T0 + 60)
    assert kills(decisions.actions) == ["integration_api.t2"]


def test_instances_already_down_use_up_the_budget() -> None:
    desired, actual, consul = world(instances=4, running=3, critical=(1,))
    decisions = decide_heals(desired, actual, consul, since(1), T0 + 31)
    assert kills(decisions.actions) == []
    assert "kill budget of the app used up" in decisions.actions[0].reason


@pytest.mark.parametrize(
    ("capacity", "expected_kills"),
    [(0.5, 2), (0.75, 1), (1.0, 0)],
)
def test_minimum_health_capacity_is_a_floor(capacity: float, expected_kills: int) -> None:
    policy = replace(POLICY, max_unavailable=4)
    desired, actual, consul = world(critical=(1, 2, 3), policy=policy, upgrade={"minimumHealthCapacity": capacity})
    decisions = decide_heals(desired, actual, consul, since(1, 2, 3), T0 + 31)
    assert len(kills(decisions.actions)) == expected_kills


def test_floor_helpers() -> None:
    assert [default_budget(n) for n in (0, 1, 4, 7, 8, 100)] == [1, 1, 1, 1, 2, 25]
    app = desired_app("e", "a", instances=3)
    assert minimum_healthy(app) == 0
    assert minimum_healthy(replace(app, definition={"upgradeStrategy": {"minimumHealthCapacity": 0.5}})) == 2


@pytest.mark.parametrize(("since_last", "allowed"), [(59.0, False), (60.0, True), (120.0, True)])
def test_backoff_between_heals_of_one_app(since_last: float, allowed: bool) -> None:
    desired, actual, consul = world(critical=(2,))
    now = T0 + 100
    memory = replace(since(2), heals={"/integration/api": (now - since_last,)})
    decisions = decide_heals(desired, actual, consul, memory, now)
    assert kills(decisions.actions) == (["integration_api.t2"] if allowed else [])
    if not allowed:
        assert decisions.actions[0].reason.endswith("not killed: backoff: last heal 59s ago < 60s")


def test_no_kills_while_a_deployment_runs() -> None:
    desired, actual, consul = world(critical=(1,), deployment_ids=("d-1",))
    decisions = decide_heals(desired, actual, consul, since(1), T0 + 31)
    assert kills(decisions.actions) == [] and "deployment" in decisions.actions[0].reason


@pytest.mark.parametrize(
    ("heal_ages", "stopped"),
    [
        ((500.0, 300.0, 100.0), True),  # 3 heals within 600 s
        ((700.0, 300.0, 100.0), False),  # the oldest left the window
        ((600.0, 300.0, 100.0), True),  # exactly at the window's edge still counts
    ],
)
def test_crash_loop_stops_healing_and_reports(heal_ages: tuple[float, ...], stopped: bool) -> None:
    desired, actual, consul = world(critical=(1,))
    now = T0 + 1_000
    memory = replace(since(1), heals={"/integration/api": tuple(now - age for age in heal_ages)})
    decisions = decide_heals(desired, actual, consul, memory, now)
    if stopped:
        (warn,) = decisions.actions
        assert warn.kind == ActionKind.WARN and warn.outcome == Outcome.REFUSED
        assert warn.reason == "crash-looping: 3 heals in 600s window, healing stopped"
    else:
        assert kills(decisions.actions) == ["integration_api.t1"]
        assert len(decisions.memory.heals["/integration/api"]) == 3  # the old one dropped, the new one added


def test_crash_loop_is_reported_even_with_nothing_to_heal() -> None:
    desired, actual, consul = world()
    memory = HealMemory(heals={"/integration/api": (T0 - 10, T0 - 20, T0 - 30)})
    decisions = decide_heals(desired, actual, consul, memory, T0)
    assert [a.reason for a in decisions.actions] == ["crash-looping: 3 heals in 600s window, healing stopped"]


def test_heals_leave_memory_after_the_window() -> None:
    desired, actual, consul = world()
    memory = HealMemory(heals={"/integration/api": (T0 - 700,)})
    assert decide_heals(desired, actual, consul, memory, T0).memory.heals == {}


@pytest.mark.parametrize(("marathon", "consul_complete"), [(False, True), (True, False), (False, False)])
def test_incomplete_observation_decides_nothing_and_keeps_memory(marathon: bool, consul_complete: bool) -> None:
    desired, actual, consul = world(critical=(1,), warning=(2,), instances=2, running=3)
    actual = replace(actual, complete=marathon)
    consul = replace(consul, complete=consul_complete)
    memory = since(1)
    decisions = decide_heals(desired, actual, consul, memory, T0 + 999)
    assert decisions.actions == () and decisions.memory is memory


def test_disabled_healing_still_reports() -> None:
    desired, actual, consul = world(critical=(1,), warning=(2,), policy=replace(POLICY, enabled=False))
    decisions = decide_heals(desired, actual, consul, since(1), T0 + 100)
    assert [a.kind for a in decisions.actions] == [ActionKind.WARN]


def test_lost_registration_of_a_healthy_task_is_repaired() -> None:
    desired, actual, consul = world(instances=2)
    seen = decide_heals(desired, actual, consul, HealMemory(), T0).memory
    assert seen.registered == {"integration_api.t1", "integration_api.t2"}
    consul = replace(consul, instances=consul.instances[:1])
    decisions = decide_heals(desired, actual, consul, seen, T0 + 1)
    (repair,) = decisions.actions
    assert repair.kind == ActionKind.REGISTER and repair.target == "integration_api.t2"
    assert repair.reason == "registration of healthy task integration_api.t2 was lost"
    assert repair.body is not None and repair.body["Address"] == "127.0.0.3" and repair.body["Name"] == "api"
    assert decisions.memory.registered == {"integration_api.t1"}


def test_a_task_never_seen_registered_is_not_called_lost() -> None:
    desired, actual, consul = world(instances=2)
    consul = replace(consul, instances=consul.instances[:1])  # t2 just started: its first registration is pending
    assert decide_heals(desired, actual, consul, HealMemory(), T0).actions == ()


@pytest.mark.parametrize("healthy", [None, False])
def test_unregistered_task_that_marathon_does_not_call_healthy_is_not_repaired(healthy: bool | None) -> None:
    desired, actual, _ = world(instances=1)
    app = actual.apps["/integration/api"]
    app = replace(app, tasks=tuple(replace(t, healthy=healthy) for t in app.tasks))
    actual = replace(actual, apps={app.app_id: app})
    decisions = decide_heals(desired, actual, ConsulObservation(), HealMemory(), T0)
    assert decisions.actions == ()


def test_killing_and_staging_tasks_are_not_judged() -> None:
    desired, actual, consul = world(instances=2, critical=(1,))
    app = actual.apps["/integration/api"]
    first, second = app.tasks
    app = replace(app, tasks=(replace(first, state=TaskState.KILLING), second))
    actual = replace(actual, apps={app.app_id: app})
    decisions = decide_heals(desired, actual, consul, since(1), T0 + 100)
    assert kills(decisions.actions) == [] and decisions.memory.critical_since == {}


def test_unmanaged_apps_are_never_healed() -> None:
    desired, actual, consul = world(critical=(1,))
    app = actual.apps["/integration/api"]
    actual = replace(actual, apps={app.app_id: replace(app, definition={"id": app.app_id})})
    assert decide_heals(desired, actual, consul, since(1), T0 + 100).actions == ()


def _with_task_state(actual: Actual, number: int, state: TaskState) -> Actual:
    """`actual` with task `number` of its one app in `state`."""
    [app] = actual.apps.values()
    tasks = tuple(replace(t, state=state) if t.task_id.endswith(f".t{number}") else t for t in app.tasks)
    return replace(actual, apps={app.app_id: replace(app, tasks=tasks)})


@pytest.mark.parametrize("state", [TaskState.KILLING, TaskState.RUNNING])
def test_a_kill_in_flight_holds_its_share_of_the_budget(state: TaskState) -> None:
    """docs/healing.md, Budget: task 1 was killed at T0 (backoff 0) and Marathon still lists it, killing
    or (the kill not seen yet) running; task 2 is overdue. One kill in flight uses up a budget of one."""
    policy = replace(POLICY, backoff_seconds=0)
    desired, actual, consul = world(critical=(1, 2), policy=policy)
    actual = _with_task_state(actual, 1, state)
    memory = HealMemory(critical_since={"integration_api.t2": T0 - 60}, heals={"/integration/api": (T0,)},
                        killed={"integration_api.t1": T0})
    decisions = decide_heals(desired, actual, consul, memory, T0 + 1)
    assert kills(decisions.actions) == []  # task 1 is not killed again, task 2 waits
    assert kills(decisions.actions, Outcome.REFUSED) == ["integration_api.t2"]
    [refused] = [a for a in decisions.actions if a.outcome == Outcome.REFUSED]
    assert "1 task(s) killed and still listed by Marathon" in refused.reason
    assert decisions.memory.killed == {"integration_api.t1": T0}
    assert "integration_api.t1" not in decisions.memory.critical_since


def test_a_kill_in_flight_is_forgotten_once_its_task_is_no_longer_listed() -> None:
    policy = replace(POLICY, backoff_seconds=0)
    desired, actual, consul = world(critical=(2,), policy=policy)
    memory = HealMemory(critical_since={"integration_api.t2": T0 - 60}, heals={"/integration/api": (T0,)},
                        killed={"integration_api.t9": T0})  # no longer listed: gone
    decisions = decide_heals(desired, actual, consul, memory, T0 + 1)
    assert kills(decisions.actions) == ["integration_api.t2"]
    assert decisions.memory.killed == {"integration_api.t2": T0 + 1}


def test_a_task_listed_running_past_the_grace_window_after_its_kill_is_judged_again() -> None:
    """The kill did not land (its answer lost on its way): the task's grace window starts anew."""
    policy = replace(POLICY, backoff_seconds=0)
    desired, actual, consul = world(critical=(1,), policy=policy)
    memory = HealMemory(heals={"/integration/api": (T0,)}, killed={"integration_api.t1": T0})
    held = decide_heals(desired, actual, consul, memory, T0 + 30)
    assert held.memory.killed == {"integration_api.t1": T0} and held.memory.critical_since == {}
    judged = decide_heals(desired, actual, consul, memory, T0 + 30.5)
    assert judged.memory.killed == {} and judged.memory.critical_since == {"integration_api.t1": T0 + 30.5}
    assert kills(judged.actions) == []


def test_a_kill_skipped_at_the_moment_of_the_kill_holds_nothing() -> None:
    desired, actual, consul = world(critical=(1,))
    decisions = decide_heals(desired, actual, consul, since(1), T0 + 31)
    assert decisions.memory.killed == {"integration_api.t1": T0 + 31}
    [kill] = [a for a in decisions.actions if a.kind == ActionKind.KILL_TASK]
    skipped = replace(kill, outcome=Outcome.SKIPPED, detail="not killed: the task is gone")
    kept = forget_unsent(decisions.memory, actual, [skipped], T0 + 31)
    assert kept.killed == {} and kept.heals == {}


def test_a_kill_marathon_answered_with_an_error_is_counted_but_not_in_flight() -> None:
    """docs/healing.md, what counts as a heal: a failed kill starts the backoff; its task, if it still
    runs, is judged again once the backoff ends, not held as a kill under way."""
    desired, actual, consul = world(critical=(1,))
    decisions = decide_heals(desired, actual, consul, since(1), T0 + 31)
    [kill] = [a for a in decisions.actions if a.kind == ActionKind.KILL_TASK]
    failed = replace(kill, outcome=Outcome.FAILED, detail="500 from Marathon")
    kept = forget_unsent(decisions.memory, actual, [failed], T0 + 31)
    assert kept.killed == {} and kept.heals == {"/integration/api": (T0 + 31,)}
