"""Request and response plumbing shared by the sandbox's routes (sandbox layer): JSON bodies,
Marathon's error bodies, deployment results, query flags, and the call into validation.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from reconciler.sandbox.marathon import validation

COMPACT = (",", ":")
LOCKED_MESSAGE = (
    "App is locked by one or more deployments. Override with the option '?force=true'. "
    "View details at '/v2/deployments/<DEPLOYMENT_ID>'."
)


class ApiError(Exception):
    """An answer other than success; the middleware renders it as Marathon would."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message, **extra}


def invalid(details: list[dict[str, Any]]) -> ApiError:
    return ApiError(422, "Object is not valid", details=details)


def bad_json(path: str, error: str) -> ApiError:
    """A body of the wrong JSON shape: a JsResultException whose every error is a validation error,
    which MarathonExceptionMapper.exceptionStatusEntity answers 422 (FACTS.md §1, corrected)."""
    return ApiError(422, "Invalid JSON", details=[{"path": path, "errors": [error]}])


def json_response(body: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    text = json.dumps(body, separators=COMPACT)
    return web.Response(text=text, status=status, content_type="application/json", headers=headers)


def text_json_response(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="application/json")


def deployment_result(deployment_id: str, version: str, status: int = 200, location: str | None = None) -> web.Response:
    headers = {"Marathon-Deployment-Id": deployment_id}
    if location:
        headers["Location"] = location
    return json_response({"deploymentId": deployment_id, "version": version}, status, headers)


async def read_json(request: web.Request, expected: type) -> Any:
    """The request body parsed as JSON of the expected top-level type, or 400 Invalid JSON."""
    raw = await request.read()
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "Invalid JSON", details=f"Unexpected content: {exc}") from exc
    if not isinstance(body, expected):
        raise bad_json("", "error.expected.jsobject" if expected is dict else "error.expected.jsarray")
    return body


def flag(request: web.Request, name: str, default: bool = False) -> bool:
    """A boolean query parameter as Jersey reads `@DefaultValue(..) @QueryParam(..) x: Boolean`: absent or
    blank is the default, anything else is `Boolean.valueOf` (true only for `true`, any case)."""
    value = request.query.get(name)
    if value is None or not value.strip():
        return default
    return value.lower() == "true"


def validate_app(body: object, base: str = "/", features: frozenset[str] = frozenset()) -> None:
    """422 with Marathon's details when the app body is invalid; 422 "Invalid JSON" for wrong JSON types."""
    _raise_if_invalid(lambda: validation.validate_app(body, base=base, features=features))


def validate_app_update(body: object) -> None:
    """The checks on a PUT/PATCH body itself (the rollback rule among them)."""
    _raise_if_invalid(lambda: validation.validate_app_update(body))


def validate_group(body: object, group_id: str, features: frozenset[str] = frozenset()) -> None:
    _raise_if_invalid(lambda: validation.validate_group(body, group_id=group_id, features=features))


def _raise_if_invalid(check: Callable[[], list[dict[str, object]]]) -> None:
    try:
        details = check()
    except validation.JsonTypeError as exc:
        raise ApiError(exc.status, "Invalid JSON", details=exc.details) from exc
    if details:
        raise invalid(list(details))
