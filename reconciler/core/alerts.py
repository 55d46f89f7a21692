"""Alerts worth a notification (pure core): what a cycle, the spec feed and the leader lock say is wrong.

`cycle_alerts` judges one completed cycle (desired, observation, plan, heal memory) with the
AlertMemory carried from the last one; `invalid_commit_alert` and `leader_alerts` judge the feed and
the lock. Each returns the alerts active now; time is a parameter. engine/notify.py de-duplicates and
sends them; docs/notifications.md lists every kind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from reconciler.core.heal import HealMemory, kill_allowance, task_health
from reconciler.core.model import Action, ActionKind, Actual, ActualApp, Desired, DesiredApp, Outcome, TaskState
from reconciler.core.registry import ConsulObservation

# An invalid commit's notification carries this many of its problems (the rest are counted).
MAX_PROBLEMS = 10
# The source is stale once this many fetches in a row failed: one failure is a blip a poll later mends.
STALE_AFTER_FAILED_FETCHES = 3
# Writes that bring an app's instances back: while one is planned or just sent, an excess is being corrected.
_CORRECTING = frozenset({ActionKind.SCALE, ActionKind.UPDATE, ActionKind.CREATE})
_SENT_OR_SENDING = frozenset({Outcome.PLANNED, Outcome.SUCCEEDED, Outcome.UNKNOWN})


class AlertKind(StrEnum):
    TOO_MANY_INSTANCES = "too-many-instances"
    AUTOSCALE_AT_MAX = "autoscale-at-max"
    CRASH_LOOP = "crash-loop"
    INVALID_COMMIT = "invalid-commit"
    HEAL_BUDGET_EXHAUSTED = "heal-budget-exhausted"
    DEPLOYMENT_PAST_DEADLINE = "deployment-past-deadline"
    LEADER_LOST = "leader-lost"
    SOURCE_STALE = "source-stale"
    STORE_UNAVAILABLE = "store-unavailable"


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Alert:
    """One active problem. `key` names it for de-duplication: the same key is the same problem."""

    kind: AlertKind
    key: str
    severity: Severity
    summary: str
    detail: str = ""


@dataclass(frozen=True)
class AlertOptions:
    deployment_deadline_seconds: float = 600.0
    # More instances than wanted must last this long: Marathon kills the surplus of returning
    # unreachable tasks itself, and a person's scale is undone by the next cycle.
    excess_for_seconds: float = 30.0
    # An autoscaled app whose metrics ask for more than its `max` must stay so this long: a burst that
    # passes within it is what the bounds are for.
    at_max_for_seconds: float = 30.0


@dataclass(frozen=True)
class AlertMemory:
    """What detection remembers between cycles: since when each deployment and each excess is seen."""

    deployments_seen: Mapping[str, float] = field(default_factory=dict)  # deployment id -> first seen
    excess_since: Mapping[str, float] = field(default_factory=dict)  # app id -> first seen over its bound
    at_max_since: Mapping[str, float] = field(default_factory=dict)  # app id -> first seen pinned at max


@dataclass(frozen=True)
class CycleFacts:
    """What one completed cycle knows: desired state, observation, plan (or execution) and heal memory."""

    desired: Desired
    actual: Actual
    consul: ConsulObservation | None  # None: Consul not observed (no healing)
    actions: tuple[Action, ...]
    heals: HealMemory
    # Per autoscaled app, the largest count its metrics proposed this cycle (None: no decision was made).
    recommendations: Mapping[str, int | None] = field(default_factory=dict)


def cycle_alerts(
    facts: CycleFacts, memory: AlertMemory, now: float, options: AlertOptions = AlertOptions()
) -> tuple[tuple[Alert, ...], AlertMemory]:
    """The alerts one cycle shows and the memory for the next; nothing from an incomplete observation."""
    if not facts.actual.complete:
        return (), memory
    excess, excess_since = too_many_instances(facts, memory.excess_since, now, options)
    late, seen = late_deployments(facts, memory.deployments_seen, now, options)
    pinned, at_max_since = pinned_at_max(facts, memory.at_max_since, now, options)
    alerts = [*excess, *pinned, *crash_loops(facts), *exhausted_budgets(facts), *late]
    return tuple(alerts), AlertMemory(seen, excess_since, at_max_since)


def instance_bound(wanted: DesiredApp) -> int:
    """The most instances an app may run: its `instances`, or an autoscaled app's `max`."""
    return wanted.autoscale.max_instances if wanted.autoscale is not None else wanted.instances


def running_count(app: ActualApp) -> int:
    return sum(1 for t in app.tasks if t.state == TaskState.RUNNING)


def _correcting(app_id: str, actions: Iterable[Action]) -> bool:
    return any(a.target == app_id and a.kind in _CORRECTING and a.outcome in _SENT_OR_SENDING for a in actions)


