"""Leader election through a Consul session and a KV lock, with failover within the TTL (engine layer).

Consul's recipe (every replica holds a session, `PUT /v1/kv/<key>?acquire=<session>` wins, standbys
watch the key with blocking queries), tuned so that a standby takes over within the session TTL T:

* The leader beats every P = W/2: it renews its session and re-acquires the key it holds (Consul
  answers `true` and bumps the key's ModifyIndex, a raft write). Each beat that succeeds proves the
  session was alive when Consul handled it, after the leader sent it. The leader does not watch its
  own key: its beats tell it of a loss, so an idle leader costs Consul two requests per beat.
* The session asks for LockDelay L = 0.4 T (at most Consul's 60 s): after ANY invalidation of the
  session (TTL, destroy, failed check) Consul refuses every acquire of the key for L
  (agent/consul/kvs_endpoint.go kvsPreApply; agent/consul/state/session.go deleteSessionTxn).
* `may_write()` holds until (send time of the last successful beat) + W, W = L - L/6. A beat that
  succeeded was handled before the invalidation, so nobody can hold the lock before send + L: the
  old leader stops writing at least L/6 (1 s at T = 15 s) before a new one may start, which covers
  clock-rate drift and a write already on the wire. This holds whoever ends the session and however
  late Consul's own TTL timer fires (it waits up to 2 T: agent/consul/session_ttl.go).
* A standby that sees the key unchanged for D = L on its own clock (2.4 beats) re-reads it and, still
  unchanged, destroys the holder's session, then acquires once the lock-delay ends.

The beats run on the controller's event loop, so that they also prove the loop runs (a wedged
controller loses the lock); a cycle's CPU work runs in a worker thread (engine/sync.py) to keep their pace.

So after a SIGKILL the standby leads within D + L + a retry = 0.8 T + 0.5 s (12.5 s at T = 15 s);
after a lost session within L + 0.5 s; a leader cut off from Consul stops writing W after its last
beat. Deposing a live but slow leader is safe (the lock-delay fences it), only needless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from reconciler.consul import wire
from reconciler.consul.blocking import BlockingState
from reconciler.consul.errors import ConsulNotFound
from reconciler.engine.lock_key import DEFAULT_KEY
from reconciler.engine.ownership import LockRecord
from reconciler.errors import RemoteError

log = logging.getLogger("reconciler.leader")
MAX_LOCK_DELAY = 60.0  # Consul refuses a longer LockDelay (structs.MaxLockDelay)
BEAT_FAILED_LOG_EVERY = 60.0  # seconds (our clock) between two leader-beat-failed lines of one outage

__all__ = ["DEFAULT_KEY", "LeaderElector", "LeaderOptions", "LockPort", "write_deadline"]


class LockPort(Protocol):
    """The Consul endpoints of the recipe (ConsulClient has them)."""

    async def put_session_create(
        self, *, name: str, ttl: str = "15s", behavior: str = "release", lock_delay: str = "15s",
        node_checks: list[str] | None = None,
    ) -> str: ...

    async def put_session_renew(self, session_id: str) -> wire.Session: ...

    async def put_session_destroy(self, session_id: str) -> bool: ...

    async def get_kv(self, key: str, *, block: BlockingState | None = None) -> tuple[wire.KVPair | None, BlockingState]:
        ...

    async def put_kv(
        self, key: str, value: bytes, *, cas: int | None = None, acquire: str | None = None, release: str | None = None
    ) -> bool: ...


@dataclass(frozen=True)
class LeaderOptions:
    identity: str  # who holds the lock, as status and refusals name it (host:port of the controller)
    key: str = DEFAULT_KEY
    ttl: float = 15.0  # the session TTL Consul is asked for (10 s .. 24 h)
    # Seconds on our clock per nominal second of Consul's: 1 against a real Consul; a sandbox started
    # with session_time_scale=s runs sessions s times faster, so its electors use the same s.
    time_scale: float = 1.0

    @property
    def lock_delay(self) -> float:
        """L: how long Consul bars the key after the holder's session ends."""
        return min(0.4 * self.ttl, MAX_LOCK_DELAY)

    @property
    def write_window(self) -> float:
        """W: how long after sending a successful beat the leader may write."""
        return self.lock_delay - self.lock_delay / 6

    @property
    def beat_every(self) -> float:
        """P: renew and re-acquire this often (two beats fit in W; never rarer than TTL/6)."""
        return self.write_window / 2

    @property
    def depose_after(self) -> float:
        """D: a holder whose key has not moved for this long (a standby's clock) is presumed dead."""
        return self.lock_delay

    def scaled(self, nominal_seconds: float) -> float:
        return nominal_seconds * self.time_scale


def write_deadline(beat_sent_at: float, window: float) -> float:
    """Until when a leader may write after a successful beat sent at `beat_sent_at` (same clock)."""
    return beat_sent_at + window


