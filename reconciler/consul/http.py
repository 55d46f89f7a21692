"""The HTTP exchange with one Consul agent (layer 3 adapter): headers, retries, error translation.

Every request of ConsulClient goes through `ConsulHttp.send` (or `get`, for a read whose answer the caller
decodes itself). Reads (GET) are retried with exponential backoff when Consul is unavailable or answers a
body that is not JSON; writes are sent once, since a retried write may apply twice.
The ACL token travels in `X-Consul-Token`, a URL's `user:password@` becomes HTTP basic auth (for a
proxy in front of Consul); both are kept out of base_url, reprs, logs and error messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import httpx

from reconciler.answer_size import API_ANSWER_BYTES, AnswerTooLarge, bounded_response
from reconciler.consul.errors import (
    ConsulNotFound,
    UnexpectedShape,
    not_json_error,
    status_error,
    too_large_error,
    unavailable_error,
)
from reconciler.errors import RemoteUnavailable
from reconciler.gc_pause import decoded_off_loop, parsed_json
from reconciler.redaction import secret_forms, split_userinfo
from reconciler.tls_on_demand import tls_on_demand

TOKEN_HEADER = "X-Consul-Token"
INDEX_HEADER = "X-Consul-Index"
MAX_BACKOFF_SECONDS = 5.0
# One pooled, kept-alive client per agent. A cycle has at most a handful of reads in flight (the
# per-node reads are gated in the engine); the long-poll watch holds one more connection.
LIMITS = httpx.Limits(max_connections=16, max_keepalive_connections=16, keepalive_expiry=60.0)
T = TypeVar("T")


@dataclass(frozen=True)
class Answer:
    """A 2xx (or tolerated 404) answer: status, decoded JSON body (None when empty or not decoded), the
    index, and the raw body (`content`) for a caller that compares answers before decoding them."""

    status: int
    body: Any
    index: int | None
    content: bytes = b""


def index_of(response: httpx.Response) -> int | None:
    """`X-Consul-Index` as an int, or None when the endpoint does not send one."""
    raw = response.headers.get(INDEX_HEADER)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def body_of(method: str, path: str, answer: Answer) -> Any:
    """The JSON of `answer.content`, or None for an empty one (a missing KV key answers 404 with no body);
    NotJson naming the call for a body that is not JSON. Pure: callable from a worker thread."""
    if not answer.content.strip():
        return None
    try:
        return parsed_json(answer.content)
    except ValueError as exc:
        raise not_json_error(method, path, answer.status) from exc


def require_object(method: str, path: str, answer: Answer) -> None:
    """NotJson unless `answer.content` opens and closes as a JSON object, for an answer read for its index
    alone: a proxy's page or a cut answer is caught without decoding what Consul sent."""
    head, tail = answer.content[:64].lstrip(), answer.content[-64:].rstrip()
    if not (head.startswith(b"{") and tail.endswith(b"}")):
        raise not_json_error(method, path, answer.status, "a JSON object")


class ConsulHttp:
    """Sends requests to one Consul agent and turns every failure into a reconciler error."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None,
        timeout: float,
        retries: int,
        backoff: float,
        transport: httpx.AsyncBaseTransport | None,
        on_request: Callable[[str, str], None] | None,
        basic_auth: tuple[str, str | None] | None = None,
        user_agent: str | None = None,
        answer_bytes: int = API_ANSWER_BYTES,
    ) -> None:
        clean, user, password = split_userinfo(base_url)
        self._answer_bytes = answer_bytes  # an answer larger is given up as it comes (answer_size.py)
        if user is None and basic_auth is not None:
            user, password = basic_auth
        self.base_url = clean.rstrip("/")
        self.basic_auth = (user, password) if user is not None else None
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._token = token
        self._secrets = secret_forms(user=user, password=password, tokens=(token,))
        self._on_request = on_request
        headers = {TOKEN_HEADER: token} if token else {}
        if user_agent:
            headers["User-Agent"] = user_agent
        auth = httpx.BasicAuth(user, password or "") if user is not None else None
        if transport is None:  # an http:// agent loads no CA bundle unless a request asks for https
            transport = tls_on_demand(self.base_url, verify=True, limits=LIMITS)
        self._client = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport, auth=auth, limits=LIMITS
        )

    def __repr__(self) -> str:
        return f"ConsulHttp(base_url={self.base_url!r}, token={'<redacted>' if self._token else None})"

    def identify(self, user_agent: str) -> None:
        """The User-Agent of every later request (a controller names itself, so servers can tell replicas apart)."""
        self._client.headers["User-Agent"] = user_agent

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        extra_wait: float = 0.0,
        allow_404: bool = False,
    ) -> Answer:
        """One request and its decoded JSON (in a worker thread when large: gc_pause.decoded_off_loop); GETs
        are retried on RemoteUnavailable (a body that is not JSON too), `extra_wait` lengthens the timeout."""

        async def decoded(answer: Answer) -> Any:
            return await decoded_off_loop(len(answer.content), lambda: body_of(method, path, answer))

        answer, body = await self._retried(
            method, lambda: self._send_once(method, path, params, json_body, content, extra_wait, allow_404), decoded
        )
        return replace(answer, body=body)

    async def get(
        self,
        path: str,
        read: Callable[[Answer], Awaitable[T]],
        *,
        params: Mapping[str, str] | None = None,
        extra_wait: float = 0.0,
        allow_404: bool = False,
    ) -> tuple[Answer, T]:
        """A GET whose answer, undecoded (its `content`), goes to `read`: which decodes it with `body_of`,
        together with what it makes of the JSON in one trip to the worker thread, or does not (an
        unchanged index or bytes: decoding a large unchanged answer is the cost being saved). Retried as
        `send` retries, a body that `read` finds not JSON included."""
        return await self._retried(
            "GET", lambda: self._send_once("GET", path, params, None, None, extra_wait, allow_404), read
        )

    async def _retried(
        self, method: str, request: Callable[[], Awaitable[Answer]], read: Callable[[Answer], Awaitable[T]]
    ) -> tuple[Answer, T]:
        """`request()` and `read` of its answer; a GET again, after a growing pause, while either raises
        RemoteUnavailable other than UnexpectedShape (JSON of the wrong shape is answered the same again)."""
        attempts = 1 + (self.retries if method == "GET" else 0)
        for attempt in range(attempts):
            try:
                answer = await request()
                return answer, await read(answer)
            except RemoteUnavailable as exc:
                if attempt + 1 >= attempts or isinstance(exc, UnexpectedShape):
                    raise
                await asyncio.sleep(min(self.backoff * 2**attempt, MAX_BACKOFF_SECONDS))
        raise AssertionError("unreachable: the loop returns or raises")

    async def _send_once(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        json_body: Any,
        content: bytes | None,
        extra_wait: float,
        allow_404: bool,
    ) -> Answer:
        if self._on_request is not None:
            self._on_request(method, path)
        request = self._client.build_request(
            method, path, params=params, json=json_body, content=content, timeout=self.timeout + extra_wait
        )
        try:
            response = await bounded_response(await self._client.send(request, stream=True), self._answer_bytes)
        except httpx.HTTPError as exc:
            raise unavailable_error(method, path, exc, self._secrets) from exc
        except AnswerTooLarge as exc:
            raise too_large_error(method, path, exc) from exc
        if response.status_code == 404 and allow_404:
            return Answer(404, None, index_of(response))
        if not response.is_success:
            raise status_error(method, path, response, self._secrets)
        return Answer(response.status_code, None, index_of(response), response.content)


__all__ = ["Answer", "ConsulHttp", "ConsulNotFound"]
