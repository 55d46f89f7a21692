"""Leader election through a Consul session and a KV lock (engine layer).

The recipe of Consul's "application leader election" guide: every replica holds a TTL session and
tries `PUT /v1/kv/<key>?acquire=<session>`; the holder renews its session every TTL/3 and watches the
key; the others watch the key with blocking queries and try again when it is free (after the
lock-delay). Only `may_write()` matters to writers: it is true while the lock is held AND the last
successful renewal is recent enough that Consul cannot have expired the session yet, minus a margin,
so a leader cut off from Consul stops writing before any standby can take over.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from reconciler.consul import wire
from reconciler.consul.blocking import BlockingState
from reconciler.consul.errors import ConsulNotFound
from reconciler.errors import RemoteError

log = logging.getLogger("reconciler.leader")
DEFAULT_KEY = "service/marathon-reconciler/leader"


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
    def renew_every(self) -> float:
        return self.ttl / 3

    @property
    def write_margin(self) -> float:
        """Stop writing this long before the earliest moment Consul may expire an unrenewed session."""
        return self.ttl / 3

    @property
    def lock_delay(self) -> float:
        """Longer than one renewal period: a leader whose session was destroyed learns it (its renewal
        gets 404) before anyone else may take the lock."""
        return self.ttl / 2


def write_deadline(renew_sent_at: float, ttl: float, margin: float) -> float:
    """Until when a leader may write after a renewal sent at `renew_sent_at` (same clock, seconds).

    Consul restarts the TTL when it processes the renewal, which is after it was sent, and never
    expires before the TTL: so before sent + ttl the session is certainly alive."""
    return renew_sent_at + ttl - margin


def _duration(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


@dataclass
class _Term:
    """The current session, and the lock while held."""

    session: str | None = None
    held: bool = False
    renew_sent_at: float = 0.0
    holder: str = ""  # identity of whoever holds the lock, as last seen


class LeaderElector:
    """Campaigns for the lock until `stop()`; `may_write()` tells writers whether they may write now."""

    def __init__(
        self, consul: LockPort, options: LeaderOptions, *, clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self._consul = consul
        self._options = options
        self._clock = clock
        self._on_change = on_change
        self._term = _Term()
        self._stopping = asyncio.Event()

    # -- what writers and status ask ------------------------------------------------------------

    def may_write(self) -> bool:
        o = self._options
        deadline = write_deadline(self._term.renew_sent_at, o.ttl * o.time_scale, o.write_margin * o.time_scale)
        return self._term.held and self._clock() < deadline

    @property
    def is_leader(self) -> bool:
        return self._term.held

    @property
    def holder(self) -> str:
        """The identity of the current leader ('' when nobody holds the lock)."""
        return self._options.identity if self._term.held else self._term.holder

    # -- the campaign ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Campaigns and renews until stop(); then releases the lock and destroys the session."""
        renewer = asyncio.create_task(self._renew_loop())
        try:
            await self._campaign_loop()
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
        await self._step_down()

    def stop(self) -> None:
        self._stopping.set()

    async def _campaign_loop(self) -> None:
        state = BlockingState(wait=_duration(self._options.renew_every * self._options.time_scale))
        while not self._stopping.is_set():
            try:
                state = await self._campaign_once(state)
            except RemoteError as exc:  # a leader keeps the lock as last seen; may_write() lapses on its own
                log.warning("event=leader-campaign-failed error=%r", str(exc))
                await self._pause(self._options.renew_every)
                state = BlockingState(wait=state.wait)

    async def _campaign_once(self, state: BlockingState) -> BlockingState:
        if self._term.session is None:
            await self._create_session()
        pair, state = await self._consul.get_kv(self._options.key, block=state)
        holder_session = pair.session if pair else ""
        if holder_session and holder_session == self._term.session:
            self._set_held(True)
        elif holder_session:
            self._set_held(False)
            self._term.holder = _identity_of(pair)
        elif not await self._acquire():
            # Free but refused: the last holder's lock-delay runs. Nothing else may write the key
            # meanwhile, so try again after a pause rather than block on its index.
            await self._pause(min(1.0, self._options.lock_delay))
            return replace(state, index=0)
        return state

    async def _create_session(self) -> None:
        o = self._options
        sent = self._clock()
        self._term.session = await self._consul.put_session_create(
            name=f"marathon-reconciler leader {o.identity}", ttl=_duration(o.ttl), behavior="release",
            lock_delay=_duration(o.lock_delay),
        )
        self._term.renew_sent_at = sent
        log.info("event=leader-session-created session=%s", self._term.session)

    async def _acquire(self) -> bool:
        session = self._term.session
        if session is None:
            return False
        sent = self._clock()
        body = json.dumps({"holder": self._options.identity}).encode()
        if not await self._consul.put_kv(self._options.key, body, acquire=session):
            return False
        # An acquire with a live session proves the session was alive when Consul processed it.
        self._term.renew_sent_at = max(self._term.renew_sent_at, sent)
        self._set_held(True)
        return True

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self._options.renew_every * self._options.time_scale)
            session = self._term.session
            if session is None:
                continue
            sent = self._clock()
            try:
                await self._consul.put_session_renew(session)
            except ConsulNotFound:
                log.warning("event=leader-session-lost session=%s", session)
                self._term.session = None
                self._set_held(False)
            except RemoteError as exc:  # may_write() lapses by itself if this goes on
                log.warning("event=leader-renew-failed error=%r", str(exc))
            else:
                self._term.renew_sent_at = sent

    async def _pause(self, nominal_seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), nominal_seconds * self._options.time_scale)

    async def _step_down(self) -> None:
        """Releases the lock and destroys the session, so a standby need not wait for the TTL."""
        session, held = self._term.session, self._term.held
        self._set_held(False)
        self._term.session = None
        if session is None:
            return
        with contextlib.suppress(RemoteError):
            if held:
                await self._consul.put_kv(self._options.key, b"", release=session)
            await self._consul.put_session_destroy(session)

    def _set_held(self, held: bool) -> None:
        if held == self._term.held:
            return
        self._term.held = held
        log.info("event=%s identity=%s", "leader-elected" if held else "leader-lost", self._options.identity)
        if self._on_change is not None:
            self._on_change(held)


def _identity_of(pair: wire.KVPair | None) -> str:
    try:
        return str(json.loads(pair.value or b"{}").get("holder", "")) if pair else ""
    except (ValueError, AttributeError):
        return ""
