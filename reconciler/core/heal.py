"""Consul-watch-style self-healing decisions (pure core): which tasks to kill, what to report.

`decide_heals` reads one observation of Marathon and Consul plus the HealMemory carried from the last
cycle, and returns actions and the next memory. Time is the `now` parameter. Guard rails: nothing at
all from an incomplete observation, a kill budget per app, per-app backoff, and crash-loop detection
that stops healing an app. docs/healing.md explains the rules and their defaults.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from functools import partial
from itertools import chain

from reconciler.core.decision_memo import IdentityMemo
from reconciler.core.model import (
    Action,
    ActionKind,
    Actual,
    ActualApp,
    ActualTask,
    Desired,
    DesiredApp,
    Outcome,
    TaskState,
)
from reconciler.core.registrations import identity_of, register_action, registration_of
from reconciler.core.registry import CheckStatus, ConsulObservation, ServiceInstance


@dataclass(frozen=True)
class HealMemory:
    """What healing remembers between cycles: since when each task is critical, recent heals per app."""

    critical_since: Mapping[str, float] = field(default_factory=dict)  # task id -> first seen critical
    heals: Mapping[str, tuple[float, ...]] = field(default_factory=dict)  # app id -> times of recent kills
    registered: frozenset[str] = frozenset()  # task ids seen registered in Consul: a later absence is a loss
    # task id -> when its heal kill was sent, while Marathon still lists the task (`in_flight`)
    killed: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class HealDecisions:
    actions: tuple[Action, ...]
    memory: HealMemory


@dataclass(frozen=True)
class TaskHealth:
    """One running task with the worst status among its instances (None: not registered)."""

    task: ActualTask
    status: CheckStatus | None
    registered: bool
    output: str = ""
    node: str = ""  # the node of the worst instance, when a check of the node itself is critical

    @property
    def healable(self) -> bool:
        """Critical through its own checks: a critical node check (its agent down, a node-level check)
        says nothing of the task, and no kill of it can make its node pass."""
        return self.status == CheckStatus.CRITICAL and not self.node


# The outcomes of a kill that was sent (docs/healing.md, what counts as a heal); a kill refused by a guard
# or skipped at the moment of the kill never went out.
SENT_HEALS = (Outcome.SUCCEEDED, Outcome.FAILED, Outcome.UNKNOWN)


def default_budget(instances: int) -> int:
    """How many instances may be down at once unless the app says: 1 or 25%, whichever is larger."""
    return max(1, instances // 4)


def minimum_healthy(app: DesiredApp) -> int:
    """Running instances to keep: ceil(instances x minimumHealthCapacity) when the app sets it.

    Marathon's own default (1.0) would forbid every heal, so an app without the setting has no floor.
    """
    strategy = app.definition.get("upgradeStrategy") or {}
    capacity = strategy.get("minimumHealthCapacity") if isinstance(strategy, Mapping) else None
    if not isinstance(capacity, int | float):
        return 0
    return math.ceil(app.instances * capacity)


_STATUS_RANK = {None: -1, CheckStatus.PASSING: 0, CheckStatus.WARNING: 1, CheckStatus.CRITICAL: 2}


def worst_instance(instances: Iterable[ServiceInstance]) -> ServiceInstance | None:
    """The instance to judge a task by; maintenance is deliberate and ranks as passing."""
    return max(instances, key=lambda i: _STATUS_RANK.get(i.status, 0), default=None)  # the first of the worst


def task_health(app: ActualApp, consul: ConsulObservation) -> list[TaskHealth]:
    result = []
    for task in sorted(app.tasks, key=lambda t: t.task_id):
        if task.state != TaskState.RUNNING:
            continue
        worst = worst_instance(consul.instances_of_task(task.task_id))
        status = worst.status if worst is not None else None
        node = worst.node if worst is not None and worst.node_critical else ""
        result.append(TaskHealth(task, status, worst is not None, worst.output if worst else "", node))
    return result


def decide_heals(
    desired: Desired,
    actual: Actual,
    consul: ConsulObservation,
    memory: HealMemory,
    now: float,
    memo: IdentityMemo[Decided] | None = None,
    changed: AbstractSet[str] | None = None,
) -> HealDecisions:
    """Kills for tasks critical past their app's grace window (within the guards), warnings, repairs.

    With `memo`, an app decided without the clock (no recent heal, no critical task, no lost
    registration) whose DesiredApp, ActualApp and instances are the previous call's objects is not
    decided again. With `changed` too (the app ids whose inputs may differ from the previous call's,
    whose `memory` was the one that call returned), no other app's inputs are even looked up."""
    if not (actual.complete and consul.complete):
        return HealDecisions((), memory)
    memo = IdentityMemo() if memo is None else memo
    with memo.pass_(partial(sorted, desired.apps), changed) as deciding:
        for app_id in deciding:
            wanted, app = desired.apps.get(app_id), actual.apps.get(app_id)
            if wanted is not None and app is not None and app.managed:
                _decided(memo, wanted, app, consul, memory, now, desired)
    return _gathered(memo.values())