def too_many_instances(
    facts: CycleFacts, since: Mapping[str, float], now: float, options: AlertOptions
) -> tuple[list[Alert], dict[str, float]]:
    """Managed apps running more tasks than their bound, with no deployment and no correction under way,
    for longer than `excess_for_seconds`."""
    alerts: list[Alert] = []
    kept: dict[str, float] = {}
    for app_id in sorted(facts.desired.apps):
        wanted, app = facts.desired.apps[app_id], facts.actual.apps.get(app_id)
        if app is None or not app.managed or app.deployment_ids or _correcting(app_id, facts.actions):
            continue
        running, bound = running_count(app), instance_bound(wanted)
        if running <= bound:
            continue
        kept[app_id] = since.get(app_id, now)
        if now - kept[app_id] >= options.excess_for_seconds:
            what = f"autoscale max {bound}" if wanted.autoscale is not None else f"{bound} desired"
            alerts.append(Alert(AlertKind.TOO_MANY_INSTANCES, f"too-many-instances:{app_id}", Severity.WARNING,
                                f"{app_id}: {running} instances running, {what}",
                                f"no deployment is running for the app; the surplus is reported, not killed"
                                f" (seen for {now - kept[app_id]:.0f}s)"))
    return alerts, kept


def pinned_at_max(
    facts: CycleFacts, since: Mapping[str, float], now: float, options: AlertOptions
) -> tuple[list[Alert], dict[str, float]]:
    """Autoscaled apps running at their `max` while their metrics ask for more, for longer than
    `at_max_for_seconds`. A cycle that made no decision for the app (a deployment, a metric not read)
    keeps it as it was."""
    alerts: list[Alert] = []
    kept: dict[str, float] = {}
    for app_id in sorted(facts.recommendations):
        wanted, app = facts.desired.apps.get(app_id), facts.actual.apps.get(app_id)
        if wanted is None or wanted.autoscale is None or app is None:
            continue
        recommendation, bound = facts.recommendations[app_id], wanted.autoscale.max_instances
        if recommendation is None and app_id in since:
            kept[app_id] = since[app_id]
        elif recommendation is not None and recommendation > bound and app.instances >= bound:
            kept[app_id] = since.get(app_id, now)
        if app_id in kept and now - kept[app_id] >= options.at_max_for_seconds:
            asks = f"; its metrics ask for {recommendation}" if recommendation is not None else ""
            alerts.append(Alert(AlertKind.AUTOSCALE_AT_MAX, f"autoscale-at-max:{app_id}", Severity.WARNING,
                                f"{app_id} is held at its autoscale max ({bound}){asks}",
                                f"seen for {now - kept[app_id]:.0f}s; raise autoscale.max, or look at the load"))
    return alerts, kept


def crash_loops(facts: CycleFacts) -> Iterable[Alert]:
    """Apps whose heals within their crash-loop window reached the limit: healing stopped."""
    for app_id in sorted(facts.heals.heals):
        wanted = facts.desired.apps.get(app_id)
        if wanted is None or not wanted.heal.enabled:
            continue
        recent = facts.heals.heals[app_id]
        if len(recent) >= wanted.heal.crash_loop_heals:
            window = f"{wanted.heal.crash_loop_window_seconds:g}s"
            yield Alert(AlertKind.CRASH_LOOP, f"crash-loop:{app_id}", Severity.CRITICAL,
                        f"{app_id} is crash-looping: {len(recent)} heals within {window}, healing stopped",
                        f"healing resumes once fewer than {wanted.heal.crash_loop_heals} heals fall within the"
                        f" last {window}; look at why its tasks fail their checks")


def exhausted_budgets(facts: CycleFacts) -> Iterable[Alert]:
    """Apps with more tasks critical past their grace window than the kill budget lets the heal replace."""
    if facts.consul is None or not facts.consul.complete:
        return
    overdue: dict[str, list[Action]] = {}
    task_app = {t.task_id: app.app_id for app in facts.actual.apps.values() for t in app.tasks}
    for action in facts.actions:
        if action.kind == ActionKind.KILL_TASK and action.target in task_app:
            overdue.setdefault(task_app[action.target], []).append(action)
    for app_id in sorted(overdue):
        wanted, app = facts.desired.apps.get(app_id), facts.actual.apps[app_id]
        if wanted is None or not wanted.heal.enabled:
            continue
        late = overdue[app_id]
        allowed = kill_allowance(wanted, task_health(app, facts.consul), candidates={a.target for a in late})
        if len(late) > allowed:
            tasks = ", ".join(a.target for a in late)
            yield Alert(AlertKind.HEAL_BUDGET_EXHAUSTED, f"heal-budget-exhausted:{app_id}", Severity.CRITICAL,
                        f"{app_id}: {len(late)} task{'s' if len(late) != 1 else ''} critical past the grace"
                        f" window, the heal budget allows {allowed} kill{'s' if allowed != 1 else ''} now",
                        f"critical tasks: {tasks}; look at why they fail, or let more instances be down at once"
                        " (heal.maxUnavailable, upgradeStrategy.minimumHealthCapacity)")


