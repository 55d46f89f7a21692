"""The fault API's request bodies, checked (sandbox layer): every `/_sandbox/` route names the fields it
takes and what each allows, so a typo or a wrong value is a 400 `{"message": ...}` that says which field
and what to send, never a traceback, a silent default or a setting that cannot work.

The in-process methods of MarathonSandbox run the same checks (FaultBodyError is a ValueError).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from reconciler.sandbox.marathon.wire import ApiError


class FaultBodyError(ValueError):
    """A fault setting the sandbox refuses; the text names the field and what it allows."""


@dataclass(frozen=True)
class Field:
    """One body field: the words for what it allows, and the test a value must pass."""

    allows: str
    holds: Callable[[Any], bool]


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def whole(allows: str, low: int, high: int | None = None) -> Field:
    return Field(allows, lambda v: _is_whole(v) and low <= v and (high is None or v <= high))


def amount(allows: str) -> Field:
    return Field(allows, lambda v: _is_number(v) and v >= 0)


def one_of(values: list[str]) -> Field:
    return Field(f"one of {', '.join(values)}", lambda v: v in values)


def _is_port_range(value: object) -> bool:
    if not isinstance(value, list) or len(value) != 2 or not all(_is_whole(p) for p in value):
        return False
    low, high = value
    return bool(1 <= low <= high <= 65535)


FLAG = Field("true or false", lambda v: isinstance(v, bool))
TEXT = Field("a string", lambda v: isinstance(v, str))
PORT_RANGE = Field("[low, high], whole numbers with 1 <= low <= high <= 65535", _is_port_range)
FAULT_FIELDS: Mapping[str, Field] = {
    "latencyMs": whole("a whole number of milliseconds from 0 to 3600000", 0, 3_600_000),
    "errorEvery": whole("a whole number n >= 0 (every n-th API answer fails; 0 = never)", 0),
    "errorStatus": whole("an HTTP error status from 400 to 599", 400, 599),
    "freezeDeployments": FLAG,
}
AGENT_FIELDS: Mapping[str, Field] = {
    "cpus": amount("a number >= 0"),
    "mem": amount("a number of MiB >= 0"),
    "disk": amount("a number of MiB >= 0"),
    "portRange": PORT_RANGE,
}
HEALTH_FIELDS: Mapping[str, Field] = {"healthy": FLAG}
NO_FIELDS: Mapping[str, Field] = {}


REASON = Field(
    "a Mesos TaskStatus reason name such as REASON_SLAVE_REMOVED (TASK_LOST only)",
    lambda v: isinstance(v, str) and re.fullmatch(r"REASON_[A-Z_]+", v) is not None,
)


def kill_fields(states: list[str]) -> Mapping[str, Field]:
    return {"state": one_of(states), "message": TEXT, "reason": REASON}


def check_body(
    body: object, fields: Mapping[str, Field], where: str, required: tuple[str, ...] = ()
) -> dict[str, Any]:
    """`body` when every field is known and allowed (nothing is applied before all fields pass)."""
    takes = ", ".join(f"{name} ({field.allows})" for name, field in fields.items()) or "no fields"
    if not isinstance(body, dict):
        raise FaultBodyError(f"{where} takes a JSON object with {takes}; got {json.dumps(body)}")
    for name in body:
        if name not in fields:
            raise FaultBodyError(f"{where}: unknown field {name!r}; it takes {takes}")
    for name in required:
        if name not in body:
            raise FaultBodyError(f"{where}: {name} is required: {fields[name].allows}")
    for name, value in body.items():
        if not fields[name].holds(value):
            raise FaultBodyError(f"{where}: {name} must be {fields[name].allows}, not {json.dumps(value)}")
    return body


async def read_body(
    request: web.Request, fields: Mapping[str, Field], required: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The request's checked JSON object body (an empty body is `{}`), or a 400 ApiError naming the problem."""
    resource = request.match_info.route.resource
    where = f"{request.method} {resource.canonical if resource is not None else request.path}"
    raw = await request.read()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"{where}: the body is not JSON ({exc})") from exc
    try:
        return check_body(body, fields, where, required)
    except FaultBodyError as exc:
        raise ApiError(400, str(exc)) from exc
