"""User events and network coordinates of the emulated datacenter (sandbox layer, Consul emulator).

Events are kept as agent/user_event.go keeps them: the last 256, each with a Lamport time; the index
of an event list is derived from the ID of the newest event (agent/event_endpoint.go uuidToUint64), so
it changes on every event but does not grow. Coordinates start at the origin for every agent node.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import uuid
from dataclasses import dataclass
from typing import Any

MAX_EVENTS = 256  # agent/user_event.go userEventSize
COORD_DIMENSIONS = 8


def uuid_to_uint64(text: str) -> int:
    """event_endpoint.go uuidToUint64: the two halves of the UUID, XOR-ed."""
    lower = int(text[0:8] + text[9:13] + text[14:18], 16)
    upper = int(text[19:23] + text[24:36], 16)
    return lower ^ upper


@dataclass
class UserEvent:
    id: str
    name: str
    payload: bytes | None
    node_filter: str
    service_filter: str
    tag_filter: str
    ltime: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"ID": self.id, "Name": self.name,
                "Payload": base64.b64encode(self.payload).decode() if self.payload else None,
                "NodeFilter": self.node_filter, "ServiceFilter": self.service_filter, "TagFilter": self.tag_filter,
                "Version": 1, "LTime": self.ltime}


class EventLog:
    """The events every agent has seen, with a signal for blocking lists."""

    def __init__(self) -> None:
        self.events: list[UserEvent] = []
        self.ltime = 0
        self._changed = asyncio.Event()
        self.waiting = 0  # blocking lists asleep right now: tests wait on it instead of sleeping

    def fire(self, name: str, payload: bytes | None, node: str, service: str, tag: str) -> UserEvent:
        event = UserEvent(str(uuid.uuid4()), name, payload, node, service, tag)
        self.ltime += 1
        stored = UserEvent(**{**event.__dict__, "ltime": self.ltime})
        self.events = [*self.events, stored][-MAX_EVENTS:]
        self._changed.set()
        self._changed = asyncio.Event()
        return event  # the fire answer carries LTime 0: serf stamps it on delivery

    def index(self, name: str = "") -> int:
        listed = [e for e in self.events if not name or e.name == name]
        return uuid_to_uint64(listed[-1].id) if listed else 0

    async def wait_change(self, timeout: float) -> None:
        event = self._changed
        self.waiting += 1
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)
        finally:
            self.waiting -= 1


def origin_coordinate() -> dict[str, Any]:
    return {"Vec": [0.0] * COORD_DIMENSIONS, "Error": 1.5, "Adjustment": 0.0, "Height": 1e-05}


def valid_coordinate(coord: Any) -> bool:
    """lib/coordinate IsValid and IsCompatibleWith: 8 finite dimensions and finite scalars."""
    if not isinstance(coord, dict):
        return False
    vec = coord.get("Vec")
    numbers = [*(vec if isinstance(vec, list) else []), coord.get("Error"), coord.get("Adjustment"),
               coord.get("Height")]
    return (isinstance(vec, list) and len(vec) == COORD_DIMENSIONS
            and all(isinstance(n, int | float) and math.isfinite(n) for n in numbers))
