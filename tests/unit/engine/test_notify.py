"""The notifier: de-duplication and cooldown with an injected clock, the two body formats, delivery
through an injected httpx transport (retries, failures counted, never raising), and the webhook URL
kept out of logs and status."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from reconciler.core.alerts import Alert, AlertKind, Severity, invalid_commit_alert
from reconciler.engine.notify import FIRING, RESOLVED, AlertBook, Message, Notifier, NotifyOptions, describe_target
from reconciler.engine.notify_format import NotifyFormat, payload

SINCE = datetime(2026, 12, 7, 1, 2, 3, tzinfo=UTC)
URL = "https://hooks.example.invalid/services/T000/B000/s3cr3t-t0ken?sig=abcdef123"


def alert(key: str = "crash-loop:/shop/web", summary: str = "/shop/web is crash-looping") -> Alert:
    return Alert(AlertKind.CRASH_LOOP, key, Severity.CRITICAL, summary, "look at its checks")


def statuses(messages: list[Message]) -> list[tuple[str, str, int]]:
    return [(m.status, m.alert.key, m.repeat) for m in messages]


def test_an_alert_that_stays_active_is_sent_once_then_again_after_the_cooldown() -> None:
    book = AlertBook(cooldown=600, wall=lambda: SINCE)
    a = alert()
    assert statuses(book.update("cycle", [a], 0)) == [(FIRING, a.key, 0)]
    for now in (1, 10, 599.9):
        assert book.update("cycle", [a], now) == []
    assert statuses(book.update("cycle", [a], 600)) == [(FIRING, a.key, 1)]
    assert book.update("cycle", [a], 700) == []
    assert statuses(book.update("cycle", [a], 1200)) == [(FIRING, a.key, 2)]
    assert statuses(book.update("cycle", [], 1201)) == [(RESOLVED, a.key, 3)]
    assert book.update("cycle", [], 1202) == [] and book.active == ()


def test_a_flapping_alert_fires_at_most_once_per_cooldown() -> None:
    book = AlertBook(cooldown=600, wall=lambda: SINCE)
    a = alert()
    book.update("cycle", [a], 0)
    assert [m.status for m in book.update("cycle", [], 5)] == [RESOLVED]
    assert book.update("cycle", [a], 10) == []  # back within the cooldown: held back...
    assert book.update("cycle", [], 15) == []  # ...so its clearing is no news either
    assert book.update("cycle", [a], 20) == []
    assert statuses(book.update("cycle", [a], 600)) == [(FIRING, a.key, 0)]  # still active after the cooldown


def test_sources_clear_only_their_own_alerts_and_text_changes_are_not_new_alerts() -> None:
    book = AlertBook(cooldown=600, wall=lambda: SINCE)
    mine, theirs = alert("crash-loop:/a"), alert("invalid-commit:abc")
    book.update("cycle", [mine], 0)
    book.update("feed", [theirs], 0)
    assert book.update("feed", [], 1) != [] and [a.key for a in book.active] == ["crash-loop:/a"]
    assert book.update("cycle", [alert("crash-loop:/a", "other words")], 2) == []
    assert book.active[0].summary == "other words"


def test_a_forgotten_source_resolves_what_it_notified_at_its_next_report() -> None:
    """Before, a forgotten alert was dropped: the receiver's last word on it stayed "firing" for good."""
    book = AlertBook(cooldown=0, wall=lambda: SINCE)
    book.update("cycle", [alert()], 0)
    assert book.forget("cycle") == [] and book.active == ()
    assert statuses(book.update("cycle", [], 1)) == [(RESOLVED, alert().key, 1)]
    assert book.update("cycle", [], 2) == []
    assert statuses(book.update("cycle", [alert()], 3)) == [(FIRING, alert().key, 0)]  # a new episode


def test_a_forgotten_alert_reported_again_is_its_episode_taken_up() -> None:
    """Before, it came back as a new alert held back by the cooldown, never notified, so never resolved."""
    book = AlertBook(cooldown=600, wall=lambda: SINCE)
    a = alert()
    book.update("cycle", [a], 0)
    book.forget("cycle")
    assert book.update("cycle", [a], 10) == [] and book.active == (a,)  # within the cooldown: no second firing
    assert statuses(book.update("cycle", [], 20)) == [(RESOLVED, a.key, 1)]
    book.update("cycle", [alert("crash-loop:/b")], 700)
    book.forget("cycle")
    assert statuses(book.update("cycle", [alert("crash-loop:/b")], 1400)) == [(FIRING, "crash-loop:/b", 1)]