def _gathered(outcomes: list[Decided]) -> HealDecisions:
    """The apps' decisions, in app order, as one."""
    actions: list[Action] = []
    critical_since: dict[str, float] = {}
    heals: dict[str, tuple[float, ...]] = {}
    registered: set[str] = set()
    killed: dict[str, float] = {}
    for outcome in outcomes:
        if isinstance(outcome, frozenset):  # a quiet app: nothing to do, these tasks registered
            registered.update(outcome)
            continue
        kept = outcome.memory
        actions.extend(outcome.actions)
        critical_since.update(kept.critical_since)
        heals.update(kept.heals)  # the app's own entry alone, when it has recent heals (decide_app)
        registered.update(kept.registered)
        killed.update(kept.killed)
    return HealDecisions(tuple(actions), HealMemory(critical_since, heals, frozenset(registered), killed))


# An app's decisions as remembered: in full, or (a quiet app, the common case) the ids of its registered
# tasks alone, which is all its decisions hold (no action, no clock): no two objects made per app.
Decided = HealDecisions | frozenset[str]
_RUNNING = TaskState.RUNNING  # an enum member read once: each read costs as much as the test it is for
_TROUBLED = (CheckStatus.CRITICAL, CheckStatus.WARNING)


def _decided(
    memo: IdentityMemo[Decided], wanted: DesiredApp, app: ActualApp, consul: ConsulObservation,
    memory: HealMemory, now: float, desired: Desired,
) -> Decided:
    """`decide_app`, remembered while it is a function of its objects alone: the clock and the heal
    memory play a part only through a recent heal, a critical task or a registration seen and lost."""
    of_task = consul.instances_by_task.get
    instances = [of_task(task.task_id, ()) for task in app.tasks]
    seen = memory.registered
    lost = bool(seen) and any(
        not found and task.task_id in seen for task, found in zip(app.tasks, instances, strict=True)
    )
    if lost or memory.heals.get(app.app_id) or (memory.killed and any(t.task_id in memory.killed for t in app.tasks)):
        return memo.once(app.app_id, decide_app(wanted, app, consul, memory, now, desired))
    inputs = (wanted, app, *chain.from_iterable(instances))
    outcome = memo.get(
        app.app_id, inputs, lambda: _quiet_or_decided(wanted, app, instances, consul, memory, now, desired)
    )
    if isinstance(outcome, HealDecisions) and (
        outcome.memory.critical_since or outcome.memory.heals or outcome.memory.killed
    ):
        memo.once(app.app_id, outcome)  # made with the clock: never given back
    return outcome


def _quiet_or_decided(
    wanted: DesiredApp, app: ActualApp, instances: list[tuple[ServiceInstance, ...]], consul: ConsulObservation,
    memory: HealMemory, now: float, desired: Desired,
) -> Decided:
    quiet = _quiet(wanted, app, instances)
    return quiet if quiet is not None else decide_app(wanted, app, consul, memory, now, desired)


