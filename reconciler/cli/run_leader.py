"""Leader election for `reconciler run` (face layer): only the replica holding the Consul lock cycles.

A standby drops its triggers and serves status naming the leader; when it wins the lock it cycles at
once. Without Consul (or with --no-leader-election) there is no election and the replica always cycles.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.consul.client import ConsulClient
from reconciler.engine.leader import DEFAULT_KEY, LeaderElector, LeaderOptions
from reconciler.web.server import Readiness

log = logging.getLogger("reconciler.leader")


@dataclass(frozen=True)
class LeaderSettings:
    enabled: bool = True
    key: str = DEFAULT_KEY
    ttl: float = 15.0


class Leadership:
    def __init__(self, settings: LeaderSettings, consul: ConsulClient | None) -> None:
        self._settings = settings
        self._consul = consul if settings.enabled else None
        self._elector: LeaderElector | None = None

    @property
    def enabled(self) -> bool:
        return self._consul is not None

    def may_cycle(self) -> bool:
        return self._elector.may_write() if self._elector is not None else not self.enabled

    def readiness(self, first_cycle_done: bool) -> Readiness:
        if self._elector is not None and not self._elector.is_leader:
            holder = self._elector.holder or "nobody yet"
            return Readiness(True, f"standby (leader: {holder})")
        if self.enabled and not self.may_cycle():
            return Readiness(False, "leader without a fresh lock")
        return Readiness(first_cycle_done, "ready" if first_cycle_done else "first cycle not done")

    def status(self) -> dict[str, Any]:
        if self._elector is None:
            return {"election": False}
        return {"election": True, "key": self._settings.key, "leader": self._elector.is_leader,
                "may_write": self._elector.may_write(), "holder": self._elector.holder, "since": self._elector.since}

    async def start(
        self, stack: contextlib.AsyncExitStack, identity: str, on_change: Callable[[bool], None],
        owned: Callable[[], Sequence[str] | None],
    ) -> None:
        """Campaigns until the stack closes; then steps down (releases the lock) before the client closes.
        `owned` names the environments the lock record says this controller reconciles."""
        if self._consul is None:
            return
        options = LeaderOptions(identity=identity, key=self._settings.key, ttl=self._settings.ttl)
        self._elector = LeaderElector(self._consul, options, on_change=on_change, owned=owned)
        task = asyncio.create_task(self._elector.run())
        log.info("event=leader-campaign identity=%s key=%s ttl=%.0fs lock_delay=%.1fs beat=%.1fs", identity,
                 options.key, options.ttl, options.lock_delay, options.beat_every)

        async def step_down() -> None:
            assert self._elector is not None
            self._elector.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 10)

        stack.push_async_callback(step_down)