def test_an_alert_held_back_when_forgotten_is_owed_nothing() -> None:
    book = AlertBook(cooldown=600, wall=lambda: SINCE)
    a = alert()
    book.update("cycle", [a], 0)
    book.update("cycle", [], 5)  # resolved
    assert book.update("cycle", [a], 10) == []  # back within the cooldown: held back, not notified
    book.forget("cycle")
    assert book.update("cycle", [], 20) == []  # the receiver's last word was "resolved" already


def test_a_forgotten_source_that_still_sees_resolves_without_taking_up() -> None:
    book = AlertBook(cooldown=600, wall=lambda: SINCE)
    kept, cleared = alert("invalid-commit:abc"), alert("source-stale:git")
    book.update("feed", [kept, cleared], 0)
    assert book.forget("feed", still=[kept, cleared]) == [] and book.active == ()
    assert statuses(book.forget("feed", still=[kept])) == [(RESOLVED, cleared.key, 1)]
    assert book.forget("feed", still=[kept]) == [] and book.active == ()  # still forgotten: not shown active
    assert book.update("feed", [kept], 30) == [] and book.active == (kept,)  # leads again: no second firing


def test_a_zero_cooldown_sends_every_time() -> None:
    book = AlertBook(cooldown=0, wall=lambda: SINCE)
    assert len(book.update("cycle", [alert()], 0)) == 1 and len(book.update("cycle", [alert()], 0)) == 1


def test_json_and_slack_bodies() -> None:
    message = Message(FIRING, alert(summary="/shop/web <is> crash-looping & more"), SINCE, repeat=0)
    body = payload(message, NotifyFormat.JSON, "host:9090 pid 7")
    assert body == {"source": "marathon-reconciler", "status": "firing", "kind": "crash-loop",
                    "key": "crash-loop:/shop/web", "severity": "critical",
                    "summary": "/shop/web <is> crash-looping & more", "detail": "look at its checks",
                    "since": "2026-12-07T01:02:03+00:00", "repeat": 0, "controller": "host:9090 pid 7"}
    slack = payload(message, NotifyFormat.SLACK, "host:9090 pid 7")
    assert slack == {"text": "[FIRING critical] crash-loop: /shop/web &lt;is&gt; crash-looping &amp; more\n"
                             "look at its checks\n(marathon-reconciler host:9090 pid 7)"}
    resolved = payload(Message(RESOLVED, alert(), SINCE, 1), NotifyFormat.SLACK, "")
    assert resolved == {"text": "[RESOLVED critical] crash-loop: /shop/web is crash-looping (reminder 1, active"
                                " since 2026-12-07T01:02:03+00:00)"}


def test_the_target_shows_scheme_host_and_port_only() -> None:
    assert describe_target(URL) == "https://hooks.example.invalid/…"
    assert describe_target("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert describe_target("http://user:pa55word@[::1]:8080/x") == "http://[::1]:8080/…"


class Receiver:
    """An httpx transport answering from a list of statuses (the last one repeats), or hanging."""

    def __init__(self, statuses: list[int | str]) -> None:
        self.statuses = statuses
        self.bodies: list[dict[str, object]] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        answer = self.statuses[min(len(self.bodies), len(self.statuses) - 1)]
        self.bodies.append(json.loads(request.content))
        if answer == "hang":
            await asyncio.sleep(3600)
        if answer == "refuse":
            raise httpx.ConnectError(f"cannot connect to {request.url}")
        return httpx.Response(int(answer))


class Counts:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, kind: str, outcome: str) -> None:
        self.seen.append((kind, outcome))


@contextlib.asynccontextmanager
async def running(receiver: Receiver, counts: Counts, **options: object) -> AsyncIterator[Notifier]:
    settings = NotifyOptions(URL, retry_seconds=0.01, tick_seconds=0.01, **options)  # type: ignore[arg-type]
    notifier = Notifier(settings, counts, transport=httpx.MockTransport(receiver))
    task = asyncio.create_task(notifier.run())
    try:
        yield notifier
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.005)


async def test_a_message_is_retried_on_5xx_and_counted_once(caplog: pytest.LogCaptureFixture) -> None:
    receiver, counts = Receiver([500, 503, 200]), Counts()
    caplog.set_level(logging.INFO, "reconciler.notify")
    async with running(receiver, counts) as notifier:
        notifier.update("cycle", [alert()])
        await until(lambda: counts.seen == [("crash-loop", "sent")], "sent after two retries")
    assert len(receiver.bodies) == 3 and receiver.bodies[0]["key"] == "crash-loop:/shop/web"
    assert notifier.status()["sent"] == 1


