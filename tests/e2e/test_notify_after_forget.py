"""Alerts of a replica that stops leading and leads again, posted over real HTTP to a webhook receiver on
loopback. A receiver that saw "firing" sees "resolved" when the alert clears, and one continuous episode
is not fired twice by one replica within its cooldown. Before, `forget()` dropped the replica's alerts:
one active again within the cooldown came back as a new alert held back by the cooldown, never notified,
so its clearing sent nothing either; the receiver's last word stayed "firing" for good.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

from reconciler.cli.run_leader import Leadership
from reconciler.cli.run_notify import Notifications, NotifySettings
from reconciler.core.alerts import Alert, AlertKind, AlertOptions, Severity
from reconciler.engine.notify import Notifier, NotifyOptions
from reconciler.engine.sourcing import FeedState
from reconciler.engine.telemetry import ControllerMetrics
from tests.e2e.test_run_notify import Receiver, receiver
from tests.unit.engine.test_notify import Counts, until

COOLDOWN = 600.0
SOURCE = "https://git.example/specs.git#main:specs"
GOOD, BAD = "9e2d41c07a1b5c3e8f0a2b4d6c8e0f1a3b5c7d9e", "4b1c0e9a7d2f6c8e1a3b5d7f9e0c2a4b6d8f0e1c"


def crash_loop() -> Alert:
    return Alert(AlertKind.CRASH_LOOP, "/shop/web", Severity.CRITICAL, "/shop/web is crash-looping", "its checks")


class Clock:
    """The notifier's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@contextlib.asynccontextmanager
async def notifier_to(hook: Receiver, clock: Callable[[], float]) -> AsyncIterator[Notifier]:
    options = NotifyOptions(hook.url, cooldown_seconds=COOLDOWN, retry_seconds=0.01, tick_seconds=0.01)
    notifier = Notifier(options, Counts(), clock=clock)
    task = asyncio.create_task(notifier.run())
    try:
        yield notifier
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def seen(hook: Receiver) -> list[tuple[str, str, int]]:
    return [(b["status"], b["key"], b["repeat"]) for b in hook.bodies]


async def test_a_cycle_alert_of_a_replica_that_led_again_is_resolved_and_not_fired_twice() -> None:
    clock = Clock()
    async with receiver() as hook, notifier_to(hook, clock) as notifier:
        notifier.update("cycle", [crash_loop()])
        await until(lambda: len(hook.bodies) == 1, "the firing posted")
        clock.now = 5
        notifier.forget("cycle")  # the leader lock lost: a standby runs no cycles
        clock.now = 60
        notifier.update("cycle", [crash_loop()])  # leads again, its first cycle: the same episode, in its cooldown
        clock.now = 90
        notifier.update("cycle", [])  # cleared
        await until(lambda: len(hook.bodies) == 2, "the resolution posted")
        await notifier.drain(10)
        # an episode forgotten and taken up again is repeated after its cooldown as any other
        clock.now = COOLDOWN + 100
        notifier.update("cycle", [crash_loop()])
        await until(lambda: len(hook.bodies) == 3, "a new episode's firing posted")
        notifier.forget("cycle")
        clock.now = 2 * COOLDOWN + 100
        notifier.update("cycle", [crash_loop()])
        await until(lambda: len(hook.bodies) == 4, "the reminder posted")
        await notifier.drain(10)
    assert seen(hook) == [("firing", "/shop/web", 0), ("resolved", "/shop/web", 1),
                          ("firing", "/shop/web", 0), ("firing", "/shop/web", 1)]


async def test_a_cycle_alert_cleared_while_the_replica_was_a_standby_is_resolved_when_it_leads_again() -> None:
    clock = Clock()
    async with receiver() as hook, notifier_to(hook, clock) as notifier:
        notifier.update("cycle", [crash_loop()])
        notifier.forget("cycle")
        clock.now = 30
        notifier.update("cycle", [])  # leads again: the app healed meanwhile
        await until(lambda: len(hook.bodies) == 2, "the resolution posted")
        clock.now = 40
        notifier.update("cycle", [crash_loop()])  # back within the cooldown: held back, as any flapping alert
        notifier.update("cycle", [])
        await notifier.drain(10)
    assert seen(hook) == [("firing", "/shop/web", 0), ("resolved", "/shop/web", 1)]


class FakeLeadership:
    """What run_notify asks of the leader election: whether it runs, and whether this replica leads."""

    enabled = True

    def __init__(self) -> None:
        self.leading = True

    def status(self) -> dict[str, Any]:
        return {"election": True, "leader": self.leading, "may_write": self.leading,
                "holder": "me" if self.leading else "other"}


async def test_feed_alerts_are_resolved_by_a_standby_and_not_fired_again_when_it_leads_again() -> None:
    """Through `reconciler run`'s wiring (run_notify): the feed is judged every tick, by the leader only;
    a replica that stopped leading still fetches the source, and resolves what it notified once its own
    fetches no longer see it. Before, it dropped them: the receiver never heard the commit was fixed."""
    feed = FeedState(SOURCE, revision=GOOD, latest=BAD, problems=("integration.yaml:7: apps.web.cpus: bad",))
    leadership = FakeLeadership()
    async with receiver() as hook, contextlib.AsyncExitStack() as stack:
        options = NotifyOptions(hook.url, cooldown_seconds=COOLDOWN, retry_seconds=0.01, tick_seconds=0.01)
        settings = NotifySettings(options, AlertOptions())
        notifications = Notifications(settings, ControllerMetrics())
        notifications.start(stack, "replica-a:9090 pid 1", lambda: feed, cast(Leadership, leadership),
                            "reconciler/leader", 15.0)
        key = f"invalid-commit:{BAD}"
        await until(lambda: len(hook.of(key)) == 1, "the invalid commit notified by the leader")
        leadership.leading = False  # another replica leads now; this one keeps fetching
        await until(lambda: _status(notifications)["active"] == [], "the standby shows no feed alert")
        leadership.leading = True  # leads again, the commit still broken: the same episode, in its cooldown
        await until(lambda: len(_status(notifications)["active"]) == 1, "the alert active again")
        leadership.leading = False
        await until(lambda: _status(notifications)["active"] == [], "the standby shows no feed alert")
        feed = FeedState(SOURCE, revision=BAD, latest=BAD)  # fixed: the standby's own fetch loads it
        await until(lambda: len(hook.of(key, "resolved")) == 1, "the standby resolves what it notified")
        leadership.leading = True
        await until(lambda: _status(notifications)["sent"] == 2, "both messages sent")
    assert [b["status"] for b in hook.bodies] == ["firing", "resolved"]
    assert {b["controller"] for b in hook.bodies} == {"replica-a:9090 pid 1"}


def _status(notifications: Notifications) -> dict[str, Any]:
    status = notifications.status()
    assert status is not None
    return status
