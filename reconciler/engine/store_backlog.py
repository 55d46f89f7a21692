"""The history the store could not take yet (engine layer): a cycle's records wait here, in order, until the
database answers again, and the outage is told to /readyz, /status and the alerts.

Each record is one transaction of a cycle's history (a plan with its actions and heals, a synced revision
with its desired state, an autoscale decision, the outcome of an approved plan, the autoscale samples),
stamped with the cycle's time. The reporter adds a cycle's
records, then writes every waiting one oldest first. A database out of reach (down, restarting, locked)
stops the write at the first record that fails: it and the later ones wait for the next cycle. A record
the database refuses (StoreError.lasting: a constraint, a value a column refuses, a bug in the record)
would fail the same way every time: after MAX_TRIES such refusals it is dropped, logged with the error and
counted, and the records behind it go on. At most MAX_WAITING records wait: past that the oldest are
dropped (logged and counted), so a store down for days does not grow the controller without bound. At
stop, the waiting records get one more try, within a deadline (`write_at_stop`); a record begun before the
deadline that has not ended by then is logged as unfinished (it may still go in), not as unwritten.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reconciler.core.alerts import Alert, store_alert
from reconciler.core.model import Action, ActionKind, Desired, Outcome
from reconciler.engine.approvals import record_outcome
from reconciler.engine.autoscaling import AppScaling
from reconciler.redaction import redact
from reconciler.store import SampleRow, Store, StoreError

log = logging.getLogger("reconciler.controller")
MAX_WAITING = 10_000
MAX_TRIES = 3  # refusals of one record by a database that answers before it is dropped
Write = Callable[[Store], object]
# a record's fate; EXPIRED: a measurement (autoscale samples) taken out unwritten once past its keep
WAITING, WRITTEN, REFUSED, FULL, EXPIRED = "waiting", "written", "refused", "full", "expired"


@dataclass(eq=False)
class Record:
    """One waiting record; `fate` says what became of it (WAITING, WRITTEN, or dropped: REFUSED, FULL)."""

    cycle_id: str
    what: str  # for the log: `plan p1 of shop at revision abc`
    write: Write
    refused: int = 0  # times the database answered and refused it
    fate: str = WAITING
    unfinished_at_stop: bool = False  # being written when the stop's deadline passed (the stop said so)


class Backlog:
    """A store's waiting records and its outage: when it began, why, and the last one's end."""

    def __init__(
        self, store: Store, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        count: Callable[[str], object] = lambda kind: None,
    ) -> None:
        """`count(kind)` is told of each record dropped (`store-record-dropped`)."""
        self._store, self._clock, self._count = store, clock, count
        self._records: deque[Record] = deque()
        self._lock = threading.Lock()  # one writer at a time: a cycle's worker thread, or the stop's
        self._books = threading.Lock()  # the records and the one begun, as the stop counts them (never held on I/O)
        self._begun: Record | None = None  # the record being written
        self._since: datetime | None = None
        self._error = ""
        self._late = 0  # records of earlier cycles written since the outage began
        self._last: dict[str, Any] | None = None
        self._last_dropped: dict[str, Any] | None = None
        self.dropped = 0

    @property
    def waiting(self) -> int:
        return len(self._records)

    def add(self, cycle_id: str, what: str, write: Write) -> Record:
        record = Record(cycle_id, what, write)
        with self._books:
            self._records.append(record)
            lost = self._records.popleft() if len(self._records) > MAX_WAITING else None
        if lost is not None:
            self._drop(lost, FULL, f"{MAX_WAITING} records wait")
        return record

    def expire(self, record: Record) -> bool:
        """Takes `record` out unwritten, if it still waits and is not being written: samples past their keep,
        which the store would not add, need not hold memory through a long outage."""
        with self._books:
            if record.fate != WAITING or record is self._begun:
                return False
            self._records.remove(record)
        record.fate = EXPIRED
        return True

    def write(self, cycle_id: str, *, until: float | None = None, last_try: bool = False) -> None:
        """Every waiting record, oldest first; the StoreError of the first that fails (it and the rest wait).
        `until`: a time.monotonic() past which no record is begun (the rest wait); `last_try`: a record the
        database refuses is dropped at once."""
        with self._lock:
            try:
                while (record := self._begin(until)) is not None:
                    error = self._try(record, cycle_id)
                    if error is None:
                        self._written(record, cycle_id)
                        continue
                    record.refused += 1
                    if record.refused < MAX_TRIES and not last_try:
                        raise error
                    self._pop(record)
                    self._drop(record, REFUSED, str(error))
            finally:
                with self._books:
                    self._begun = None

    def _begin(self, until: float | None) -> Record | None:
        """The first waiting record, now the one begun; None when none waits or `until` passed. Decided under
        the books' lock, as the stop counts them: a record is either begun before its count or not at all."""
        with self._books:
            if not self._records or (until is not None and time.monotonic() >= until):
                return None
            self._begun = self._records[0]
            return self._begun

    def _try(self, record: Record, cycle_id: str) -> StoreError | None:
        """Writes `record`: None, else the lasting StoreError of a database that refused it (an outage raises)."""
        try:
            record.write(self._store)
        except StoreError as exc:
            if not exc.lasting:
                raise
            return exc
        except Exception as exc:  # a bug in the record: it fails the same way at every try
            log.error("cycle=%s event=store-record-crashed record=%r", cycle_id, record.what, exc_info=True)
            error = StoreError(f"recording {record.what} failed: {redact(repr(exc))}")
            error.lasting = True
            return error
        return None

    def _pop(self, record: Record) -> None:
        """`record`, the first waiting, leaves (written or dropped) and is no longer the one begun."""
        with self._books:
            self._records.popleft()
            self._begun = None

    def _written(self, record: Record, cycle_id: str) -> None:
        self._pop(record)
        record.fate = WRITTEN
        if record.unfinished_at_stop:
            log.warning("event=store-record-written-after-stop-deadline record=%r of_cycle=%s", record.what,
                        record.cycle_id)
        if record.cycle_id != cycle_id:
            self._late += 1
            log.info("cycle=%s event=store-record-written-late record=%r of_cycle=%s", cycle_id, record.what,
                     record.cycle_id)

    def write_at_stop(self, deadline_s: float) -> int:
        """One last try of every waiting record, in a thread of its own that this waits for `deadline_s` at most
        (a dead database, a connection that hangs, a cycle's write still holding the records: the stop goes
        on; no record is begun after the deadline); how many were not written by then (those the database refused
        included: they are dropped). Logged either way: the record begun before the deadline and not ended by then
        is counted apart (`unfinished`, named): its transaction may still commit while the process exits, and a
        later line says so if it does."""
        waiting = len(self._records)
        if not waiting:
            return 0
        until, errors, dropped = time.monotonic() + deadline_s, [], self.dropped

        def last_try() -> None:
            try:
                self.write("stop", until=until, last_try=True)
            except StoreError as exc:
                errors.append(str(exc))

        worker = threading.Thread(target=last_try, name="store-write-at-stop", daemon=True)
        worker.start()
        worker.join(deadline_s)
        with self._books:
            left, begun = len(self._records), self._begun
            if begun is not None:
                begun.unfinished_at_stop = True
        refused = self.dropped - dropped  # a record refused at stop is dropped
        if left or refused:
            unfinished = 1 if begun is not None else 0
            log.error("event=store-records-unwritten-at-stop unwritten=%d written=%d unfinished=%d deadline_s=%g"
                      " error=%r%s", left - unfinished + refused, waiting - left - refused, unfinished, deadline_s,
                      errors[0] if errors else "refused" if not left else "the deadline passed",
                      f" unfinished_record={begun.what!r}" if begun is not None else "")
        else:
            log.info("event=store-records-written-at-stop written=%d", waiting)
        return left + refused

    def _drop(self, record: Record, reason: str, error: str) -> None:
        record.fate = reason
        self.dropped += 1
        self._last_dropped = {"record": record.what, "cycle": record.cycle_id, "reason": reason, "error": error,
                              "at": _iso(self._clock())}
        self._count("store-record-dropped")
        log.error("cycle=%s event=store-record-dropped record=%r reason=%s error=%r", record.cycle_id, record.what,
                  reason, error)

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
                "waiting": len(self._records), "dropped": self.dropped, "last_dropped": self._last_dropped,
                "last": self._last}

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

    return f"plan {plan_id} of {env} at revision {revision}", write


