"""The history the store could not take yet (engine layer): a cycle's records wait here, in order, until the
database answers again, and the outage is told to /readyz, /status and the alerts.

Each record is one transaction of a cycle's history (a plan with its actions and heals, a synced revision
with its desired state, an autoscale decision), stamped with the cycle's time. The reporter adds a cycle's
records, then writes every waiting one oldest first; the first that fails stops the write, and it and the
later ones wait for the next cycle. At most MAX_WAITING records wait: past that the oldest are dropped
(logged and counted), so a store down for days does not grow the controller without bound.
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reconciler.core.alerts import Alert, store_alert
from reconciler.core.model import Action, ActionKind, Outcome
from reconciler.engine.autoscaling import AppScaling
from reconciler.store import Store, StoreError

log = logging.getLogger("reconciler.controller")
MAX_WAITING = 10_000
Write = Callable[[Store], object]


@dataclass(frozen=True)
class _Record:
    cycle_id: str
    what: str  # for the log: `plan p1 of shop`
    write: Write


class Backlog:
    """A store's waiting records and its outage: when it began, why, and the last one's end."""

    def __init__(self, store: Store, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._store, self._clock = store, clock
        self._records: deque[_Record] = deque()
        self._since: datetime | None = None
        self._error = ""
        self._late = 0  # records of earlier cycles written since the outage began
        self._last: dict[str, Any] | None = None
        self.dropped = 0

    def add(self, cycle_id: str, what: str, write: Write) -> None:
        self._records.append(_Record(cycle_id, what, write))
        if len(self._records) > MAX_WAITING:
            lost = self._records.popleft()
            self.dropped += 1
            log.error("cycle=%s event=store-record-dropped record=%r waiting=%d", lost.cycle_id, lost.what,
                      MAX_WAITING)

    def write(self, cycle_id: str) -> None:
        """Every waiting record, oldest first; the StoreError of the first that fails (it and the rest wait)."""
        while self._records:
            record = self._records[0]
            record.write(self._store)
            self._records.popleft()
            if record.cycle_id != cycle_id:
                self._late += 1
                log.info("cycle=%s event=store-record-written-late record=%r of_cycle=%s", cycle_id, record.what,
                         record.cycle_id)

    def failed(self, error: StoreError) -> None:
        if self._since is None:
            self._since, self._late = self._clock(), 0
        self._error = str(error)

    def answered(self) -> None:
        """The store took every record of a cycle: an outage, if any, ends."""
        if self._since is None:
            return
        self._last = {"from": _iso(self._since), "to": _iso(self._clock()), "recorded_late": self._late,
                      "error": self._error}
        log.warning("event=store-recovered down_since=%s recorded_late=%d", self._last["from"], self._late)
        self._since = None

    @property
    def problem(self) -> str:
        """What /readyz adds to its reason while the store fails, else ""."""
        if self._since is None:
            return ""
        return (f"the history store fails since {_iso(self._since)} ({len(self._records)} record(s) waiting):"
                f" {self._error}")

    def status(self) -> dict[str, Any]:
        return {"since": _iso(self._since) if self._since else None, "error": self._error if self._since else "",
                "waiting": len(self._records), "dropped": self.dropped, "last": self._last}

    def alerts(self) -> tuple[Alert, ...]:
        found = store_alert(self._store.url, _iso(self._since) if self._since else None, len(self._records),
                            self._error)
        return (found,) if found else ()


def executed_plan(
    env: str, revision: str, digest: str, executed: list[Action], cycle_id: str, at: datetime
) -> tuple[str, Write]:
    """A plan the cycle executed, whole (with its actions and heal kills) in one transaction, at its time."""
    failed = any(a.outcome == Outcome.FAILED for a in executed)
    plan_id = uuid.uuid4().hex[:12]

    def write(store: Store) -> None:
        store.record_executed(plan_id, env, revision, digest, "failed" if failed else "applied", executed,
                              heals=[a for a in executed if is_heal(a)], cycle_id=cycle_id, at=at)

    return f"plan {plan_id} of {env}", write


def decision(scaling: AppScaling, cycle_id: str, at: datetime) -> tuple[str, Write]:
    """An autoscale decision, at its cycle's time."""

    def write(store: Store) -> None:
        store.record_autoscale(scaling.env, scaling.app_id, scaling.current, scaling.desired, scaling.reason,
                               cycle_id=cycle_id, limited_by=scaling.limited_by,
                               recommendation=scaling.recommendation, metrics=scaling.metrics(), at=at)

    return f"autoscale decision of {scaling.app_id}", write


def is_heal(action: Action) -> bool:
    """A task kill that Marathon replaces (the autoscaler's kills lower `instances` instead)."""
    return action.kind == ActionKind.KILL_TASK and not (action.body or {}).get("scale")


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")
