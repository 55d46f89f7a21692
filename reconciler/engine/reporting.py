"""What the running controller tells the outside (engine layer): metrics, history in the store, status.

After each cycle the Reporter updates the Prometheus families, appends the cycle's plans, actions,
heals, newly synced revisions (with the desired state of a new digest), invalid revisions, the outcomes of
approved plans and the autoscale samples to the store (when one is configured), and keeps what the status
document of `/status` is built from. It
starts from what the store knows. In the controller the store's part runs in a worker thread, one cycle
at a time and before the next cycle starts (`recording`), so a slow database never holds the event loop.
A store that fails is logged and counted; it never stops the controller: the cycle's records wait for it
(store_backlog.py), and at stop get one last try within STOP_WRITE_S (`write_waiting`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler.core.alerts import Alert
from reconciler.core.app_status import StatusMemo
from reconciler.core.hashing import env_digest
from reconciler.core.heal import SENT_HEALS
from reconciler.core.model import Action, ActionKind, Desired, Outcome
from reconciler.core.status import EnvFacts, LastError, LastHeal, Pending
from reconciler.engine.approvals import APPLIED, FAILED
from reconciler.engine.autoscaling import AppScaling
from reconciler.engine.controller import CycleFn
from reconciler.engine.cycle import CycleResult
from reconciler.engine.pins import Pin, Pins
from reconciler.engine.status import INVALID, Snapshot, build_status, facts_from_store, iso, pause_of, with_specs
from reconciler.engine.store_backlog import (
    REFUSED,
    WAITING,
    Backlog,
    Record,
    Write,
    approval_outcome,
    decision,
    executed_plan,
    is_heal,
    samples,
)
from reconciler.engine.telemetry import ControllerMetrics
from reconciler.redaction import redact
from reconciler.store import DEFAULT_SAMPLES_KEEP, SampleRow, Store, StoreError

log = logging.getLogger("reconciler.controller")
_DRIFT_KINDS = (ActionKind.CREATE, ActionKind.UPDATE, ActionKind.SCALE)
STOP_WRITE_S = 5.0  # seconds a stopping controller gives its waiting history records (a dead store: no hang)


_DIGESTS: list[tuple[Desired, dict[str, str]]] = []  # the last Desired's digests (the loader hands it back)


def env_digests(desired: Desired) -> dict[str, str]:
    """`env_digest` of every environment, hashed once per Desired object rather than once per cycle."""
    if _DIGESTS and _DIGESTS[0][0] is desired:
        return _DIGESTS[0][1]
    digests = {env: env_digest(desired, env) for env in desired.environments}
    _DIGESTS[:] = [(desired, digests)]
    return digests


def _by_env(actions: tuple[Action, ...]) -> dict[str, list[Action]]:
    grouped: dict[str, list[Action]] = defaultdict(list)
    for action in actions:
        grouped[action.env].append(action)
    return grouped


Autoscaled = dict[str, tuple[tuple[Any, ...], dict[str, Any]]]  # app -> (its last decision's key, document)


@dataclass(frozen=True)
class _Counted:
    """A cycle to record, with what the loop's state said of it when it ended."""

    result: CycleResult
    desired: Desired
    grouped: dict[str, list[Action]]
    source: dict[str, Any]
    pins: dict[str, Pin]


@dataclass
class _Books:
    """What status shows besides the observation, as a record leaves it (published on the loop)."""

    facts: dict[str, EnvFacts]
    autoscale: Autoscaled


