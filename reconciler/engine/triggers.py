"""Trigger sources of the controller (engine layer): Consul health changes and Marathon events.

A source is an async iterator of reasons; each reason only asks for a cycle soon (it carries no
state). The Consul source long-polls `GET /v1/health/state/any` with `index`/`wait` (FACTS §5: an
index that goes backwards resets to 0, the index never stays 0, the loop is rate-limited by a token
bucket) and yields when the status of one of our checks changed, not on every spurious wake-up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from reconciler.consul import wire
from reconciler.consul.blocking import BlockingState
from reconciler.core.registry import MANAGED_TAG
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


def health_fingerprint(checks: Sequence[wire.HealthCheck]) -> frozenset[tuple[str, str, str]]:
    """The statuses that matter to us: node checks, and service checks of our instances."""
    return frozenset(
        (c.node, c.check_id, c.status) for c in checks if not c.service_id or MANAGED_TAG in c.service_tags
    )


async def consul_health_changes(
    consul: ConsulPort, *, wait: str = "5m", bucket: TokenBucket | None = None
) -> AsyncIterator[str]:
    """Yields `consul:health` whenever one of our checks (or a node check) changes status."""
    bucket = bucket or TokenBucket(rate=5.0, burst=5)
    state = BlockingState(wait=wait)
    seen: frozenset[tuple[str, str, str]] | None = None
    while True:
        await bucket.take()
        checks, state = await consul.get_health_state("any", block=state)
        fingerprint = health_fingerprint(checks)
        if seen is not None and fingerprint != seen:
            yield "consul:health"
        seen = fingerprint


class EventStream(Protocol):
    def stream_events(self, event_types: Sequence[str] = ()) -> AsyncIterator[Any]: ...


async def marathon_events(marathon: EventStream) -> AsyncIterator[str]:
    """Yields `marathon:<event type>` for every event that may move the actual state."""
    async for event in marathon.stream_events(MARATHON_TRIGGER_EVENTS):
        yield f"marathon:{event.event_type}"