def late_deployments(
    facts: CycleFacts, seen: Mapping[str, float], now: float, options: AlertOptions
) -> tuple[list[Alert], dict[str, float]]:
    """Deployments of the desired apps running longer than the deadline (counted from when first seen)."""
    alerts: list[Alert] = []
    kept: dict[str, float] = {}
    deadline = options.deployment_deadline_seconds
    for deployment in facts.actual.deployments:
        apps = sorted(a for a in deployment.affected_apps if a in facts.desired.apps)
        if not apps:
            continue
        kept[deployment.deployment_id] = first = seen.get(deployment.deployment_id, now)
        if now - first > deadline:
            step = f"step {deployment.current_step} of {deployment.total_steps}"
            alerts.append(Alert(AlertKind.DEPLOYMENT_PAST_DEADLINE,
                                f"deployment-past-deadline:{deployment.deployment_id}", Severity.WARNING,
                                f"deployment {deployment.deployment_id} of {', '.join(apps)} running for"
                                f" {now - first:.0f}s, past its deadline of {deadline:g}s",
                                f"{step}; GET /v2/queue says why its tasks do not start"))
    return alerts, kept


def invalid_commit_alert(source: str, in_force: str, latest: str, problems: Sequence[str]) -> Alert | None:
    """The newest commit of the source, when it does not load and an older one stays in force."""
    if not problems or not latest or latest == in_force:
        return None
    shown = list(problems[:MAX_PROBLEMS])
    if len(problems) > MAX_PROBLEMS:
        shown.append(f"... and {len(problems) - MAX_PROBLEMS} more")
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    return Alert(AlertKind.INVALID_COMMIT, f"invalid-commit:{latest}", Severity.CRITICAL,
                 f"commit {latest[:12]} of {source} is invalid ({count}); {in_force[:12]} stays in force",
                 "\n".join(shown))


def source_stale_alert(source: str, failed_fetches: int, fetched_at: str, error: str) -> Alert | None:
    """The source, once its last STALE_AFTER_FAILED_FETCHES fetches failed: a commit pushed since the last
    good fetch is not applied (the desired state in force stays as it was)."""
    if failed_fetches < STALE_AFTER_FAILED_FETCHES:
        return None
    return Alert(AlertKind.SOURCE_STALE, f"source-stale:{source}", Severity.WARNING,
                 f"{source} could not be fetched {failed_fetches} times in a row (last fetched {fetched_at}):"
                 " new commits are not applied", error)


@dataclass(frozen=True)
class LeaderView:
    """The leader lock as this replica sees it. `holder` is '' while nobody holds it."""

    identity: str
    key: str
    ttl: float
    led: bool  # this replica has held the lock since it started
    leading: bool  # it holds the lock and may write
    holder: str
    nobody_since: float | None  # since when nobody holds the lock, as seen here


def leader_alerts(view: LeaderView, now: float) -> tuple[Alert, ...]:
    """This replica lost the lock and nobody else took it; or nobody has held it for longer than the TTL."""
    alerts: list[Alert] = []
    if view.led and not view.leading and view.holder in ("", view.identity):
        alerts.append(Alert(AlertKind.LEADER_LOST, f"leader-lost:{view.identity}", Severity.CRITICAL,
                            f"{view.identity} lost the leader lock {view.key}; it writes nothing until it leads again",
                            "its Consul session expired or could not be renewed"))
    if view.nobody_since is not None and now - view.nobody_since > view.ttl:
        alerts.append(Alert(AlertKind.LEADER_LOST, f"no-leader:{view.key}", Severity.CRITICAL,
                            f"no controller has held the leader lock {view.key} for {now - view.nobody_since:.0f}s"
                            f" (session TTL {view.ttl:g}s): nothing is reconciled",
                            f"seen by {view.identity}"))
    return tuple(alerts)


def store_alert(store: str, since: str | None, waiting: int, error: str) -> Alert | None:
    """The history store (named without its password) failing since `since`, with `waiting` records of the
    cycles meanwhile held until it answers; None while it answers."""
    if since is None:
        return None
    return Alert(AlertKind.STORE_UNAVAILABLE, store, Severity.CRITICAL,
                 f"the history store {store} fails since {since}: {waiting} record(s) of the cycles since wait for it",
                 error)
