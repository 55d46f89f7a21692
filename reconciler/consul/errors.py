"""Consul's failures in the reconciler's exception tree (layer 3 adapter): the one translation point.

Connection errors, timeouts and 5xx become RemoteUnavailable (retryable); 4xx become RemoteRejected
carrying Consul's plain-text body; 404 becomes ConsulNotFound, which callers may ignore where an
absent object is fine (deregistering an instance that is already gone). Tokens never reach a message.
"""

from __future__ import annotations

import httpx

from reconciler.errors import RemoteRejected, RemoteUnavailable

REDACTED = "<redacted>"
_BODY_LIMIT = 500  # Consul's error bodies are one line; anything longer is cut for the log line


class ConsulNotFound(RemoteRejected):
    """404 from Consul: the key, service, check, session or query does not exist."""

    code = "consul-not-found"


def redact(text: str, token: str | None) -> str:
    """`text` with every occurrence of `token` replaced, so that no message can leak it."""
    return text.replace(token, REDACTED) if token else text


def unavailable_error(method: str, path: str, exc: httpx.HTTPError, token: str | None) -> RemoteUnavailable:
    """The error for a request that got no answer (connection refused, reset, timeout)."""
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else f"failed ({type(exc).__name__})"
    return RemoteUnavailable(
        redact(f"Consul {method} {path} {kind}: {exc}", token),
        hint="check that the Consul agent is running and reachable at the configured address",
    )


def status_error(
    method: str, path: str, response: httpx.Response, token: str | None
) -> RemoteUnavailable | RemoteRejected:
    """The error for a non-2xx answer, keeping Consul's plain-text explanation."""
    status = response.status_code
    body = redact(response.text.strip()[:_BODY_LIMIT], token) or "(empty body)"
    message = f"Consul {method} {path} answered {status}: {body}"
    if status >= 500 or status == 429:
        return RemoteUnavailable(message, status=status, hint="Consul is failing or overloaded; the call is retried")
    if status == 404:
        return ConsulNotFound(message, status=status, hint="the object does not exist (any more) in Consul")
    if status == 403:
        return RemoteRejected(message, status=status, hint="give the reconciler's Consul token the needed ACL policy")
    return RemoteRejected(message, status=status, hint="the request was refused as invalid; see Consul's message")