def _quiet(wanted: DesiredApp, app: ActualApp, instances: list[tuple[ServiceInstance, ...]]) -> frozenset[str] | None:
    """The common case decided without the clock nor the memory: no running task of the app has a
    critical or warning instance, no more run than desired, no crash loop to report (no heal is
    remembered for the app and no registration lost: the caller saw to it). `decide_app` would find
    nothing to do and remember only which tasks are registered: their ids. None: `decide_app` decides."""
    policy = wanted.heal
    if policy.enabled and policy.crash_loop_heals <= 0:
        return None
    running = 0
    registered = []
    for task, found in zip(app.tasks, instances, strict=True):
        if task.state != _RUNNING:
            continue
        running += 1
        for instance in found:
            if instance.status in _TROUBLED:
                return None
        if found:
            registered.append(task.task_id)
    if running > wanted.instances and not app.deployment_ids:
        return None
    return frozenset(registered)


def decide_app(
    wanted: DesiredApp, app: ActualApp, consul: ConsulObservation, memory: HealMemory, now: float, desired: Desired
) -> HealDecisions:
    """The heal decisions of one managed app; the memory returned holds this app's entries only."""
    policy = wanted.heal
    recent = tuple(t for t in memory.heals.get(app.app_id, ()) if now - t <= policy.crash_loop_window_seconds)
    killed = in_flight(wanted, app, memory.killed, now)
    tasks = task_health(app, consul)
    since = {
        h.task.task_id: memory.critical_since.get(h.task.task_id, now)
        for h in tasks if h.healable and h.task.task_id not in killed  # a task being killed is not judged
    }
    actions = [*warnings(wanted, app, tasks), *repairs(wanted, app, tasks, desired, memory.registered)]
    overdue = [
        h for h in tasks if h.task.task_id in since and now - since[h.task.task_id] > policy.critical_for_seconds
    ]
    overdue.sort(key=lambda h: (since[h.task.task_id], h.task.task_id))
    actions.extend(waiting_warnings(wanted, tasks, since, overdue, now))
    if policy.enabled and len(recent) >= policy.crash_loop_heals:
        actions.append(crash_loop_warning(wanted, app, recent))
    elif policy.enabled and overdue:
        kills = kill_actions(wanted, app, tasks, overdue, since, recent, now, killed)
        actions.extend(kills)
        sent = [a.target for a in kills if a.kind == ActionKind.KILL_TASK and a.outcome == Outcome.PLANNED]
        recent += tuple(now for _ in sent)
        killed = {**killed, **dict.fromkeys(sent, now)}
    registered = frozenset(h.task.task_id for h in tasks if h.registered)
    return HealDecisions(
        tuple(actions), HealMemory(since, {app.app_id: recent} if recent else {}, registered, killed)
    )


def in_flight(wanted: DesiredApp, app: ActualApp, killed: Mapping[str, float], now: float) -> dict[str, float]:
    """The app's heal kills sent and not yet seen gone: Marathon still lists their task (TASK_KILLING, or
    still TASK_RUNNING when the kill is not seen yet). Each holds its share of the kill budget until then.
    A task listed TASK_RUNNING longer than `criticalFor` after its kill is judged again (the kill did not
    land: its answer was lost on its way), its grace window starting anew. Kills skipped or failed are
    not in flight (`forget_unsent`)."""
    if not killed:
        return {}
    kept = {}
    for task in app.tasks:
        sent = killed.get(task.task_id)
        if sent is None or (task.state == _RUNNING and now - sent > wanted.heal.critical_for_seconds):
            continue
        kept[task.task_id] = sent
    return kept


def warnings(wanted: DesiredApp, app: ActualApp, tasks: list[TaskHealth]) -> Iterable[Action]:
    """Reported, never acted on: warning checks, and more instances running than desired."""
    for health in tasks:
        if health.status == CheckStatus.WARNING:
            reason = f"check warning on task {health.task.task_id}" + (f": {health.output}" if health.output else "")
            yield Action(kind=ActionKind.WARN, target=health.task.task_id, env=wanted.env, reason=reason)
        elif health.status == CheckStatus.CRITICAL and health.node:
            reason = (f"check critical on task {health.task.task_id} through node {health.node}'s own checks"
                      f" (its Consul agent down or a node check failing): not healed, a kill cannot fix the node"
                      + (f": {health.output}" if health.output else ""))
            yield Action(kind=ActionKind.WARN, target=health.task.task_id, env=wanted.env, reason=reason)
    if len(tasks) > wanted.instances and not app.deployment_ids:  # deployments run extra instances on purpose
        yield Action(
            kind=ActionKind.WARN,
            target=app.app_id,
            env=wanted.env,
            reason=f"{len(tasks)} instances running, {wanted.instances} desired: reported, not killed",
        )