async def test_failures_are_counted_logged_without_the_url_and_never_raise(caplog: pytest.LogCaptureFixture) -> None:
    receiver, counts = Receiver(["refuse"]), Counts()
    caplog.set_level(logging.INFO, "reconciler.notify")
    async with running(receiver, counts, attempts=2) as notifier:
        notifier.update("cycle", [alert()])
        await until(lambda: counts.seen == [("crash-loop", "failed")], "failed after the attempts")
        status = notifier.status()
    assert len(receiver.bodies) == 2 and status["failed"] == 1
    assert "event=notification-failed" in caplog.text and "attempts=2" in caplog.text
    text = caplog.text + json.dumps(status)
    for secret in ("s3cr3t-t0ken", "abcdef123", "services/T000", URL):
        assert secret not in text


async def test_a_client_error_is_not_retried() -> None:
    receiver, counts = Receiver([404]), Counts()
    async with running(receiver, counts) as notifier:
        notifier.update("cycle", [alert()])
        await until(lambda: counts.seen == [("crash-loop", "failed")], "failed at once")
    assert len(receiver.bodies) == 1


async def test_a_hanging_receiver_times_out_and_the_queue_stays_bounded() -> None:
    receiver, counts = Receiver(["hang"]), Counts()
    async with running(receiver, counts, timeout_seconds=0.2, attempts=1, queue_limit=2) as notifier:
        notifier.update("source", [alert("crash-loop:/first")])
        await until(lambda: len(receiver.bodies) == 1, "the first post hanging")
        for n in range(4):  # while it hangs, four more arrive: the oldest waiting ones go
            notifier.update(f"source-{n}", [alert(f"crash-loop:/app-{n}")])
        await until(lambda: ("crash-loop", "failed") in counts.seen, "the hanging post given up")
        assert counts.seen.count(("crash-loop", "dropped")) == 2
        assert notifier.status()["dropped"] == 2


async def test_standing_sources_are_judged_every_tick_and_a_crashing_one_is_logged() -> None:
    receiver, counts = Receiver([200]), Counts()
    active: list[Alert] = [alert("invalid-commit:abc")]

    def broken() -> list[Alert]:
        raise RuntimeError("bug")

    async with running(receiver, counts) as notifier:
        notifier.add_source("feed", lambda: active)
        notifier.add_source("broken", broken)
        await until(lambda: len(receiver.bodies) == 1, "the feed's alert sent")
        active.clear()
        await until(lambda: len(receiver.bodies) == 2, "its resolution sent")
    assert [b["status"] for b in receiver.bodies] == ["firing", "resolved"]


DOCS = Path(__file__).resolve().parents[3] / "docs" / "notifications.md"


def test_the_documented_examples_are_what_the_notifier_posts() -> None:
    text = DOCS.read_text()
    blocks = dict(re.findall(r"```(json|text)\n(.*?)```", text, re.S))
    problem = ("integration.yaml:7: apps.web.cpus: Input should be a valid number, unable to parse string as a"
               " number (hint: write a number, without quotes)")
    documented = invalid_commit_alert("https://git.example/specs.git#main:specs",
                                      "9e2d41c07a1b5c3e8f0a2b4d6c8e0f1a3b5c7d9e",
                                      "4b1c0e9a7d2f6c8e1a3b5d7f9e0c2a4b6d8f0e1c", [problem])
    assert documented is not None
    message = Message(FIRING, documented, SINCE)
    assert payload(message, NotifyFormat.JSON, "reconciler-7f9c:9090 pid 1") == json.loads(blocks["json"])
    slack = payload(message, NotifyFormat.SLACK, "reconciler-7f9c:9090 pid 1")
    assert slack == {"text": blocks["text"].rstrip("\n")}


async def test_a_stop_waits_for_the_queue_but_not_for_a_hanging_receiver() -> None:
    receiver, counts = Receiver([200]), Counts()
    async with running(receiver, counts) as notifier:
        notifier.update("cycle", [alert("crash-loop:/a"), alert("crash-loop:/b")])
        await notifier.drain(10)
        assert len(receiver.bodies) == 2 and counts.seen == [("crash-loop", "sent")] * 2
    hanging = Receiver(["hang"])
    async with running(hanging, counts, timeout_seconds=30) as notifier:
        notifier.update("cycle", [alert()])
        started = asyncio.get_running_loop().time()
        await notifier.drain(0.2)
        assert asyncio.get_running_loop().time() - started < 5
