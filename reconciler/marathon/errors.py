"""The one place where Marathon failures become reconciler errors (adapter layer).

httpx exceptions, HTTP error statuses and unreadable bodies all turn into `reconciler.errors` here:
connection failures, timeouts and 5xx are RemoteUnavailable (retryable), and a write whose connection
dropped after it was sent is OutcomeUnknown; 4xx are RemoteRejected
with Marathon's `message` and `details` kept; a 409 naming deployments is DeploymentLocked. Every
message names the call and Marathon's URL (no userinfo) and is scrubbed of every known secret.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pydantic

from reconciler.errors import (
    DeploymentLocked,
    OutcomeUnknown,
    RemoteError,
    RemoteRejected,
    RemoteUnavailable,
    UsageError,
)
from reconciler.redaction import redact


class NotFound(RemoteRejected):
    """404: the app, task, deployment or group does not exist in Marathon."""

    code = "not-found"


_HINTS = {
    400: "Marathon could not read the request body; the details name the field",
    401: "check the Marathon credentials (user and password, or DC/OS token)",
    403: "the credentials may not do this, or Marathon runs its maximum number of deployments",
    404: "check the id; it does not exist in Marathon",
    409: "the object already exists: change it with PUT instead of POST",
    422: "fix the fields named in the details",
}
_UNAVAILABLE_HINT = "Marathon is down, overloaded or without a leader; reads are retried, writes are not: retry later"


@dataclass(frozen=True)
class Call:
    """One request as errors and logs name it: `PUT /v2/apps/integration/redis`."""

    method: str
    path: str
    base_url: str
    secrets: Sequence[str] = ()

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    def describe(self, text: str) -> str:
        """`<call>: <text> (Marathon at <url>)`, scrubbed of secrets."""
        return scrub(f"{self}: {text} (Marathon at {self.base_url})", self.secrets)


def scrub(text: str, secrets: Sequence[str]) -> str:
    """`text` without any of `secrets` or any credential a remote echoed back (reconciler.redaction)."""
    return redact(text, secrets)


# Raised once the request may have left: writing it, or waiting for (or reading) the answer.
SENT_ERRORS = (httpx.WriteError, httpx.WriteTimeout, httpx.ReadError, httpx.ReadTimeout, httpx.RemoteProtocolError)


def error_from_exception(call: Call, exc: httpx.HTTPError) -> RemoteError | UsageError:
    """Translate an httpx exception raised while sending `call` (callers chain with `from exc`)."""
    if call.method != "GET" and isinstance(exc, SENT_ERRORS):
        return OutcomeUnknown(
            call.describe(f"the connection dropped after the request was sent ({type(exc).__name__}):"
                          " Marathon may or may not have applied it"),
            hint="observe Marathon again before deciding to send it again",
        )
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return UsageError(call.describe(f"invalid Marathon URL: {exc}"), hint="use http(s)://host:port")
    if isinstance(exc, httpx.TimeoutException):
        return RemoteUnavailable(
            call.describe(f"no answer in time ({type(exc).__name__})"),
            hint="raise the timeout, or check Marathon's load",
        )
    if isinstance(exc, httpx.TransportError):
        reason = str(exc) or type(exc).__name__
        return RemoteUnavailable(
            call.describe(f"cannot reach Marathon: {reason}"),
            hint="check the Marathon URL and that Marathon is running",
        )
    return RemoteError(call.describe(f"request failed: {type(exc).__name__}: {exc}"))


def too_large_error(call: Call, exc: Exception) -> RemoteRejected:
    """An answer past the client's size limit: not retried, the same answer would come again."""
    return RemoteRejected(
        call.describe(str(exc)),
        hint="check that the URL points at Marathon; its largest answer, /v2/apps of 10,000 apps, is about 14 MB",
    )


def error_from_response(call: Call, response: httpx.Response) -> RemoteError:
    """Translate a response with an error status (>= 300) for `call`."""
    status = response.status_code
    body = _json_body(response)
    text = f"Marathon answered {status}: {_message(response, body)}"
    if status >= 500:
        return RemoteUnavailable(call.describe(text), status=status, hint=_UNAVAILABLE_HINT)
    if status == 409 and isinstance(body, dict) and body.get("deployments"):
        ids = tuple(str(d.get("id")) for d in body["deployments"] if isinstance(d, dict) and d.get("id"))
        return DeploymentLocked(call.describe(f"{text}; locked by deployments {', '.join(ids)}"), deployment_ids=ids)
    if status == 404:
        return NotFound(call.describe(text), status=status, hint=_HINTS[404])
    if status < 400:
        location = response.headers.get("location", "?")
        return RemoteRejected(call.describe(f"{text} to {location}"), status=status, hint="use that URL instead")
    return RemoteRejected(call.describe(text), status=status, hint=_HINTS.get(status))


def error_from_body(call: Call, response: httpx.Response, exc: Exception, at: Sequence[str | int] = ()) -> RemoteError:
    """A success status whose body is not what the API documents: not JSON, or JSON of the wrong shape (a
    field pydantic refused, a wrapper without its key: `exc` a KeyError, TypeError or IndexError). `at`:
    where in the answer the part pydantic validated sits (`app` of `{"app": ...}`)."""
    if isinstance(exc, pydantic.ValidationError):
        where = "; ".join(
            f"{'/'.join(str(p) for p in (*at, *err['loc'])) or 'the answer'}: {err['msg']}"
            for err in exc.errors(include_input=False)[:5]
        )
    elif isinstance(exc, KeyError):
        where = f"no {exc} in it"
    elif isinstance(exc, (TypeError, IndexError)):
        where = f"not of the documented shape ({exc})"
    else:
        where = "not JSON"
    return RemoteError(
        call.describe(f"unreadable answer ({response.status_code}): {where}"),
        status=response.status_code,
        hint="is the URL a Marathon (or a proxy in front of it)?",
    )


def _json_body(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content) if response.content else None
    except ValueError:
        return None


def _message(response: httpx.Response, body: Any) -> str:
    """Marathon's `message` and `details` (both 1.x `{path, errors}` and 0.x `{attribute, error}`)."""
    if not isinstance(body, dict) or "message" not in body:
        # Jetty's own pages (basic auth, unknown servlet) are HTML: the reason phrase says enough.
        return response.reason_phrase or "no message"
    text = str(body["message"])
    details = body.get("details")
    if isinstance(details, list) and details:
        text += " (" + "; ".join(_detail(d) for d in details) + ")"
    elif isinstance(details, str) and details:
        text += f" ({details})"
    return text


def _detail(detail: Any) -> str:
    if not isinstance(detail, dict):
        return str(detail)
    path = detail.get("path", detail.get("attribute", ""))
    errors = detail.get("errors", detail.get("error", ""))
    joined = ", ".join(str(e) for e in errors) if isinstance(errors, list) else str(errors)
    return f"{path}: {joined}" if path else joined
