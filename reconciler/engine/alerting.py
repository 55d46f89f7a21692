"""What the controller feeds the notifier (engine layer): a cycle's alerts, the feed's, the leader lock's.

CycleAlerts carries the AlertMemory from cycle to cycle and judges each completed cycle (a failed one
changes nothing: its alerts stay as they were); LeaderWatch remembers whether this replica has led
and since when nobody holds the lock. Detection itself is pure (core/alerts.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from reconciler.core.alerts import (
    Alert,
    AlertMemory,
    AlertOptions,
    CycleFacts,
    LeaderView,
    cycle_alerts,
    invalid_commit_alert,
    leader_alerts,
    source_stale_alert,
)
from reconciler.core.heal import HealMemory
from reconciler.core.model import Desired
from reconciler.engine.cycle import CycleResult
from reconciler.engine.sourcing import FeedState


class CycleAlerts:
    def __init__(self, options: AlertOptions = AlertOptions(), *, clock: Callable[[], float] = time.monotonic) -> None:
        self._options = options
        self._clock = clock
        self._memory = AlertMemory()

    def judge(self, result: CycleResult, desired: Desired, heals: HealMemory) -> tuple[Alert, ...] | None:
        """The alerts of a cycle that observed everything and planned; None otherwise (a cycle that
        failed, or saw only part of Marathon or Consul, clears nothing)."""
        observation = result.observation
        if result.plan is None or result.actual is None or observation is None or not observation.complete:
            return None
        consul = observation.consul if observation.consul_enabled else None
        actions = result.execution.actions if result.execution else result.plan.actions
        recommendations = {s.app_id: s.recommendation for s in result.autoscale}
        facts = CycleFacts(desired, result.actual, consul, actions, heals, recommendations)
        alerts, self._memory = cycle_alerts(facts, self._memory, self._clock(), self._options)
        return alerts


def feed_alerts(state: FeedState) -> tuple[Alert, ...]:
    invalid = invalid_commit_alert(state.source, state.revision, state.latest, state.problems)
    stale = source_stale_alert(state.source, state.failed_fetches, state.fetched_at, state.error)
    return tuple(alert for alert in (invalid, stale) if alert is not None)


class LeaderWatch:
    """Turns the elector's answers (leading, holder) into a LeaderView over time."""

    def __init__(self, key: str, ttl: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._key = key
        self._ttl = ttl
        self._clock = clock
        self._led = False
        self._nobody_since: float | None = None

    def judge(self, identity: str, *, leading: bool, holder: str) -> tuple[Alert, ...]:
        """The lock's alerts now, given whether this replica leads (holds and may write) and who holds it."""
        now = self._clock()
        self._led = self._led or leading
        if holder or leading:
            self._nobody_since = None
        elif self._nobody_since is None:
            self._nobody_since = now
        view = LeaderView(identity, self._key, self._ttl, self._led, leading, holder, self._nobody_since)
        return leader_alerts(view, now)