def waiting_warnings(
    wanted: DesiredApp, tasks: list[TaskHealth], since: dict[str, float], overdue: list[TaskHealth], now: float
) -> Iterable[Action]:
    """Critical tasks still inside the grace window: shown (plan, status, logs) before any kill."""
    if not wanted.heal.enabled:
        return
    late = {h.task.task_id for h in overdue}
    for health in tasks:
        task_id = health.task.task_id
        if task_id in since and task_id not in late:
            reason = (
                f"check critical on task {task_id} (seen for {seconds(now - since[task_id])}): "
                f"healed when critical for more than {wanted.heal.critical_for_seconds:g}s"
            )
            yield Action(kind=ActionKind.WARN, target=task_id, env=wanted.env, reason=reason)


def seconds(value: float) -> str:
    """A duration for a reason: whole seconds from 10 s up, else one decimal (never "3s > 3s")."""
    return f"{value:.0f}s" if value >= 10 else f"{value:.1f}s"


def repairs(
    wanted: DesiredApp, app: ActualApp, tasks: list[TaskHealth], desired: Desired, seen_registered: frozenset[str]
) -> Iterable[Action]:
    """A task Marathon reports healthy whose Consul registration was seen and is now gone gets it back,
    without a redeploy. A task never seen registered is the registration planner's (a first registration)."""
    lost = [h for h in tasks if not h.registered and h.task.healthy is True and h.task.task_id in seen_registered]
    identity = identity_of(app, desired) if lost else None
    for health in lost:
        task_id = health.task.task_id
        if identity is None:
            continue
        body = registration_of(app, health.task, identity[0], identity[1], wanted.heal)
        yield register_action(wanted.env, body, f"registration of healthy task {task_id} was lost")


def kill_actions(
    wanted: DesiredApp,
    app: ActualApp,
    tasks: list[TaskHealth],
    overdue: list[TaskHealth],
    since: Mapping[str, float],
    recent: tuple[float, ...],
    now: float,
    killed: Mapping[str, float] | None = None,
) -> list[Action]:
    """KILL_TASK actions for overdue tasks: planned within the guards, refused (with why) beyond them.
    `killed`: the app's kills in flight (`in_flight`), counted against the budget."""
    policy = wanted.heal
    killed = killed or {}
    candidates = frozenset(h.task.task_id for h in overdue)
    refusal = guard_refusal(wanted, app, recent, now)
    allowed = 0 if refusal else kill_allowance(wanted, tasks, killed, candidates)
    waiting = len(not_serving(tasks, killed, candidates))
    if refusal is None and (killed or waiting):
        held = [f"{len(killed)} task(s) killed and still listed by Marathon"] if killed else []
        held += [f"{waiting} instance(s) not serving yet"] if waiting else []
        refusal = f"kill budget of the app used up ({' and '.join(held)} count against it)"
    actions = []
    for position, health in enumerate(overdue):
        critical_for = now - since[health.task.task_id]
        reason = f"critical for {seconds(critical_for)} > {policy.critical_for_seconds:g}s"
        if position >= allowed:
            reason += f"; not killed: {refusal or 'kill budget of the app used up'}"
        outcome = Outcome.PLANNED if position < allowed else Outcome.REFUSED
        actions.append(
            Action(
                kind=ActionKind.KILL_TASK,
                target=health.task.task_id,
                env=wanted.env,
                reason=reason,
                body={"scale": False},
                outcome=outcome,
                detail=health.output,
            )
        )
    return actions


def crash_loop_warning(wanted: DesiredApp, app: ActualApp, recent: tuple[float, ...]) -> Action:
    """Reported every cycle while the app has had too many heals within its window."""
    window = f"{wanted.heal.crash_loop_window_seconds:g}s"
    reason = f"crash-looping: {len(recent)} heals in {window} window, healing stopped"
    return Action(kind=ActionKind.WARN, target=app.app_id, env=wanted.env, reason=reason, outcome=Outcome.REFUSED)