def _duration(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


def _now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass
class _Term:
    """The current session, and the lock while held."""

    session: str | None = None
    held: bool = False
    beat_sent_at: float = float("-inf")  # send time of the last beat Consul accepted
    since: str = ""  # when this replica took the lock (wall clock, for the record)
    holder: str = ""  # identity of whoever holds the lock, as last seen


@dataclass
class _Watch:
    """What a standby last saw of someone else's lock, and when it saw it move (its own clock)."""

    session: str = ""
    index: int = 0
    moved_at: float = 0.0


@dataclass
class _FailedBeats:
    """Beats failed in a row. A Consul outage fails a beat every P for its whole length: the first is
    logged, then at most one line a minute with the count, and one line when a beat succeeds again."""

    count: int = 0
    logged_at: float = float("-inf")

    def failed(self, error: str, now: float) -> None:
        self.count += 1
        if self.count == 1 or now - self.logged_at >= BEAT_FAILED_LOG_EVERY:
            self.logged_at = now
            log.warning("event=leader-beat-failed failed_beats=%d error=%r", self.count, error)

    def succeeded(self) -> None:
        if self.count:
            # At WARNING as the failures were: a log read at WARNING must not end on an outage that is over.
            log.warning("event=leader-beat-recovered failed_beats=%d", self.count)
        self.count = 0
        self.logged_at = float("-inf")


class LeaderElector:
    """Campaigns for the lock until `stop()`; `may_write()` tells writers whether they may write now."""

    def __init__(
        self, consul: LockPort, options: LeaderOptions, *, clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[bool], None] | None = None, owned: Callable[[], Sequence[str] | None] | None = None,
    ) -> None:
        self._consul = consul
        self._options = options
        self._clock = clock
        self._on_change = on_change
        self._owned = owned or (lambda: None)  # the environments this replica reconciles (None: all)
        self._term = _Term()
        self._watch = _Watch()
        self._stopping = asyncio.Event()
        self._released = asyncio.Event()  # set when this replica stops holding the lock
        self._failed_beats = _FailedBeats()

    # -- what writers and status ask ------------------------------------------------------------

    def may_write(self) -> bool:
        deadline = write_deadline(self._term.beat_sent_at, self._options.scaled(self._options.write_window))
        return self._term.held and self._clock() < deadline

    @property
    def is_leader(self) -> bool:
        return self._term.held

    @property
    def since(self) -> str:
        """When this replica took the lock (UTC, ISO 8601); '' while it does not hold it."""
        return self._term.since if self._term.held else ""

    @property
    def holder(self) -> str:
        """The identity of the current leader ('' when nobody holds the lock)."""
        return self._options.identity if self._term.held else self._term.holder

    # -- the campaign ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Campaigns and beats until stop(); then releases the lock and destroys the session."""
        beater = asyncio.create_task(self._beat_loop())
        try:
            await self._campaign_loop()
        finally:
            beater.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beater
        await self._step_down()

    def stop(self) -> None:
        self._stopping.set()

    async def _campaign_loop(self) -> None:
        state = BlockingState()
        while not self._stopping.is_set():
            try:
                state = await self._campaign_once(state)
            except RemoteError as exc:  # a leader keeps the lock as last seen; may_write() lapses on its own
                log.warning("event=leader-campaign-failed error=%r", str(exc))
                await self._pause(self._options.beat_every)
                state = BlockingState()

    def _wait(self) -> str:
        """Block at most a beat, and wake when a watched holder is due to be deposed."""
        o = self._options
        due = o.beat_every
        if self._watch.session:
            due = o.depose_after - (self._clock() - self._watch.moved_at) / o.time_scale
        return _duration(o.scaled(max(0.05, min(o.beat_every, due))))

    async def _campaign_once(self, state: BlockingState) -> BlockingState:
        if self._term.session is None:
            await self._create_session()
        pair, state = await self._consul.get_kv(self._options.key, block=replace(state, wait=self._wait()))
        holder_session = pair.session if pair else ""
        if not (pair is not None and holder_session and holder_session != self._term.session):
            self._watch = _Watch()  # nobody else holds it: nothing to depose
        if holder_session and holder_session == self._term.session:
            self._set_held(True)
            await self._while_held()
        elif pair is not None and holder_session:
            self._set_held(False)
            self._term.holder = LockRecord.decode(pair.value).holder
            await self._watch_holder(pair)
        elif not await self._acquire():
            # Free but refused: the last holder's lock-delay runs, and nobody else can take the key
            # meanwhile: try again shortly rather than block on its index.
            self._term.holder = ""
            await self._pause(min(0.5, self._options.lock_delay / 4))
            return replace(state, index=0)
        return state

    async def _while_held(self) -> None:
        """A leader learns of a lost lock from its own beats (a refused re-acquire, a lost session), and
        may_write() lapses by its clock whatever happens; a blocking read of the key would only wake on
        each of its own beats' writes, a request per beat for nothing. So it waits until it no longer
        holds the lock, or stops."""
        waits = [asyncio.ensure_future(self._released.wait()), asyncio.ensure_future(self._stopping.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    async def _watch_holder(self, pair: wire.KVPair) -> None:
        """Notes when the holder's key last moved; deposes a holder silent for D."""
        now, watch = self._clock(), self._watch
        if (pair.session, pair.modify_index) != (watch.session, watch.index):
            self._watch = _Watch(pair.session, pair.modify_index, now)
            return
        if now - watch.moved_at < self._options.scaled(self._options.depose_after):
            return
        fresh, _ = await self._consul.get_kv(self._options.key)  # a stale blocking answer must not depose
        if fresh is None or (fresh.session, fresh.modify_index) != (watch.session, watch.index):
            return
        log.warning("event=leader-deposed holder=%r session=%s silent_for=%.1fs", self._term.holder, watch.session,
                    (now - watch.moved_at) / self._options.time_scale)
        await self._consul.put_session_destroy(watch.session)
        self._watch = _Watch()

    async def _create_session(self) -> None:
        o = self._options
        self._term.session = await self._consul.put_session_create(
            name=f"marathon-reconciler leader {o.identity}", ttl=_duration(o.ttl), behavior="release",
            lock_delay=_duration(o.lock_delay),
        )
        log.info("event=leader-session-created session=%s", self._term.session)

    def _record(self) -> bytes:
        owned = self._owned()
        return LockRecord(self._options.identity, self._term.since, None if owned is None else tuple(owned)).encode()

    async def _acquire(self) -> bool:
        """Takes the free lock; True when this replica now holds it."""
        session = self._term.session
        if session is None:
            return False
        self._term.since = _now_iso()
        sent = self._clock()
        if not await self._consul.put_kv(self._options.key, self._record(), acquire=session):
            return False
        # An acquire with a live session proves the session was alive when Consul processed it.
        self._term.beat_sent_at = max(self._term.beat_sent_at, sent)
        self._set_held(True)
        return True

    async def _beat_loop(self) -> None:
        every = self._options.scaled(self._options.beat_every)
        while True:
            due = self._clock() + every
            await asyncio.sleep(every)
            self._note_late(self._clock() - due)
            session = self._term.session
            if session is None:
                continue
            try:
                await self._beat(session)
            except ConsulNotFound:
                log.warning("event=leader-session-lost session=%s", session)
                self._failed_beats = _FailedBeats()
                self._lose(session)
            except RemoteError as exc:  # may_write() lapses by itself if this goes on
                self._failed_beats.failed(str(exc), self._clock())
            else:
                self._failed_beats.succeeded()

    async def _beat(self, session: str) -> None:
        """Renews the session and, while leading, re-acquires the key; each success extends may_write()."""
        sent = self._clock()
        await self._consul.put_session_renew(session)
        if not self._term.held:
            return
        if not await self._consul.put_kv(self._options.key, self._record(), acquire=session):
            log.warning("event=leader-lock-lost session=%s", session)
            self._set_held(False)
            return
        if self._term.session == session:
            self._term.beat_sent_at = max(self._term.beat_sent_at, sent)

    def _note_late(self, late: float) -> None:
        """A beat woken half a beat late: something held the event loop (a beat a whole beat late lets
        may_write() lapse). The CPU work of a cycle runs in a worker thread (engine/sync.py) for this."""
        if late > self._options.scaled(self._options.beat_every) / 2:
            log.warning("event=leader-beat-late late=%.1fs", late / self._options.time_scale)

    def _lose(self, session: str) -> None:
        if self._term.session == session:
            self._term.session = None
            self._set_held(False)

    async def _pause(self, nominal_seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), self._options.scaled(nominal_seconds))

    async def _step_down(self) -> None:
        """Releases the lock and destroys the session, so a standby need not wait: a release sets no
        lock-delay (only an invalidation does), and the session goes with nothing held."""
        session, held = self._term.session, self._term.held
        self._set_held(False, event="leader-released")
        self._term.session = None
        if session is None:
            return
        with contextlib.suppress(RemoteError):
            if held:
                await self._consul.put_kv(self._options.key, b"", release=session)
            await self._consul.put_session_destroy(session)

    def _set_held(self, held: bool, *, event: str = "leader-lost") -> None:
        """`event`: what an operator reads when this replica stops holding the lock (lost, or released)."""
        if held == self._term.held:
            return
        self._term.held = held
        if held:
            self._released.clear()
        else:
            self._term.beat_sent_at = float("-inf")
            self._released.set()
        self._term.holder = ""  # whoever held it before this change is no news
        log.info("event=%s identity=%s", "leader-elected" if held else event, self._options.identity)
        if self._on_change is not None:
            self._on_change(held)
