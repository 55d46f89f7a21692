"""Alert notifications to a webhook (engine layer): de-duplicated by key, with a cooldown, sent off the cycle.

An AlertBook turns each source's active alerts into messages: a key newly active fires once, an alert
still active fires again once the cooldown since its last firing passed, and a notified alert that
clears sends "resolved", also when its source was forgotten in between (a replica that stopped leading
and leads again). The Notifier queues the messages (bounded) and one task posts them with
httpx (short timeout, bounded retries): a failing or hanging receiver never holds a cycle back, and
the webhook URL (it may hold a token) never appears in a log, an error or the status.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from reconciler.core.alerts import Alert
from reconciler.engine.notify_format import NotifyFormat, payload
from reconciler.redaction import redact

log = logging.getLogger("reconciler.notify")
FIRING, RESOLVED = "firing", "resolved"


@dataclass(frozen=True)
class NotifyOptions:
    url: str
    format: NotifyFormat = NotifyFormat.JSON
    cooldown_seconds: float = 600.0
    timeout_seconds: float = 5.0  # per attempt
    attempts: int = 3
    retry_seconds: float = 0.5  # before the second attempt, doubling after
    queue_limit: int = 100  # messages waiting to be sent; beyond it the oldest is dropped
    tick_seconds: float = 1.0  # how often standing sources (feed, leader lock) are judged


@dataclass(frozen=True)
class Message:
    status: str  # firing | resolved
    alert: Alert
    since: datetime  # when the alert became active
    repeat: int = 0  # 0: the first firing; n: the n-th reminder


@dataclass
class _Entry:
    alert: Alert
    source: str
    since: datetime
    notified: bool = False  # a firing message went out for this activation
    repeats: int = 0


class AlertBook:
    """De-duplication and cooldown per key; `now` (monotonic seconds) and `wall` are injected."""

    def __init__(self, cooldown: float, wall: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._cooldown = cooldown
        self._wall = wall
        self._active: dict[str, _Entry] = {}
        # Notified alerts of a forgotten source: the receiver's last word on each is "firing", so the
        # source's next report either takes the episode up again or resolves it.
        self._dormant: dict[str, _Entry] = {}
        self._fired: dict[str, float] = {}  # key -> when its last firing message was made

    @property
    def active(self) -> tuple[Alert, ...]:
        return tuple(entry.alert for _, entry in sorted(self._active.items()))

    def update(self, source: str, alerts: Iterable[Alert], now: float) -> list[Message]:
        """The messages owed now that `source` reports exactly `alerts` as active."""
        current = {alert.key: alert for alert in alerts}
        messages = self._settle(source, current)
        for key, entry in list(self._active.items()):
            if entry.source == source and key not in current:
                del self._active[key]
                if entry.notified:
                    messages.append(Message(RESOLVED, entry.alert, entry.since, entry.repeats))
        for key, alert in current.items():
            entry = self._active.setdefault(key, _Entry(alert, source, self._wall()))
            entry.alert = alert
            last = self._fired.get(key)
            if last is None or now - last >= self._cooldown:
                self._fired[key] = now
                messages.append(Message(FIRING, alert, entry.since, entry.repeats if entry.notified else 0))
                entry.repeats = entry.repeats + 1 if entry.notified else 1
                entry.notified = True
        self._forget(now)
        return messages

    def forget(self, source: str, still: Iterable[Alert] | None = None) -> list[Message]:
        """The source cannot judge any more: its alerts leave the active ones without a word. Those notified
        stay owed a "resolved": given at the source's next report that no longer holds them, or here when
        the source can still tell which are active (`still`); one it reports again takes its episode up
        (its cooldown and repeat count), so the receiver never sees a second "firing" within the cooldown."""
        for key in [k for k, entry in self._active.items() if entry.source == source]:
            entry = self._active.pop(key)
            if entry.notified:
                self._dormant[key] = entry
        return [] if still is None else self._settle(source, {alert.key: alert for alert in still}, take_up=False)

    def _settle(self, source: str, current: dict[str, Alert], *, take_up: bool = True) -> list[Message]:
        """The dormant alerts of `source`: "resolved" for each not in `current`; each in it active again
        (`take_up`) as the episode it was, or left dormant."""
        messages = []
        for key in [k for k, entry in self._dormant.items() if entry.source == source]:
            if key not in current:
                entry = self._dormant.pop(key)
                messages.append(Message(RESOLVED, entry.alert, entry.since, entry.repeats))
            elif take_up:
                self._active[key] = self._dormant.pop(key)
        return messages

    def _forget(self, now: float) -> None:
        """Cooldowns of cleared keys are kept only as long as they may still hold a firing back."""
        held = self._active.keys() | self._dormant.keys()
        for key in [k for k, at in self._fired.items() if k not in held and now - at >= self._cooldown]:
            del self._fired[key]


Counter = Callable[[str, str], None]  # (alert kind, outcome) -> counted in reconciler_notifications_total
Source = Callable[[], Iterable[Alert] | None]  # None: the source may not report now (it forgot itself)


class Notifier:
    """Takes alerts from the cycle and from standing sources; `run()` judges and sends until cancelled."""

    def __init__(
        self, options: NotifyOptions, count: Counter, *, clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._options = options
        self._count = count
        self._clock = clock
        self._transport = transport
        self._book = AlertBook(options.cooldown_seconds)
        self._queue: collections.deque[Message] = collections.deque()
        self._in_flight: Message | None = None
        self._ready = asyncio.Event()
        self._sources: dict[str, Source] = {}
        self.identity = ""  # who sends (host:port pid), once known
        self.sent = self.failed = self.dropped = 0

    @property
    def target(self) -> str:
        return describe_target(self._options.url)

    def add_source(self, name: str, source: Source) -> None:
        """A source judged every tick (the feed, the leader lock), not only after cycles."""
        self._sources[name] = source

    def update(self, source: str, alerts: Iterable[Alert]) -> None:
        """`source` reports exactly these alerts active now. Never raises (a notification is no reason
        for a cycle to fail)."""
        try:
            for message in self._book.update(source, tuple(alerts), self._clock()):
                self._enqueue(message)
        except Exception as exc:
            log.error("event=notify-update-crashed source=%s error=%r", source, self._safe(repr(exc)), exc_info=True)

    def forget(self, source: str, still: Iterable[Alert] | None = None) -> None:
        """The source cannot judge any more (a replica that stopped leading): its alerts are neither repeated
        nor shown active, the replica that leads now reports them itself. Those this one notified are
        resolved once its source no longer holds them: at the source's next report, or now from `still`
        (what the source sees while it may not report: a standby's own fetch of the spec source)."""
        try:
            for message in self._book.forget(source, None if still is None else tuple(still)):
                self._enqueue(message)
        except Exception as exc:
            log.error("event=notify-update-crashed source=%s error=%r", source, self._safe(repr(exc)), exc_info=True)

    def status(self) -> dict[str, Any]:
        active = [{"kind": a.kind.value, "key": a.key, "severity": a.severity.value, "summary": a.summary}
                  for a in self._book.active]
        return {"target": self.target, "format": self._options.format.value,
                "cooldown_seconds": self._options.cooldown_seconds, "active": active, "sent": self.sent,
                "failed": self.failed, "dropped": self.dropped, "queued": len(self._queue)}

    async def run(self) -> None:
        """Sends queued messages and judges the standing sources every tick, until cancelled."""
        async with httpx.AsyncClient(timeout=self._options.timeout_seconds, transport=self._transport,
                                     follow_redirects=False) as client:
            judge = asyncio.create_task(self._judge_loop())
            try:
                await self._send_loop(client)
            finally:
                judge.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await judge

    async def _judge_loop(self) -> None:
        while True:
            for name, source in list(self._sources.items()):
                try:
                    judged = source()
                    alerts = None if judged is None else tuple(judged)
                except Exception as exc:
                    log.error("event=notify-source-crashed source=%s error=%r", name, self._safe(repr(exc)),
                              exc_info=True)
                    continue
                if alerts is not None:
                    self.update(name, alerts)
            await asyncio.sleep(self._options.tick_seconds)

    async def _send_loop(self, client: httpx.AsyncClient) -> None:
        while True:
            await self._ready.wait()
            while self._queue:
                message = self._in_flight = self._queue.popleft()
                try:
                    outcome = await self._deliver(client, message)
                finally:
                    self._in_flight = None
                self._count(message.alert.kind.value, outcome)
            self._ready.clear()

    async def drain(self, seconds: float) -> None:
        """Waits (at most `seconds`) for the queued messages to go out: a stopping controller says what it knew."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while self._queue or self._in_flight is not None:
                    await asyncio.sleep(0.05)

    def _enqueue(self, message: Message) -> None:
        if len(self._queue) >= self._options.queue_limit:
            dropped = self._queue.popleft()
            self.dropped += 1
            self._count(dropped.alert.kind.value, "dropped")
            log.warning("event=notification-dropped kind=%s key=%s: the queue is full", dropped.alert.kind,
                        dropped.alert.key)
        self._queue.append(message)
        self._ready.set()

    async def _deliver(self, client: httpx.AsyncClient, message: Message) -> str:
        """Posts one message: 'sent', or 'failed' after the attempts (a 4xx but 429 is not retried)."""
        body = payload(message, self._options.format, self.identity)
        error = ""
        for attempt in range(self._options.attempts):
            if attempt:
                await asyncio.sleep(self._options.retry_seconds * 2 ** (attempt - 1))
            error, retry = await self._post(client, body)
            if not error:
                self.sent += 1
                log.info("event=notification-sent status=%s kind=%s key=%s target=%s", message.status,
                         message.alert.kind, message.alert.key, self.target)
                return "sent"
            if not retry:
                break
        self.failed += 1
        log.warning("event=notification-failed status=%s kind=%s key=%s target=%s attempts=%d error=%r",
                    message.status, message.alert.kind, message.alert.key, self.target, attempt + 1, error)
        return "failed"

    async def _post(self, client: httpx.AsyncClient, body: dict[str, Any]) -> tuple[str, bool]:
        """('', _) when the receiver took it; else why, and whether another attempt may help."""
        try:
            # The whole exchange has one deadline: httpx's own timeouts are per read, which a receiver
            # that drips its answer never trips.
            # Only the status is read: the receiver's body, of any size, is never taken in.
            async with asyncio.timeout(self._options.timeout_seconds), \
                    client.stream("POST", self._options.url, json=body) as response:
                status = response.status_code
        except (TimeoutError, httpx.TimeoutException):
            return f"no answer within {self._options.timeout_seconds:g}s", True
        except httpx.HTTPError as exc:
            return self._safe(f"{type(exc).__name__}: {exc}"), True
        if 200 <= status < 300:
            return "", False
        return f"HTTP {status}", status == 429 or status >= 500

    def _safe(self, text: str) -> str:
        return redact(text, secret_parts(self._options.url))


def describe_target(url: str) -> str:
    """The webhook as logs and status show it: scheme, host and port only (path and query may hold a token)."""
    parts = httpx.URL(url)
    port = f":{parts.port}" if parts.port else ""
    hidden = "/…" if parts.raw_path not in (b"", b"/") else ""
    host = f"[{parts.host}]" if ":" in parts.host else parts.host
    return f"{parts.scheme}://{host}{port}{hidden}"


def secret_parts(url: str) -> tuple[str, ...]:
    """Every part of the webhook URL that may be a token, longest first, for redact()."""
    parts = httpx.URL(url)
    path = parts.raw_path.decode("ascii", "replace")
    pieces = [url, path, parts.query.decode("ascii", "replace"), parts.userinfo.decode("ascii", "replace")]
    pieces += [segment for segment in path.split("/") if len(segment) >= 6]
    return tuple(sorted({p for p in pieces if p and p not in ("/", "")}, key=len, reverse=True))

