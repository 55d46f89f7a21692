"""Alert detection (pure core): each kind from real heal decisions and observations, with injected time."""

from __future__ import annotations

from dataclasses import replace

from reconciler.core.alerts import (
    MAX_PROBLEMS,
    AlertKind,
    AlertMemory,
    AlertOptions,
    CycleFacts,
    LeaderView,
    cycle_alerts,
    invalid_commit_alert,
    leader_alerts,
)
from reconciler.core.autoscale_policy import AutoscalePolicy
from reconciler.core.heal import HealMemory, decide_heals
from reconciler.core.model import (
    Action,
    ActionKind,
    ActualDeployment,
    HealPolicy,
    Outcome,
)
from tests.unit.consul.consul_world import actual_app, actual_of, desired_app, desired_of, task
from tests.unit.core.test_heal import T0, since, world

OPTIONS = AlertOptions(deployment_deadline_seconds=300, excess_for_seconds=30)


def heal_facts(instances: int, critical: tuple[int, ...], memory: HealMemory, now: float, **kw: object) -> CycleFacts:
    """The facts of a cycle whose actions are what decide_heals really decided."""
    desired, actual, consul = world(instances=instances, critical=critical, **kw)  # type: ignore[arg-type]
    decisions = decide_heals(desired, actual, consul, memory, now)
    return CycleFacts(desired, actual, consul, decisions.actions, decisions.memory)


def kinds(facts: CycleFacts, memory: AlertMemory = AlertMemory(), now: float = T0) -> list[tuple[str, str]]:
    alerts, _ = cycle_alerts(facts, memory, now, OPTIONS)
    return [(a.kind, a.key) for a in alerts]


def test_a_healthy_cycle_has_no_alert() -> None:
    assert kinds(heal_facts(4, (), HealMemory(), T0)) == []


def test_more_overdue_tasks_than_the_budget_allows_is_an_exhausted_budget() -> None:
    # 4 instances: a budget of 1; two tasks critical past the 30 s window: one killed, one held back.
    facts = heal_facts(4, (1, 2), since(1, 2), T0 + 31)
    assert [a.target for a in facts.actions if a.kind == ActionKind.KILL_TASK and a.outcome == Outcome.REFUSED] == [
        "integration_api.t2"]
    alerts, _ = cycle_alerts(facts, AlertMemory(), T0 + 31, OPTIONS)
    (alert,) = alerts
    assert alert.kind == AlertKind.HEAL_BUDGET_EXHAUSTED and alert.key == "heal-budget-exhausted:/integration/api"
    assert "2 tasks critical past the grace window" in alert.summary and "allows 1 kill now" in alert.summary
    assert "integration_api.t1, integration_api.t2" in alert.detail


def test_one_overdue_task_within_the_budget_is_no_alert() -> None:
    assert kinds(heal_facts(4, (1,), since(1), T0 + 31)) == []


def test_a_backoff_holding_a_kill_back_is_not_an_exhausted_budget() -> None:
    memory = replace(since(1), heals={"/integration/api": (T0 + 10,)})
    facts = heal_facts(4, (1,), memory, T0 + 31)
    refused = [a.reason for a in facts.actions if a.outcome == Outcome.REFUSED]
    assert refused and "backoff" in refused[0]
    assert kinds(facts) == []


def test_an_instance_already_down_uses_the_budget_up() -> None:
    # 4 wanted, 3 running (a replacement still launching): one critical overdue task may not be killed.
    facts = heal_facts(4, (1,), since(1), T0 + 31, running=3)
    assert kinds(facts) == [(AlertKind.HEAL_BUDGET_EXHAUSTED, "heal-budget-exhausted:/integration/api")]


def test_a_crash_loop_is_reported_while_its_heals_fill_the_window() -> None:
    policy = HealPolicy(critical_for_seconds=30, backoff_seconds=0, crash_loop_heals=3, crash_loop_window_seconds=600)
    memory = replace(since(1), heals={"/integration/api": (T0 - 100, T0 - 50, T0 - 10)})
    facts = heal_facts(4, (1,), memory, T0 + 31, policy=policy)
    assert any("crash-looping" in a.reason for a in facts.actions)
    assert kinds(facts) == [(AlertKind.CRASH_LOOP, "crash-loop:/integration/api")]
    # Once the window passed the oldest heals, healing resumes and the alert clears.
    later = heal_facts(4, (1,), memory, T0 + 560, policy=policy)
    assert AlertKind.CRASH_LOOP not in [k for k, _ in kinds(later)]


