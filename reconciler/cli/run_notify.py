"""Alert notifications of `reconciler run` (face layer): what the --notify-* flags (run_opts) set, and the wiring.

The webhook URL comes from --notify-url, RECONCILER_NOTIFY_URL or --notify-url-file (a URL may hold
a token: better from a file or the environment); it is never printed. Without a URL nothing is sent,
and a --notify-* flag given anyway is refused, never ignored. docs/notifications.md describes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import typer

from reconciler.cli.output import console
from reconciler.cli.run_leader import Leadership
from reconciler.core.alerts import Alert, AlertOptions
from reconciler.core.heal import HealMemory
from reconciler.core.model import Desired
from reconciler.engine.alerting import CycleAlerts, LeaderWatch, feed_alerts
from reconciler.engine.cycle import CycleResult
from reconciler.engine.notify import Notifier, NotifyOptions
from reconciler.engine.notify_format import NotifyFormat
from reconciler.engine.sourcing import FeedState
from reconciler.engine.telemetry import ControllerMetrics
from reconciler.errors import UsageError
from reconciler.redaction import redact

log = logging.getLogger("reconciler.notify")
_TUNING = ("notify_format", "notify_cooldown", "notify_deadline", "notify_at_max_for")
STOP_DRAIN_SECONDS = 3.0


@dataclass(frozen=True)
class NotifySettings:
    options: NotifyOptions
    alerts: AlertOptions


def notify_settings(
    ctx: typer.Context, url: str | None, url_file: Path | None, fmt: NotifyFormat, cooldown: float, deadline: float,
    at_max_for: float,
) -> NotifySettings | None:
    """The settings the flags describe, or None (no webhook); a UsageError for flags that do nothing."""
    if url and url_file:
        raise UsageError("--notify-url (or RECONCILER_NOTIFY_URL) and --notify-url-file: give one of them")
    if url_file is not None:
        url = _read_url(url_file)
    if not url:
        given = [name for name in _TUNING if _explicit(ctx, name)]
        if given:
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            raise UsageError(f"{flags} without a webhook: add --notify-url-file (or --notify-url)")
        return None
    _check_url(url)
    alerts = AlertOptions(deployment_deadline_seconds=deadline, at_max_for_seconds=at_max_for)
    return NotifySettings(NotifyOptions(url, fmt, cooldown), alerts)


def _explicit(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name != "DEFAULT"


def _read_url(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise UsageError(f"--notify-url-file {path}: cannot read it ({exc.strerror})") from None


def _check_url(url: str) -> None:
    """An http(s) URL with a host; the message never repeats the value (it may hold a token)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise UsageError("the notification webhook is not an http(s) URL with a host (value not shown: it may"
                         " hold a token)")


class Notifications:
    """The notifier of one `run`, or nothing at all when no webhook is configured."""

    def __init__(self, settings: NotifySettings | None, metrics: ControllerMetrics) -> None:
        self._notifier = Notifier(settings.options, metrics.notification) if settings else None
        self._cycles = CycleAlerts(settings.alerts) if settings else None

    @property
    def enabled(self) -> bool:
        return self._notifier is not None

    def cycle_done(self, result: CycleResult, desired: Desired, heals: HealMemory) -> None:
        if self._notifier is None or self._cycles is None:
            return
        try:
            alerts = self._cycles.judge(result, desired, heals)
        except Exception as exc:  # a bug in detection costs the alerts of this cycle, never the report
            log.error("cycle=%s event=alert-detection-crashed error=%r", result.cycle_id, redact(repr(exc)),
                      exc_info=True)
            return
        if alerts is not None:
            self._notifier.update("cycle", alerts)

    def status(self) -> dict[str, Any] | None:
        return self._notifier.status() if self._notifier else None

    def start(
        self, stack: contextlib.AsyncExitStack, identity: str, feed: Callable[[], FeedState], leadership: Leadership,
        key: str, ttl: float, *, store: Callable[[], tuple[Alert, ...]] = tuple,
    ) -> None:
        """Starts sending (until the stack closes) and says where to, as the webhook may be shown."""
        notifier = self._notifier
        if notifier is None:
            return
        notifier.identity = identity

        def fed() -> tuple[Alert, ...] | None:
            """Every replica fetches the source, only the leader applies it and reports what is wrong with it:
            a standby's notification would repeat the leader's. A replica that stops leading sends no more
            firings, but resolves those it sent once its own fetches no longer see them."""
            if not _leading(leadership.status()):
                notifier.forget("feed", still=feed_alerts(feed()))
                return None
            return feed_alerts(feed())

        notifier.add_source("feed", fed)
        notifier.add_source("store", store)
        if leadership.enabled:
            watch = LeaderWatch(key, ttl)

            def lock() -> tuple[Alert, ...]:
                state = leadership.status()
                if not state.get("election"):
                    return ()
                leading = _leading(state)
                if not leading:  # a standby runs no cycles: what the last ones saw waits for its next lead
                    notifier.forget("cycle")
                return watch.judge(identity, leading=leading, holder=str(state["holder"]))

            notifier.add_source("leader", lock)
        task = asyncio.create_task(notifier.run())
        stack.push_async_callback(_stop, notifier, task)
        console.print(f"alert notifications go to {notifier.target} ({notifier.status()['format']})")


def _leading(state: Mapping[str, Any]) -> bool:
    """This replica leads (holds the lock and may write), or runs without an election."""
    return not state.get("election") or bool(state["leader"] and state["may_write"])


async def _stop(notifier: Notifier, task: asyncio.Task[None]) -> None:
    """What is queued gets a moment to go out (a hanging receiver does not hold the exit up for long)."""
    await notifier.drain(STOP_DRAIN_SECONDS)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