def decision(scaling: AppScaling, cycle_id: str, at: datetime) -> tuple[str, Write]:
    """An autoscale decision, at its cycle's time."""

    def write(store: Store) -> None:
        store.record_autoscale(scaling.env, scaling.app_id, scaling.current, scaling.desired, scaling.reason,
                               cycle_id=cycle_id, limited_by=scaling.limited_by,
                               recommendation=scaling.recommendation, metrics=scaling.metrics(), at=at)

    return f"autoscale decision of {scaling.app_id} ({scaling.current}->{scaling.desired})", write


def approval_outcome(
    env: str, in_force: Desired, outcome: str | None, detail: str, at: datetime
) -> tuple[str, Write]:
    """What a cycle of approval environment `env` makes of its approved plans (approvals.record_outcome), at its
    time: behind the cycle's own plan in the backlog, so a plan is never marked before the record of the writes
    that applied it."""

    def write(store: Store) -> None:
        record_outcome(store, env, in_force, outcome, detail, at=at)

    return f"approval outcome {outcome or 'none'} of {env} at revision {in_force.revision_of(env)}", write


def samples(cycle_id: str, rows: list[SampleRow], keep_seconds: float, at: datetime) -> tuple[str, Write]:
    """A cycle's autoscale samples, taken at `at` (their time, not the write's); the write also prunes those
    older than `keep_seconds`."""

    def write(store: Store) -> None:
        store.record_autoscale_samples(cycle_id, rows, keep_seconds=keep_seconds, at=at)

    return f"autoscale samples of {len(rows)} app(s)", write


def is_heal(action: Action) -> bool:
    """A task kill that Marathon replaces (the autoscaler's kills lower `instances` instead)."""
    return action.kind == ActionKind.KILL_TASK and not (action.body or {}).get("scale")


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")