def test_a_crash_loop_of_an_app_whose_healing_is_off_is_not_reported() -> None:
    facts = heal_facts(4, (), HealMemory(heals={"/integration/api": (T0, T0, T0, T0, T0)}), T0,
                       policy=HealPolicy(enabled=False))
    assert kinds(facts) == []


def excess_facts(running: int, instances: int = 2, actions: tuple[Action, ...] = (), **kw: object) -> CycleFacts:
    wanted = desired_app("shop", "web", instances=instances)
    if "autoscale" in kw:
        wanted = replace(wanted, autoscale=kw.pop("autoscale"))  # type: ignore[arg-type]
    tasks = [task(wanted.app_id, n) for n in range(1, running + 1)]
    return CycleFacts(desired_of(wanted), actual_of(actual_app(wanted, tasks, **kw)), None, actions, HealMemory())


def test_too_many_instances_must_last_before_it_is_reported() -> None:
    facts = excess_facts(running=3)
    alerts, memory = cycle_alerts(facts, AlertMemory(), T0, OPTIONS)
    assert alerts == () and memory.excess_since == {"/shop/web": T0}
    alerts, memory = cycle_alerts(facts, memory, T0 + 29.9, OPTIONS)
    assert alerts == ()
    (alert,), memory = cycle_alerts(facts, memory, T0 + 30, OPTIONS)
    assert alert.key == "too-many-instances:/shop/web" and alert.summary == "/shop/web: 3 instances running, 2 desired"
    # Back to the desired count: forgotten, so a later excess waits its own 30 s.
    alerts, memory = cycle_alerts(excess_facts(running=2), memory, T0 + 31, OPTIONS)
    assert alerts == () and memory.excess_since == {}


def test_an_excess_under_a_deployment_or_being_corrected_is_not_counted() -> None:
    deploying = excess_facts(running=3, deployment_ids=("d1",))
    scale = Action(kind=ActionKind.SCALE, target="/shop/web", reason="instances 3 -> 2", env="shop",
                   outcome=Outcome.SUCCEEDED)
    corrected = excess_facts(running=3, actions=(scale,))
    for facts in (deploying, corrected):
        alerts, memory = cycle_alerts(facts, AlertMemory(excess_since={"/shop/web": T0}), T0 + 60, OPTIONS)
        assert alerts == () and memory.excess_since == {}
    failed = excess_facts(running=3, actions=(replace(scale, outcome=Outcome.FAILED),))
    assert kinds(failed, AlertMemory(excess_since={"/shop/web": T0}), T0 + 60) == [
        (AlertKind.TOO_MANY_INSTANCES, "too-many-instances:/shop/web")]


def test_an_autoscaled_app_is_bounded_by_its_max() -> None:
    policy = AutoscalePolicy(min_instances=1, max_instances=4)
    memory = AlertMemory(excess_since={"/shop/web": T0})
    assert kinds(excess_facts(running=4, autoscale=policy), memory, T0 + 60) == []
    (alert,), _ = cycle_alerts(excess_facts(running=5, autoscale=policy), memory, T0 + 60, OPTIONS)
    assert alert.summary == "/shop/web: 5 instances running, autoscale max 4"


def test_an_autoscaled_app_held_at_its_max_while_its_metrics_ask_for_more() -> None:
    policy = AutoscalePolicy(min_instances=1, max_instances=4)
    at_max = replace(excess_facts(running=4, instances=4, autoscale=policy), recommendations={"/shop/web": 7})
    assert at_max.actual.apps["/shop/web"].instances == 4
    alerts, memory = cycle_alerts(at_max, AlertMemory(), T0, OPTIONS)
    assert alerts == () and memory.at_max_since == {"/shop/web": T0}
    held = replace(at_max, recommendations={"/shop/web": None})  # no decision this cycle: kept as it was
    alerts, memory = cycle_alerts(held, memory, T0 + 10, OPTIONS)
    assert alerts == () and memory.at_max_since == {"/shop/web": T0}
    (alert,), memory = cycle_alerts(at_max, memory, T0 + 30, OPTIONS)
    assert (alert.kind, alert.key, alert.severity) == (AlertKind.AUTOSCALE_AT_MAX, "autoscale-at-max:/shop/web",
                                                       "warning")
    assert alert.summary == "/shop/web is held at its autoscale max (4); its metrics ask for 7"
    assert alert.detail == "seen for 30s; raise autoscale.max, or look at the load"
    # The metrics ask for no more than max: forgotten, so a later one waits its own 30 s.
    alerts, memory = cycle_alerts(replace(at_max, recommendations={"/shop/web": 4}), memory, T0 + 31, OPTIONS)
    assert alerts == () and memory.at_max_since == {}
    # Below max (still scaling up, a rate policy limits it): not held at max.
    below = replace(excess_facts(running=3, instances=3, autoscale=policy), recommendations={"/shop/web": 7})
    assert below.actual.apps["/shop/web"].instances == 3
    assert cycle_alerts(below, AlertMemory(), T0 + 60, OPTIONS)[1].at_max_since == {}


