"""Marathon's event bus (sandbox layer): publish events, fan them out to SSE subscribers.

Payload shapes follow FACTS.md §10 (Marathon 1.9: light plans, instance_changed_event). Events are
only built when someone listens, so a large sandbox pays nothing for an idle bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from reconciler.sandbox.marathon.model import CONDITION_OF_STATE, Condition, JsonDict, Task, TaskState

SUBSCRIBER_BACKLOG = 10_000
CLOSE = ""  # queued to a subscription: the server ends that stream (no frame is ever empty)


@dataclass
class Subscription:
    """One attached event-stream client and the event types it asked for (empty = all)."""

    types: frozenset[str]
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(SUBSCRIBER_BACKLOG))
    dropped: int = 0
    closed: bool = False

    def wants(self, event_type: str) -> bool:
        return not self.types or event_type in self.types


class EventBus:
    def __init__(self, now_iso: Callable[[], str]) -> None:
        self._now_iso = now_iso
        self.subscriptions: list[Subscription] = []
        self.history: list[JsonDict] = []
        self.keep_history = False

    @property
    def listening(self) -> bool:
        return bool(self.subscriptions) or self.keep_history

    def subscribe(self, types: frozenset[str]) -> Subscription:
        subscription = Subscription(types)
        self.subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self.subscriptions:
            self.subscriptions.remove(subscription)

    def close_streams(self) -> None:
        """End every attached stream, as Marathon does when it stops leading: HttpEventStreamActor's
        `handleLeadership` on LeadershipTransition.Standby removes (closes) every handle."""
        for subscription in self.subscriptions:
            subscription.closed = True
            with contextlib.suppress(asyncio.QueueFull):
                subscription.queue.put_nowait(CLOSE)  # wakes the stream's writer at once

    def publish(self, event_type: str, payload: JsonDict) -> None:
        if not self.listening:
            return
        event = {**payload, "eventType": event_type, "timestamp": self._now_iso()}
        if self.keep_history:
            self.history.append(event)
        frame = f"event: {event_type}\r\ndata: {json.dumps(event, separators=(',', ':'))}\r\n\r\n"
        for subscription in self.subscriptions:
            if not subscription.wants(event_type):
                continue
            try:
                subscription.queue.put_nowait(frame)
            except asyncio.QueueFull:
                # A stalled client loses events rather than growing memory; events only trigger re-reads.
                subscription.dropped += 1

    def status_update(self, task: Task, message: str = "", reported: TaskState | None = None) -> None:
        """A Mesos status update of `task` in `reported` (its state unless told), then its instance's
        condition, which follows the task's state (TaskCondition)."""
        if not self.listening:
            return
        self.publish(
            "status_update_event",
            {
                "slaveId": task.agent.slave_id,
                "taskId": task.id,
                "taskStatus": (reported or task.state).value,
                "message": message,
                "appId": task.app_id,
                "host": task.host,
                "ipAddresses": [{"ipAddress": task.host, "protocol": "IPv4"}],
                "ports": task.ports,
                "version": task.version,
            },
        )
        self.instance_changed(task, CONDITION_OF_STATE[task.state])

    def instance_changed(self, task: Task, condition: Condition) -> None:
        """InstanceChangedEventsGenerator: the instance of `task` in `condition` (also sent when only its
        goal changed, with the condition it has)."""
        self.publish(
            "instance_changed_event",
            {
                "instanceId": task.instance_id,
                "condition": condition.value,
                "runSpecId": task.app_id,
                "agentId": task.agent.slave_id,
                "host": task.host,
                "runSpecVersion": task.version,
                "timestamp": self._now_iso(),
            },
        )

    def unknown_instance_terminated(self, task: Task, condition: Condition) -> None:
        """TaskStatusUpdateProcessorImpl.publish: a terminal update for a task whose instance is no longer
        known (expunged) is no status update; only this event tells it (core/event/Events.scala)."""
        self.publish(
            "unknown_instance_terminated_event",
            {"instanceId": task.instance_id, "runSpecId": task.app_id, "condition": condition.value},
        )

    def health_changed(self, task: Task, alive: bool) -> None:
        self.publish(
            "health_status_changed_event",
            {
                "appId": task.app_id,
                "instanceId": task.instance_id,
                "version": task.version,
                "alive": alive,
            },
        )
        self.publish(
            "instance_health_changed_event",
            {
                "instanceId": task.instance_id,
                "runSpecId": task.app_id,
                "runSpecVersion": task.version,
                "healthy": alive,
            },
        )
