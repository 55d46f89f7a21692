"""Consul's failures in the reconciler's exception tree (layer 3 adapter): the one translation point.

Connection errors, timeouts and 5xx become RemoteUnavailable (retryable); 4xx become RemoteRejected
carrying Consul's plain-text body; 404 (and the 500 Consul answers for a write to an unknown prepared
query) becomes ConsulNotFound, which callers may ignore where an absent object is fine; a write whose
connection dropped after it was sent is OutcomeUnknown; a 2xx body that is not JSON is NotJson (a GET is
retried), one of the wrong shape UnexpectedShape (not retried: Consul answers the same again). No secret
reaches a message: every text is scrubbed by reconciler.redaction (the token, the URL's password, echoed
headers), and a shape error names where and why, never the value it refused.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import pydantic

from reconciler.errors import OutcomeUnknown, RemoteRejected, RemoteUnavailable
from reconciler.redaction import redact

_BODY_LIMIT = 500  # Consul's error bodies are one line; anything longer is cut for the log line


class ConsulNotFound(RemoteRejected):
    """404 from Consul: the key, service, check, session or query does not exist."""

    code = "consul-not-found"


class NotJson(RemoteUnavailable):
    """A success status whose body is not JSON (a proxy's page, a cut answer): retried like no answer."""


class UnexpectedShape(RemoteUnavailable):
    """A success status whose JSON is not what the endpoint answers: the same on a retry, so not retried."""


# Raised once the request may have left: writing it, or waiting for (or reading) the answer.
SENT_ERRORS = (httpx.WriteError, httpx.WriteTimeout, httpx.ReadError, httpx.ReadTimeout, httpx.RemoteProtocolError)
# Consul's answer to PUT or DELETE /v1/query/<id> of an unknown id (agent/consul/prepared_query_endpoint.go, Apply)
MISSING_QUERY_TEXT = "Cannot modify non-existent prepared query"


def unavailable_error(method: str, path: str, exc: httpx.HTTPError, secrets: Sequence[str]) -> RemoteUnavailable:
    """The error for a request that got no answer (connection refused, reset, timeout).

    A write that may have left before the connection dropped is OutcomeUnknown: it may have landed.
    """
    if method != "GET" and isinstance(exc, SENT_ERRORS):
        return OutcomeUnknown(
            redact(f"Consul {method} {path}: the connection dropped after the request was sent"
                   f" ({type(exc).__name__}): Consul may or may not have applied it", secrets),
            hint="observe Consul again before deciding to send it again",
        )
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else f"failed ({type(exc).__name__})"
    return RemoteUnavailable(
        redact(f"Consul {method} {path} {kind}: {exc}", secrets),
        hint="check that the Consul agent is running and reachable at the configured address",
    )


def status_error(
    method: str, path: str, response: httpx.Response, secrets: Sequence[str]
) -> RemoteUnavailable | RemoteRejected:
    """The error for a non-2xx answer, keeping Consul's plain-text explanation."""
    status = response.status_code
    # Scrubbed before it is cut, so that a cut never leaves half a secret behind.
    body = redact(response.text.strip(), secrets)[:_BODY_LIMIT] or "(empty body)"
    message = f"Consul {method} {path} answered {status}: {body}"
    if status == 404 or (status == 500 and MISSING_QUERY_TEXT in body):
        # Real Consul answers a write to an unknown prepared query with 500 and this text, not 404.
        return ConsulNotFound(message, status=status, hint="the object does not exist (any more) in Consul")
    if status >= 500 or status == 429:
        return RemoteUnavailable(message, status=status, hint="Consul is failing or overloaded; the call is retried")
    if status == 403:
        return RemoteRejected(message, status=status, hint="give the reconciler's Consul token the needed ACL policy")
    return RemoteRejected(message, status=status, hint="the request was refused as invalid; see Consul's message")


def too_large_error(method: str, path: str, exc: Exception) -> UnexpectedShape:
    """An answer past the client's size limit: not retried, the same answer would come again."""
    return UnexpectedShape(
        f"Consul {method} {path}: {exc}",
        hint="check that the address points at a Consul agent; its health state of 10,000 instances is about 18 MB",
    )


def not_json_error(method: str, path: str, status: int, what: str = "JSON") -> NotJson:
    """The error for a success status whose body is not `what`."""
    return NotJson(
        f"Consul {method} {path} answered {status} with a body that is not {what}",
        status=status,
        hint="check that the address points at a Consul agent's HTTP API",
    )


def shape_error(method: str, path: str, status: int, exc: pydantic.ValidationError) -> UnexpectedShape:
    """The error for JSON pydantic refused: where in the answer (`0/Service/Port`) and why, for each of the
    first five problems."""
    where = "; ".join(
        f"{'/'.join(str(part) for part in err['loc']) or 'the answer'}: {err['msg']}"
        for err in exc.errors(include_input=False)[:5]
    )
    return UnexpectedShape(
        f"Consul {method} {path} answered {status} with a body of an unexpected shape"
        f" ({exc.error_count()} problem(s)): {where}",
        status=status,
        hint="check that the address points at a Consul agent of version 0.9 or later",
    )