def guard_refusal(wanted: DesiredApp, app: ActualApp, recent: tuple[float, ...], now: float) -> str | None:
    """Why no task of the app may be killed in this cycle, or None."""
    if app.deployment_ids:
        return "a deployment of the app is running"
    if recent and now - max(recent) < wanted.heal.backoff_seconds:
        return f"backoff: last heal {now - max(recent):.0f}s ago < {wanted.heal.backoff_seconds:g}s"
    return None


def kill_allowance(
    wanted: DesiredApp,
    tasks: list[TaskHealth],
    killed: Mapping[str, float] | None = None,
    candidates: AbstractSet[str] = frozenset(),
) -> int:
    """How many tasks may be killed now: the budget minus instances already down, above the floor.

    A task killed and still listed (`killed`, the kills in flight) is down whatever its state: each takes
    one instance of the budget, and the instances missing beyond those take one each. A running task that
    does not serve (`not_serving`: not registered in Consul yet, or critical and not one of this cycle's
    overdue kill `candidates`) takes one more each: a replacement counts only once its checks pass."""
    budget = wanted.heal.max_unavailable
    budget = default_budget(wanted.instances) if budget is None else budget
    killed = killed or {}
    running = sum(1 for h in tasks if h.task.task_id not in killed)
    waiting = len(not_serving(tasks, killed, candidates))
    already_down = max(0, wanted.instances - running, len(killed)) + waiting
    return max(0, min(budget - already_down, running - minimum_healthy(wanted)))


_UP = (CheckStatus.PASSING, CheckStatus.WARNING, CheckStatus.MAINTENANCE)


def not_serving(
    tasks: list[TaskHealth], killed: Mapping[str, float], candidates: AbstractSet[str]
) -> list[TaskHealth]:
    """The running tasks, not being killed, that count as down: not registered in Consul yet (whatever
    Marathon's own health says), or critical without being an overdue kill candidate (inside its grace
    window, or critical through its node). Passing, warning and maintenance count as up (the last two are
    not healing's to act on), and so does a candidate: killing a task that already fails removes no
    capacity."""
    return [
        h for h in tasks
        if h.task.task_id not in killed and h.status not in _UP and h.task.task_id not in candidates
    ]


def not_in_flight(memory: HealMemory, task_ids: AbstractSet[str]) -> HealMemory:
    """`memory` without these tasks' kills in flight: their tasks are judged as any other."""
    if task_ids.isdisjoint(memory.killed):
        return memory
    return replace(memory, killed={t: at for t, at in memory.killed.items() if t not in task_ids})


def forget_unsent(memory: HealMemory, actual: Actual, actions: Iterable[Action], now: float) -> HealMemory:
    """`memory` without the heals of `now` that were never sent (outcome skipped: a guard at the moment of
    the kill, or the leader's fence), so that they neither start a backoff nor count toward a crash loop,
    nor hold the kill budget as kills in flight. A failed kill stays counted: an error may come after
    Marathon killed some of its tasks (app by app); but it is no kill in flight: a task it did kill is
    down in the next observation anyway, one it did not is judged again once the backoff ends."""
    app_of = {t.task_id: app_id for app_id, app in actual.apps.items() for t in app.tasks}
    unsent: dict[str, int] = {}
    kills = [a for a in actions if a.kind == ActionKind.KILL_TASK and not (a.body or {}).get("scale")]
    for action in kills:
        if action.outcome == Outcome.SKIPPED and action.target in app_of:
            unsent[app_of[action.target]] = unsent.get(app_of[action.target], 0) + 1
    memory = not_in_flight(memory, {a.target for a in kills if a.outcome in (Outcome.SKIPPED, Outcome.FAILED)})
    if not unsent:
        return memory
    heals = dict(memory.heals)
    for app_id, count in unsent.items():
        times = list(heals.get(app_id, ()))
        for _ in range(count):
            if now in times:
                times.remove(now)
        if times:
            heals[app_id] = tuple(times)
        else:
            heals.pop(app_id, None)
    return replace(memory, heals=heals)
