"""The bodies a notification webhook receives (engine layer): generic JSON, or Slack-compatible text.

Generic JSON carries every field of the alert (docs/notifications.md shows one); Slack's incoming
webhooks (and Mattermost's, Rocket.Chat's) take `{"text": ...}`, escaped as Slack's mrkdwn wants.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.engine.notify import Message

SOURCE = "marathon-reconciler"


class NotifyFormat(StrEnum):
    JSON = "json"
    SLACK = "slack"


def payload(message: Message, fmt: NotifyFormat, controller: str) -> dict[str, Any]:
    if fmt == NotifyFormat.SLACK:
        return {"text": slack_text(message, controller)}
    alert = message.alert
    return {
        "source": SOURCE,
        "status": message.status,
        "kind": alert.kind.value,
        "key": alert.key,
        "severity": alert.severity.value,
        "summary": alert.summary,
        "detail": alert.detail,
        "since": message.since.isoformat(timespec="seconds"),
        "repeat": message.repeat,
        "controller": controller,
    }


def slack_text(message: Message, controller: str) -> str:
    """`[FIRING critical] kind: summary`, then the detail, then who sends (as plain mrkdwn text)."""
    alert = message.alert
    head = f"[{message.status.upper()} {alert.severity.value}] {alert.kind.value}: {alert.summary}"
    if message.repeat:
        head += f" (reminder {message.repeat}, active since {message.since.isoformat(timespec='seconds')})"
    lines = [head]
    if alert.detail and message.status == "firing":
        lines.append(alert.detail)
    if controller:
        lines.append(f"({SOURCE} {controller})")
    return escape("\n".join(lines))


def escape(text: str) -> str:
    """Slack reads &, < and > as markup: https://api.slack.com/reference/surfaces/formatting#escaping."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
