"""The leader's beats through a Consul outage (engine/leader.py), with an in-memory lock port and a
clock the test moves: the first failed beat is logged, then at most one line a minute with the count
of failed beats, and one `leader-beat-recovered` line when a beat succeeds again; meanwhile the gauge
`reconciler_leader_may_write` drops to 0 while `reconciler_leader` (the lock held) stays 1."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest

from reconciler.consul import wire
from reconciler.consul.blocking import BlockingState
from reconciler.engine.leader import LeaderElector, LeaderOptions
from reconciler.engine.telemetry import ControllerMetrics
from reconciler.errors import RemoteUnavailable

DEADLINE_S = 20.0


class FlakyLock:
    """One session, one key; while `down`, every request fails as an unreachable Consul would."""

    def __init__(self) -> None:
        self.down = False
        self.holder = ""
        self.index = 0
        self.failed = 0  # requests refused while down

    def _reach(self) -> None:
        if self.down:
            self.failed += 1
            raise RemoteUnavailable("consul: connection refused")

    async def put_session_create(self, **_: object) -> str:
        self._reach()
        return "s1"

    async def put_session_renew(self, session_id: str) -> wire.Session:
        self._reach()
        return wire.Session.model_validate({"ID": session_id})

    async def put_session_destroy(self, session_id: str) -> bool:
        return True

    async def get_kv(self, key: str, *, block: BlockingState | None = None) -> tuple[wire.KVPair | None, BlockingState]:
        self._reach()
        pair = wire.KVPair.model_validate({"Key": key, "Session": self.holder, "ModifyIndex": self.index})
        return (pair if self.holder else None), BlockingState(index=self.index)

    async def put_kv(
        self, key: str, value: bytes, *, cas: int | None = None, acquire: str | None = None, release: str | None = None
    ) -> bool:
        self._reach()
        self.index += 1
        self.holder = acquire or ("" if release else self.holder)
        return True


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.005)


def lines(caplog: pytest.LogCaptureFixture, event: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if f"event={event} " in r.getMessage() + " "]


async def test_an_outage_logs_its_first_failed_beat_then_one_line_a_minute_then_the_recovery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="reconciler.leader")
    lock, skew = FlakyLock(), [0.0]
    elector = LeaderElector(lock, LeaderOptions(identity="ctl", ttl=10.0, time_scale=0.01),
                            clock=lambda: time.monotonic() + skew[0])
    running = asyncio.create_task(elector.run())
    try:
        await until(elector.may_write, "the elector leads")
        lock.down = True
        await until(lambda: lock.failed >= 5, "five beats fail")
        failed = lines(caplog, "leader-beat-failed")
        assert len(failed) == 1 and "failed_beats=1 " in failed[0] and "connection refused" in failed[0], failed
        assert not elector.may_write()  # the write window lapsed meanwhile

        skew[0] += 61.0  # a minute later on the elector's clock, the outage goes on
        seen = lock.failed
        await until(lambda: lock.failed >= seen + 3, "three more beats fail")
        failed = lines(caplog, "leader-beat-failed")
        assert len(failed) == 2 and "failed_beats=1 " not in failed[1], failed

        lock.down = False
        await until(elector.may_write, "a beat succeeds again")
        await until(lambda: bool(lines(caplog, "leader-beat-recovered")), "the recovery is logged")
        recovered = lines(caplog, "leader-beat-recovered")
        assert len(recovered) == 1 and f"failed_beats={lock.failed}" in recovered[0], (recovered, lock.failed)
        assert len(lines(caplog, "leader-beat-failed")) == 2
    finally:
        elector.stop()
        await asyncio.wait_for(running, 10)


def gauge(metrics: ControllerMetrics, name: str) -> float | None:
    return metrics.registry.get_sample_value(name)


async def test_the_may_write_gauge_drops_while_the_leader_cannot_beat_and_holds_the_lock() -> None:
    lock, metrics = FlakyLock(), ControllerMetrics()
    elector = LeaderElector(lock, LeaderOptions(identity="ctl", ttl=10.0, time_scale=0.01),
                            on_change=metrics.set_leader)
    metrics.follow_may_write(elector.may_write)
    assert gauge(metrics, "reconciler_leader_may_write") == 0
    running = asyncio.create_task(elector.run())
    try:
        await until(elector.may_write, "the elector leads")
        assert gauge(metrics, "reconciler_leader_may_write") == 1 and gauge(metrics, "reconciler_leader") == 1
        lock.down = True
        await until(lambda: gauge(metrics, "reconciler_leader_may_write") == 0, "the write window lapses")
        assert gauge(metrics, "reconciler_leader") == 1 and elector.is_leader  # the lock, as far as it knows
        lock.down = False
        await until(lambda: gauge(metrics, "reconciler_leader_may_write") == 1, "a beat succeeds again")
    finally:
        elector.stop()
        await asyncio.wait_for(running, 10)
    assert gauge(metrics, "reconciler_leader_may_write") == 0 and gauge(metrics, "reconciler_leader") == 0
