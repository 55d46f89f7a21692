"""Trigger sources of the controller (engine layer): Consul health changes and Marathon events.

A source is an async iterator of reasons; each reason only asks for a cycle soon (it carries no state).
The Consul source long-polls `GET /v1/health/state/any` (FACTS §5 blocking rules, a token bucket), reads
of each check only node, id and status, and yields when one of ours changed status (a recovery to
passing a few seconds later, with the others of then); the Marathon source yields each event's type,
and asks for one cycle when its stream opens again after a break.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from reconciler.consul.blocking import BlockingState
from reconciler.consul.translate import WatchedCheck
from reconciler.core.registry import MANAGED_TAG, CheckStatus
from reconciler.engine.ports import ConsulPort

# Marathon events after which the actual state may have left the desired one.
MARATHON_TRIGGER_EVENTS = (
    "status_update_event",
    "deployment_success",
    "deployment_failed",
    "app_terminated_event",
    "unhealthy_instance_kill_event",
    "health_status_changed_event",
)


class TokenBucket:
    """At most `rate` reads a second on average, with bursts of `burst`: a flapping check cannot spin us."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._at = time.monotonic()

    async def take(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1:
            await asyncio.sleep((1 - self._tokens) / self.rate)
            self._tokens, self._at = 1.0, time.monotonic()
        self._tokens -= 1


Fingerprint = frozenset[tuple[str, str, str]]
# A recovery needs no action (a heal decision reads a fresh observation anyway), only a fresher status:
# recoveries within this many seconds share one cycle. After a registration burst, every new check
# passes at its first probe, staggered over one interval: one cycle each would keep the controller busy.
RECOVERY_DELAY_SECONDS = 5.0


def health_fingerprint(checks: Sequence[WatchedCheck]) -> Fingerprint:
    """The statuses that matter to us: node checks, and service checks of our instances (the client keeps
    only those: `get_watched_checks(MANAGED_TAG)`)."""
    return frozenset(checks)


def only_recoveries(before: Fingerprint, after: Fingerprint) -> bool:
    """Whether every change from `before` to `after` is a check that went back to passing (none came,
    went, or left passing)."""
    was = {(node, check): status for node, check, status in before}
    now = {(node, check): status for node, check, status in after}
    return was.keys() == now.keys() and all(status == CheckStatus.PASSING for status in
                                            (now[key] for key in now if now[key] != was[key]))


async def consul_health_changes(
    consul: ConsulPort, *, wait: str = "5m", bucket: TokenBucket | None = None,
    recovery_delay: float = RECOVERY_DELAY_SECONDS,
) -> AsyncIterator[str]:
    """Yields `consul:health` whenever one of our checks (or a node check) changes status: at once for a
    check that came, went or left passing; `recovery_delay` seconds after the first of recoveries alone."""
    bucket = bucket or TokenBucket(rate=5.0, burst=5)
    state = BlockingState(wait=wait)
    seen: Fingerprint | None = None
    recovered_at: float | None = None  # the first recovery not reported yet
    while True:
        await bucket.take()
        block = state
        if recovered_at is not None:  # wake up when the recoveries are due, whatever else happens
            due = max(recovery_delay - (time.monotonic() - recovered_at), 0.001)
            block = replace(state, wait=f"{max(int(due * 1000), 1)}ms")
        checks, state = await consul.get_watched_checks(MANAGED_TAG, block=block)
        state = replace(state, wait=wait)
        fingerprint = seen if checks is None else health_fingerprint(checks)  # None: no check changed
        if seen is not None and fingerprint is not None and fingerprint != seen:
            if not only_recoveries(seen, fingerprint):
                recovered_at = None
                yield "consul:health"
            elif recovered_at is None:
                recovered_at = time.monotonic()
        seen = fingerprint
        if recovered_at is not None and time.monotonic() - recovered_at >= recovery_delay:
            recovered_at = None
            yield "consul:health"


class EventStream(Protocol):
    def stream_event_types(self, event_types: Sequence[str] = (), *, opened: str | None = None) -> AsyncIterator[str]:
        ...


# Yielded by the stream once open: an empty string, which no event type is.
_OPENED = ""
RECONNECTED = "marathon-events-reconnected"


@dataclass
class StreamConnects:
    """How often the event stream opened, kept across the restarts of its trigger source."""

    count: int = 0


async def marathon_events(marathon: EventStream, connects: StreamConnects | None = None) -> AsyncIterator[str]:
    """Yields `marathon:<event type>` for every event that may move the actual state, and `RECONNECTED`
    when the stream opens again after a break (given the `connects` of the previous openings): events
    sent while it was down are lost, so one cycle looks afresh rather than wait for a retry or resync."""
    connects = connects if connects is not None else StreamConnects()
    async for event_type in marathon.stream_event_types(MARATHON_TRIGGER_EVENTS, opened=_OPENED):
        if event_type != _OPENED:
            yield f"marathon:{event_type}"
            continue
        connects.count += 1
        if connects.count > 1:
            yield RECONNECTED