def test_a_deployment_past_its_deadline() -> None:
    wanted = desired_app("shop", "web", instances=2)
    running = ActualDeployment("d-1", ("/shop/web",), current_step=1, total_steps=2)
    other = ActualDeployment("d-2", ("/elsewhere/app",))
    actual = replace(actual_of(actual_app(wanted, [task(wanted.app_id, 1)])), deployments=(running, other))
    facts = CycleFacts(desired_of(wanted), actual, None, (), HealMemory())
    alerts, memory = cycle_alerts(facts, AlertMemory(), T0, OPTIONS)
    assert alerts == () and memory.deployments_seen == {"d-1": T0}  # another tool's deployment is not ours
    alerts, memory = cycle_alerts(facts, memory, T0 + 300, OPTIONS)
    assert alerts == ()
    (alert,), memory = cycle_alerts(facts, memory, T0 + 301, OPTIONS)
    assert alert.key == "deployment-past-deadline:d-1"
    assert alert.summary == "deployment d-1 of /shop/web running for 301s, past its deadline of 300s"
    assert alert.detail.startswith("step 1 of 2")
    done = CycleFacts(facts.desired, replace(actual, deployments=()), None, (), HealMemory())
    assert cycle_alerts(done, memory, T0 + 302, OPTIONS) == ((), AlertMemory())


def test_an_incomplete_observation_says_nothing_and_keeps_the_memory() -> None:
    facts = excess_facts(running=3)
    memory = AlertMemory(excess_since={"/shop/web": T0})
    incomplete = replace(facts, actual=replace(facts.actual, complete=False))
    assert cycle_alerts(incomplete, memory, T0 + 60, OPTIONS) == ((), memory)


def test_an_invalid_commit_names_its_sha_and_its_first_problems() -> None:
    problems = [f"specs/shop.yaml:{n}: apps.web.cpus: not a number" for n in range(1, 14)]
    alert = invalid_commit_alert("file:///repo#main:specs", "a" * 40, "b" * 40, problems)
    assert alert is not None and alert.key == f"invalid-commit:{'b' * 40}"
    assert alert.summary == (f"commit {'b' * 12} of file:///repo#main:specs is invalid (13 problems); "
                             f"{'a' * 12} stays in force")
    lines = alert.detail.splitlines()
    assert lines[:MAX_PROBLEMS] == problems[:MAX_PROBLEMS] and lines[-1] == "... and 3 more"
    assert invalid_commit_alert("s", "a" * 40, "a" * 40, problems) is None  # in force again
    assert invalid_commit_alert("s", "a" * 40, "b" * 40, []) is None


def test_leader_alerts() -> None:
    base = LeaderView("me:9090", "service/lock", 15.0, led=True, leading=False, holder="", nobody_since=None)
    (lost,) = leader_alerts(base, T0)
    assert lost.key == "leader-lost:me:9090" and lost.kind == AlertKind.LEADER_LOST
    assert leader_alerts(replace(base, holder="other:9090"), T0) == ()  # a standby took over
    assert leader_alerts(replace(base, leading=True, holder="me:9090"), T0) == ()
    assert leader_alerts(replace(base, led=False), T0) == ()  # never led: a standby from the start
    nobody = replace(base, led=False, nobody_since=T0)
    assert leader_alerts(nobody, T0 + 15) == ()
    (missing,) = leader_alerts(nobody, T0 + 15.5)
    assert missing.key == "no-leader:service/lock" and "for 16s" in missing.summary
