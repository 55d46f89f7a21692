"""Each desired app's status row (pure core): instances wanted, running, healthy, Consul-passing, and
the app's sync state and health.

The live table of `run`, `reconciler status` and the controller's `/status` all build their rows here,
from one desired state, one observation and the plan made from them. A StatusMemo keeps each row with
the very objects it came from, so that a controller's next cycle computes again only what changed.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

from reconciler.core.model import (
    Action,
    ActionKind,
    Actual,
    ActualApp,
    ActualTask,
    Desired,
    DesiredApp,
    Outcome,
    Plan,
    TaskState,
)
from reconciler.core.registry import CheckStatus, ConsulObservation, ServiceInstance

CRASH_LOOPING = "crash-looping: healing stopped"
_SYNC_KINDS = frozenset({ActionKind.CREATE, ActionKind.UPDATE, ActionKind.SCALE, ActionKind.DELETE})


class SyncState(StrEnum):
    """Whether the live state matches the desired state (never whether it works: that is Health)."""

    SYNCED = "Synced"
    OUT_OF_SYNC = "OutOfSync"
    PROGRESSING = "Progressing"
    REQUIRES_PRUNING = "RequiresPruning"
    AWAITING_APPROVAL = "AwaitingApproval"
    PAUSED = "Paused"


class Health(StrEnum):
    """Whether what runs works, in increasing severity (Argo CD's order: Missing before Degraded)."""

    HEALTHY = "Healthy"
    MISSING = "Missing"
    DEGRADED = "Degraded"


def consul_passing(app_id: str, consul: ConsulObservation | None) -> int | None:
    """Passing instances of the app in Consul; None when Consul was not (completely) read."""
    if consul is None or not consul.complete:
        return None
    return _passing(consul.instances_of_app(app_id))


def _passing(instances: tuple[ServiceInstance, ...] | None) -> int | None:
    return None if instances is None else sum(1 for i in instances if i.status == CheckStatus.PASSING)


def heal_notes(actions: tuple[Action, ...]) -> dict[str, str]:
    """App id -> what healing says about it (crash-looping)."""
    notes: dict[str, str] = {}
    for action in actions:
        if action.kind == ActionKind.WARN and action.outcome == Outcome.REFUSED and "crash-looping" in action.reason:
            notes[action.target] = CRASH_LOOPING
    return notes


@dataclass(frozen=True)
class AppStatus:
    """One app's row."""

    app_id: str
    env: str
    name: str
    want: int
    running: tuple[ActualTask, ...]
    healthy: int | None  # None: the app has no Marathon health check
    passing: int | None  # None: Consul was not (completely) read
    note: str
    synced: bool  # in Marathon with the desired count, and nothing of this cycle's plan targets it
    sync: SyncState = SyncState.SYNCED
    health: Health = Health.HEALTHY

    @cached_property  # asked of every row by each summary of a view
    def fine(self) -> bool:
        counts = (self.healthy, self.passing)
        return self.synced and not self.note and all(n is None or n >= len(self.running) for n in counts)


def app_health(observed: bool, want: int, running: int, counts: tuple[int | None, ...], note: str) -> Health:
    """Missing: not in Marathon. Degraded: fewer running, healthy or passing than wanted, or crash-looping."""
    if not observed:
        return Health.MISSING
    if note or running < want or any(n is not None and n < running for n in counts):
        return Health.DEGRADED
    return Health.HEALTHY


def app_sync(observed: bool, targeted: bool, progressing: bool) -> SyncState:
    if not observed or targeted:
        return SyncState.OUT_OF_SYNC
    return SyncState.PROGRESSING if progressing else SyncState.SYNCED


# Everything one app's row is computed from: its DesiredApp, its ActualApp (None: not in Marathon) and
# its Consul instances (None: Consul not completely read), compared by identity; its heal note, whether
# the plan targets it and whether a deployment moves it, compared by value. A plain tuple: one is made
# per app and cycle, and a dataclass's construction would cost more than the comparisons it spares.
_RowInputs = tuple[DesiredApp, ActualApp | None, tuple[ServiceInstance, ...] | None, str, bool, bool]


def _same_inputs(kept: _RowInputs, given: _RowInputs) -> bool:
    return (
        kept[0] is given[0] and kept[1] is given[1] and _same_instances(kept[2], given[2])
        and kept[3] == given[3] and kept[4] == given[4] and kept[5] == given[5]
    )


def _same_instances(kept: tuple[ServiceInstance, ...] | None, given: tuple[ServiceInstance, ...] | None) -> bool:
    """The same group, or (an observation whose groups were not carried over: registry.carry_indexes) a
    group of the very same instances in the same order."""
    if kept is given:
        return True
    return kept is not None and given is not None and len(kept) == len(given) and all(map(operator.is_, kept, given))


def _status(app_id: str, given: _RowInputs) -> AppStatus:
    app, observed, instances, note, targeted, moving = given
    running = tuple(t for t in (observed.tasks if observed else ()) if t.state == TaskState.RUNNING)
    has_checks = bool(app.definition.get("healthChecks"))
    healthy = sum(1 for t in running if t.healthy) if has_checks else None
    passing = _passing(instances)
    want = observed.instances if observed else app.instances
    synced = observed is not None and len(running) == observed.instances and not targeted
    return AppStatus(
        app_id, app.env, app.name, want, running, healthy, passing, note, synced,
        app_sync(observed is not None, targeted, moving),
        app_health(observed is not None, want, len(running), (healthy, passing), note),
    )


class StatusMemo:
    """Each app's last row and the very objects it was computed from (one memo per view, used from one
    thread). Rows are a function of those objects alone: the spec layer, the Marathon client and the
    Consul read hand back the same objects for what did not change, so a row comes back while its app,
    its ActualApp and its Consul instances are the same objects and its marks are equal."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[_RowInputs, AppStatus]] = {}
        self.computed = 0  # rows computed (the tests check that only what changed is)

    def status(self, app_id: str, given: _RowInputs, kept: dict[str, tuple[_RowInputs, AppStatus]]) -> AppStatus:
        """The row of `app_id`, kept in `kept` (the next call's memo) with its inputs."""
        entry = self._rows.get(app_id)
        if entry is not None and _same_inputs(entry[0], given):
            kept[app_id] = entry
            return entry[1]
        self.computed += 1
        status = _status(app_id, given)
        kept[app_id] = (given, status)
        return status

    def keep(self, rows: dict[str, tuple[_RowInputs, AppStatus]]) -> None:
        """The rows of the last call only: an app gone from the specs is forgotten."""
        self._rows = rows


def app_statuses(
    desired: Desired, actual: Actual, consul: ConsulObservation | None = None, actions: tuple[Action, ...] = (),
    progressing: tuple[str, ...] = (), *, memo: StatusMemo | None = None,
) -> list[AppStatus]:
    """Every desired app's status, sorted by app id: one pass over apps, tasks and instances.
    `progressing`: the apps a running Marathon deployment still changes (Plan.progressing). With a
    `memo`, an app's row is computed again only when one of its inputs changed."""
    notes = heal_notes(actions)
    targeted = {a.target for a in actions if a.outcome == Outcome.PLANNED and a.kind in _SYNC_KINDS}
    moving = set(progressing)
    read = consul is not None and consul.complete
    memo = memo if memo is not None else StatusMemo()
    kept: dict[str, tuple[_RowInputs, AppStatus]] = {}
    statuses = []
    for app_id, app in sorted(desired.apps.items()):
        instances = consul.instances_of_app(app_id) if read and consul is not None else None
        given = (app, actual.apps.get(app_id), instances, notes.get(app_id, ""), app_id in targeted, app_id in moving)
        statuses.append(memo.status(app_id, given, kept))
    memo.keep(kept)
    return statuses


def plan_statuses(
    desired: Desired, actual: Actual, consul: ConsulObservation | None, plan: Plan | None,
    *, memo: StatusMemo | None = None,
) -> list[AppStatus]:
    """app_statuses with the actions and the progressing apps of `plan` (None: no plan was made)."""
    if plan is None:
        return app_statuses(desired, actual, consul, memo=memo)
    return app_statuses(desired, actual, consul, plan.actions, plan.progressing, memo=memo)


@dataclass(frozen=True)
class StatusSummary:
    apps: int
    attention: tuple[str, ...]  # app ids not healthy or not synced

    def line(self) -> str:
        return f"{self.apps} apps: {self.apps - len(self.attention)} synced and healthy, {len(self.attention)} not"


def status_summary(
    desired: Desired, actual: Actual, consul: ConsulObservation | None = None, actions: tuple[Action, ...] = (),
    *, memo: StatusMemo | None = None,
) -> StatusSummary:
    statuses = app_statuses(desired, actual, consul, actions, memo=memo)
    return StatusSummary(len(statuses), tuple(s.app_id for s in statuses if not s.fine))


def status_rows(
    desired: Desired, actual: Actual, consul: ConsulObservation | None = None, actions: tuple[Action, ...] = (),
    *, memo: StatusMemo | None = None,
) -> tuple[tuple[str, int, int, int, int | None, str], ...]:
    """A compact fingerprint of the table, to print it again only when something changed."""
    return tuple(
        (s.app_id, s.want, len(s.running), s.healthy or 0, s.passing, s.note)
        for s in app_statuses(desired, actual, consul, actions, memo=memo)
    )


def task_addresses(running: list[ActualTask], shown: int = 3) -> str:
    """The first `shown` task addresses, then how many more there are."""
    addresses = sorted({f"{t.host}:{t.ports[0]}" if t.ports else t.host for t in running})
    more = f" (+{len(addresses) - shown} more)" if len(addresses) > shown else ""
    return " ".join(addresses[:shown]) + more