class Reporter:
    def __init__(
        self, metrics: ControllerMetrics, store: Store | None, source: Callable[[], Mapping[str, Any]],
        desired: Callable[[], Desired], pins: Pins | None = None, *, samples_keep: float = DEFAULT_SAMPLES_KEEP,
        specs: Callable[[], Desired] | None = None,
    ) -> None:
        """`desired` must answer the desired state the cycle being recorded reconciled; `pins` the
        paused environments it held at their rolled-back state; `samples_keep` is how many seconds of
        autoscale samples the store keeps; `specs` the specs' own state (what a pause holds back)."""
        self.metrics = metrics
        self._store = store
        self._backlog = Backlog(store, count=metrics.error) if store is not None else None
        self._source = source
        self._desired = desired
        self._specs = specs
        self._specs_digests: tuple[Desired | None, dict[str, str]] = (None, {})  # per env, of one specs object
        self._pins = pins or Pins(None)
        self._samples_keep = samples_keep
        self._synced: dict[str, tuple[str, str]] = {}  # env -> (revision, digest)
        self._facts: dict[str, EnvFacts] = {}  # env -> what status shows besides the observation
        self._invalid: dict[str, str] = {}  # env -> the last invalid revision its status showed
        self._invalid_queued: dict[str, str] = {}  # env -> the last invalid revision whose event was queued
        self._snapshot: Snapshot | None = None
        self._rows = StatusMemo()  # the app rows of the last /status, computed again only where inputs changed
        self._last: dict[str, Any] = {}
        self._observed: dict[str, str] | None = None  # the cycle whose observation status shows, and when
        # per autoscaled app: the last decision's key (what a new store row needs to differ in) and document
        self._autoscale: Autoscaled = {}
        # per approval environment: the last outcome queued (its outcome and approved state's digest), and its record
        self._outcomes: dict[str, tuple[tuple[str | None, str], Record]] = {}
        self._samples: deque[tuple[datetime, Record]] = deque()  # the samples records queued, oldest first
        self._writing = asyncio.Lock()
        self.cycles = 0

    @property
    def ready(self) -> bool:
        return self.cycles > 0

    @property
    def store_problem(self) -> str:
        """Why the history store fails now (since when, how many records wait), else ""."""
        return self._backlog.problem if self._backlog is not None else ""

    def store_alerts(self) -> tuple[Alert, ...]:
        return self._backlog.alerts() if self._backlog is not None else ()

    def record(self, result: CycleResult) -> None:
        """Everything in the calling thread (tests, and callers without an event loop to keep free)."""
        self._publish(self._write(self._count(result)))

    async def record_beside_loop(self, result: CycleResult) -> None:
        """The metrics and the status snapshot on the loop, then the store's reads and writes in a worker
        thread: a slow database (a SQLite file another process holds locked, PostgreSQL far away) holds
        back neither the leader's beats nor the HTTP API. One record at a time, in call order, so that the
        history keeps the cycles' order and a cycle's rows are in before the next cycle reads the store."""
        counted = self._count(result)
        async with self._writing:
            self._publish(await asyncio.to_thread(self._write, counted))

    async def write_waiting(self, deadline_s: float = STOP_WRITE_S) -> int:
        """At stop: one last try of the records waiting for the store, within `deadline_s`; how many could not
        be written (logged)."""
        if self._backlog is None:
            return 0
        return await asyncio.to_thread(self._backlog.write_at_stop, deadline_s)

    def recording(self, cycle: CycleFn) -> CycleFn:
        """`cycle`, its result recorded (record_beside_loop) before it is handed back: the controller's next
        cycle starts only once this one's history is written. A record that raises (a bug: a store
        failure is handled inside) is logged and counted; the cycle's result stands."""
        async def recorded(trigger: str) -> CycleResult:
            result = await cycle(trigger)
            try:
                await self.record_beside_loop(result)
            except Exception as exc:
                self.metrics.error("unexpected")
                log.error("cycle=%s event=report-crashed error=%r", result.cycle_id, redact(repr(exc)), exc_info=True)
            return result

        return recorded

    def _count(self, result: CycleResult) -> _Counted:
        """The part that touches no store: metrics, the last cycle, the status snapshot; and what the store
        part needs of the loop's state, read here."""
        self.cycles += 1
        self.metrics.cycle_done(result.seconds, ok=result.ok)
        self._last = {"id": result.cycle_id, "trigger": result.trigger, "ok": result.ok, "error": result.error or "",
                      "problems": list(result.problems), "seconds": round(result.seconds, 3),
                      "at": datetime.now(UTC).isoformat()}
        if result.error:
            self.metrics.error("cycle-failed")
        elif result.problems:
            self.metrics.error("observation-incomplete")
        if result.unexpected:
            self.metrics.error("unexpected")
        desired = self._desired()
        actions = result.execution.actions if result.execution else (result.plan.actions if result.plan else ())
        grouped = _by_env(actions)
        for env in desired.environments if result.actual is not None else ():  # unobserved: drift unknown
            drifted = {a.target for a in grouped.get(env, ()) if a.kind in _DRIFT_KINDS}
            self.metrics.set_drifted(env, len(drifted))
        for action in actions:
            if action.outcome != Outcome.PLANNED:
                self.metrics.action_done(action.kind, action.outcome)
            if is_heal(action) and action.outcome != Outcome.PLANNED:
                self.metrics.heal_done(action.env, action.outcome)
        for scaling in result.autoscale:
            self.metrics.autoscaled(scaling.app_id, scaling.desired, _limit_label(scaling))
        self._observe(result, desired)
        return _Counted(result, desired, grouped, dict(self._source()), dict(self._pins.current))

    def _observe(self, result: CycleResult, desired: Desired) -> None:
        """The snapshot status is built from. A cycle that observed nothing (Marathon unreachable, specs
        unreadable) leaves the last observation's: what was last seen, with when (`observed`), rather
        than every app missing; `last_cycle` and each environment's `last_error` say why it is old."""
        if result.actual is None and self._snapshot is not None:
            return
        consul = result.observation.consul if result.observation and result.observation.consul_enabled else None
        self._snapshot = Snapshot(desired, result.actual, consul, result.plan, self._rows)
        if result.actual is not None:
            self._observed = {"cycle": result.cycle_id, "at": self._last["at"]}

    def _write(self, counted: _Counted) -> _Books:
        """The store's part, on copies of what status reads: the loop may build a status meanwhile. The cycle's
        records (plans, synced revisions, autoscale decisions, each stamped with the cycle's time) all join the
        backlog before it is written, so that a store that fails keeps every one of them for a later cycle."""
        books = _Books(dict(self._facts), dict(self._autoscale))
        result, desired = counted.result, counted.desired
        try:
            for env in desired.environments:
                self._seed(env, books)
            settled = self._queue_cycle(counted, books)
            self._queue_approvals(counted, settled)
            self._queue_invalid(counted)
            self._queue_autoscale(result, books)
            self._queue_samples(result)
            if self._backlog is not None:
                self._backlog.write(result.cycle_id)
            self._remember(counted, books)
        except StoreError as exc:
            self.metrics.error("store")
            if self._backlog is not None:
                self._backlog.failed(exc)
            log.warning("cycle=%s event=store-write-failed error=%r", result.cycle_id, str(exc))
        else:
            if self._backlog is not None:
                self._backlog.answered()
        return books

    def _publish(self, books: _Books) -> None:
        self._facts, self._autoscale = books.facts, books.autoscale

    def _seed(self, env: str, books: _Books) -> None:
        """At the first sight of `env`: what the store knows of it (a restarted controller does not record
        again the revision it is synced to)."""
        if env in books.facts:
            return
        if self._store is None:
            books.facts[env] = EnvFacts()
            return
        try:
            facts = facts_from_store(self._store, env)
            invalid = self._store.last_env_event(env, [INVALID])
        except StoreError as exc:  # seeded at a later cycle, once the store answers
            log.warning("event=store-read-failed env=%s error=%r", env, str(exc))
            return
        books.facts[env] = facts
        self._invalid[env] = self._invalid_queued[env] = invalid.revision if invalid else ""
        if facts.synced_revision:
            self._synced[env] = (facts.synced_revision, facts.digest)

    def _remember(self, counted: _Counted, books: _Books) -> None:
        """The last error, heal, approval and pause of each environment, for status."""
        now = iso(datetime.now(UTC))
        result, source = counted.result, counted.source
        invalid = source.get("latest", "") != source.get("revision", "") and bool(source.get("error"))
        for env in counted.desired.environments:
            facts = books.facts.get(env, EnvFacts())
            error = _last_error(result, counted.grouped.get(env, ()), now)
            if invalid and self._invalid.get(env) != source["latest"]:
                self._invalid[env] = source["latest"]
                error = LastError(source["error"], now, source["latest"])
            heal = _last_heal(result, counted.grouped.get(env, ()), now)
            plan = self._store.awaiting_approval(env) if self._store is not None else None
            books.facts[env] = replace(
                facts, last_error=error or facts.last_error, last_heal=heal or facts.last_heal,
                approval=Pending(plan.revision, "awaiting-approval", plan_id=plan.id, digest=plan.digest)
                if plan else None,
                pause=pause_of(counted.pins.get(env)),
            )

    def _queue_invalid(self, counted: _Counted) -> None:
        """An invalid revision of the source joins the backlog once per environment, as an env event: a store
        that fails keeps it for a later cycle (it was marked recorded before its write, and lost)."""
        source = counted.source
        latest, error = source.get("latest", ""), source.get("error", "")
        if self._store is None or not error or latest == source.get("revision", ""):
            return
        detail = error.removeprefix(f"revision {latest[:12]} is invalid: ")[:4000]
        for env in counted.desired.environments:
            if self._invalid_queued.get(env) == latest:
                continue
            self._invalid_queued[env] = latest

            def write(store: Store, env: str = env) -> None:
                store.record_env_event(env, INVALID, revision=latest, detail=detail)

            self._later(counted.result.cycle_id, (f"invalid revision {latest[:12]} of {env}", write))

    def _queue_cycle(self, counted: _Counted, books: _Books) -> dict[str, bool]:
        """The cycle's plans and synced revisions join the backlog; whether each environment settled."""
        result, desired, grouped = counted.result, counted.desired, counted.grouped
        digests = env_digests(desired)
        settled: dict[str, bool] = {}
        for env in desired.environments:
            pin = counted.pins.get(env)
            revision = pin.revision if pin else desired.revision_of(env)
            executed = [a for a in grouped.get(env, ()) if a.outcome != Outcome.PLANNED]
            if executed:
                plan = executed_plan(env, revision, digests[env], executed, result.cycle_id, self._now())
                self._later(result.cycle_id, plan)
            settled[env] = result.ok and _settled(grouped.get(env, ()))
            if settled[env] and self._synced.get(env) != (revision, digests[env]):
                self._record_synced(env, revision, digests[env], counted, books, pinned=pin is not None)
        return settled

    def _queue_approvals(self, counted: _Counted, settled: dict[str, bool]) -> None:
        """The approval environments' outcomes join the backlog behind the cycle's plans, at the cycle's time.
        Not while the same outcome of the same approved state waits already (a later cycle's would mark
        nothing more), nor after the database refused it for good: each cycle would add one it refuses, and
        the outage would never end; a new outcome, or a new approved state, is queued again."""
        result, desired, grouped = counted.result, counted.desired, counted.grouped
        digests = env_digests(desired)
        for env in desired.environments:
            if self._backlog is None or not desired.environments[env].approval_required:
                continue
            outcome, detail = _approval_outcome(result, grouped.get(env, []), settled=settled[env])
            key, last = (outcome, digests[env]), self._outcomes.get(env)
            if last is not None and last[0] == key and last[1].fate in (WAITING, REFUSED):
                continue
            what, write = approval_outcome(env, desired, outcome, detail, self._now())
            self._outcomes[env] = (key, self._backlog.add(result.cycle_id, what, write))

    def _now(self) -> datetime:
        """The time a record of this cycle is stamped with, by the store's clock."""
        return self._store.now() if self._store is not None else datetime.now(UTC)

    def _later(self, cycle_id: str, record: tuple[str, Write]) -> None:
        if self._backlog is not None:
            self._backlog.add(cycle_id, *record)

    def _record_synced(
        self, env: str, revision: str, digest: str, counted: _Counted, books: _Books, *, pinned: bool
    ) -> None:
        """A newly synced revision: metrics, status, and in the store its row and (for a digest not
        recorded yet, what a later rollback re-applies) the environment's desired state."""
        previous = self._synced.get(env)
        self._synced[env] = (revision, digest)
        books.facts[env] = replace(books.facts.get(env, EnvFacts()), synced_revision=revision, digest=digest)
        self.metrics.set_synced(env, revision)
        at, source, desired = self._now(), counted.source.get("source", ""), counted.desired
        new_digest = not pinned and (previous is None or previous[1] != digest)

        def write(store: Store) -> None:
            store.record_synced(env, revision, digest, source=source, desired=desired if new_digest else None, at=at)

        self._later(counted.result.cycle_id, (f"revision {revision} of {env}", write))

    def _queue_autoscale(self, result: CycleResult, books: _Books) -> None:
        """A decision joins the backlog, at its cycle's time, when it differs from the app's last one (the
        count, the rule that limited it, or the recommendation): a steady state adds no rows."""
        if result.error is None:  # apps no longer autoscaled (or gone) leave the status
            kept = {scaling.app_id for scaling in result.autoscale}
            books.autoscale = {app: entry for app, entry in books.autoscale.items() if app in kept}
        for scaling in result.autoscale:
            document = {**scaling.document(), "cycle": result.cycle_id, "at": datetime.now(UTC).isoformat()}
            key = (scaling.current, scaling.desired, scaling.limited_by, scaling.recommendation)
            previous, books.autoscale[scaling.app_id] = books.autoscale.get(scaling.app_id), (key, document)
            if self._store is None or (previous is not None and previous[0] == key):
                continue
            self._later(result.cycle_id, decision(scaling, result.cycle_id, self._now()))

    def _queue_samples(self, result: CycleResult) -> None:
        """Every autoscaled app's inputs join the backlog, one insert per cycle, at the cycle's time; those still
        waiting past `samples_keep` leave it unwritten (the store would not add them)."""
        if self._backlog is None:
            return
        now, expired = self._now(), 0
        while self._samples and (self._samples[0][1].fate != WAITING
                                 or self._samples[0][0] < now - timedelta(seconds=self._samples_keep)):
            expired += self._backlog.expire(self._samples.popleft()[1])
        if expired:
            log.info("cycle=%s event=store-samples-expired records=%d keep_s=%g", result.cycle_id, expired,
                     self._samples_keep)
        rows = [SampleRow(s.env, s.app_id, s.current, s.inputs) for s in result.autoscale if s.inputs is not None]
        if rows:
            what, write = samples(result.cycle_id, rows, self._samples_keep, now)
            self._samples.append((now, self._backlog.add(result.cycle_id, what, write)))

    def status(self) -> dict[str, Any]:
        """The status document of `/status`: the controller's state, each autoscaled app's last decision
        (`autoscale`), then core/status.py's document."""
        source = dict(self._source())
        invalid = Pending(source["latest"], INVALID, source.get("error", "")) \
            if source.get("error") and source.get("latest") != source.get("revision") else None
        facts = {env: with_specs(f, source.get("revision", ""), invalid, self._held_back(env) if f.pause else "")
                 for env, f in sorted(self._facts.items())}
        built = build_status(self._snapshot, facts) if self._snapshot is not None else {"environments": {}, "apps": {}}
        return {"ready": self.ready, "cycles": self.cycles, "last_cycle": self._last, "observed": self._observed,
                "source": source,
                "store": self._store.url if self._store else None,
                "store_outage": self._backlog.status() if self._backlog is not None else None, "from": "controller",
                "autoscale": {app: entry[1] for app, entry in sorted(self._autoscale.items())}, **built}

    def _held_back(self, env: str) -> str:
        """The digest of the specs' state of paused `env` (what `status SPECS` shows too), hashed once
        per specs object; "" without the specs or when they lack `env`."""
        specs = self._specs() if self._specs is not None else None
        if specs is None or env not in specs.environments:
            return ""
        if self._specs_digests[0] is not specs:
            self._specs_digests = (specs, {})
        digests = self._specs_digests[1]
        if env not in digests:
            digests[env] = env_digest(specs, env)
        return digests[env]


def _last_error(result: CycleResult, actions: Iterable[Action], now: str) -> LastError | None:
    """This cycle's error for an environment: the cycle's own, else its last failed action."""
    if result.error:
        return LastError(result.error, now)
    failed = [a for a in actions if a.outcome == Outcome.FAILED]
    return LastError(f"{failed[-1].kind} {failed[-1].target} failed: {failed[-1].detail or failed[-1].reason}", now) \
        if failed else None


def _last_heal(result: CycleResult, actions: Iterable[Action], now: str) -> LastHeal | None:
    """This cycle's last heal of an environment (a kill that was sent), with the app of its task. A kill
    held back (refused) or skipped at the moment of the kill was never sent: not a heal that happened."""
    heals = [a for a in actions if is_heal(a) and a.outcome in SENT_HEALS]
    if not heals:
        return None
    apps = result.actual.apps.values() if result.actual else ()
    app = next((a.app_id for a in apps for t in a.tasks if t.task_id == heals[-1].target), "")
    return LastHeal(app, heals[-1].target, heals[-1].reason, str(heals[-1].outcome), now)


def _approval_outcome(result: CycleResult, actions: list[Action], *, settled: bool) -> tuple[str | None, str]:
    """What a cycle makes of a plan `approve` handed to the controller (engine/approvals.py): applied once
    a cycle of the approved state settled, failed while one of its writes fails, else nothing yet."""
    failed = [a for a in actions if a.outcome == Outcome.FAILED]
    done = sum(1 for a in actions if a.outcome == Outcome.SUCCEEDED)
    detail = f"by the controller in cycle {result.cycle_id}: {done} action(s) succeeded"
    if failed:
        return FAILED, f"{detail}, {len(failed)} failed ({failed[-1].kind} {failed[-1].target}); the controller retries"
    return (APPLIED if settled else None), detail


def _settled(actions: Iterable[Action]) -> bool:
    """Synced: every action this cycle had for the environment succeeded (none waits, none refused)."""
    return all(a.outcome == Outcome.SUCCEEDED or a.kind == ActionKind.WARN for a in actions)


def _limit_label(scaling: AppScaling) -> str:
    if scaling.decision is None:
        return "held"
    return scaling.limited_by or "none"
