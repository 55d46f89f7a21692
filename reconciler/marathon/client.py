"""Async client for Marathon's REST API v2 (adapter layer).

Methods mirror the endpoints (`put_apps` is `PUT /v2/apps`) and return wire models; `observe` reads
the whole actual state in two requests and translates it. Reads (GET) are retried with exponential
backoff on RemoteUnavailable, writes never are. Failures become `reconciler.errors` in errors.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar, cast
from urllib.parse import quote

import httpx
import pydantic

from reconciler.answer_size import API_ANSWER_BYTES, AnswerTooLarge, bounded_response
from reconciler.core.masking import secret_env_values
from reconciler.core.model import Actual, ActualApp
from reconciler.errors import RemoteError, RemoteUnavailable, UsageError
from reconciler.gc_pause import decoded_off_loop, parsed_json_strictly
from reconciler.marathon import wire
from reconciler.marathon.app_memo import AppMemo
from reconciler.marathon.errors import (
    Call,
    error_from_body,
    error_from_exception,
    error_from_response,
    too_large_error,
)
from reconciler.marathon.settings import MarathonAuth, Timeouts, split_credentials
from reconciler.marathon.sse import adecode_lines, alines, event_type_of
from reconciler.marathon.translate import to_actual_deployment
from reconciler.redaction import redact_url, secret_forms
from reconciler.tls_on_demand import tls_on_demand

logger = logging.getLogger("reconciler.marathon")

DEFAULT_EMBED = ("apps.tasks", "apps.counts", "apps.deployments")
MAX_EVENT_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})

Params = list[tuple[str, str]]
ModelT = TypeVar("ModelT")
DecodedT = TypeVar("DecodedT")

# One pooled, kept-alive client per Marathon: a cycle reads in two requests and writes one bulk PUT per
# environment, so a small pool suffices; the event stream holds one more connection.
LIMITS = httpx.Limits(max_connections=16, max_keepalive_connections=8, keepalive_expiry=60.0)


@functools.cache
def _adapter(model: Hashable) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(cast(Any, model))


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _apps_of(body: Any) -> Any:
    # AppList's rule: a body without `apps` has none.
    return body.get("apps", []) if isinstance(body, dict) else body


def app_path(app_id: str, suffix: str = "") -> str:
    """`/v2/apps/<id>[/suffix]` for an absolute or relative app id."""
    return "/v2/apps/" + quote(app_id.strip("/"), safe="/") + suffix


class MarathonClient:
    """One Marathon (or a standby, which proxies to the leader). Use `async with` or call `aclose`.

    `remember_apps=False` for a command that observes once: observe then keeps nothing for the next read
    (app_memo.py)."""

    def __init__(
        self,
        base_url: str,
        *,
        auth: MarathonAuth | None = None,
        verify: bool = True,
        timeouts: Timeouts = Timeouts(),
        retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
        on_request: Callable[[str, str], None] | None = None,
        backoff_seconds: float = 0.2,
        max_backoff_seconds: float = 5.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        remember_apps: bool = True,
        answer_bytes: int = API_ANSWER_BYTES,
    ) -> None:
        self.base_url, url_auth = split_credentials(base_url)
        self._answer_bytes = answer_bytes  # an answer larger is given up as it comes (answer_size.py)
        self._auth = auth or url_auth or MarathonAuth()
        self._timeouts = timeouts
        self._retries = max(0, retries)
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._on_request = on_request
        self._sleep = sleep  # injectable so that tests run on fake time
        self._apps = AppMemo(remember=remember_apps)
        headers = {"Accept": "application/json", **self._auth.headers()}
        if transport is None:
            transport = tls_on_demand(self.base_url, verify=verify, limits=LIMITS)
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, verify=verify, transport=transport, follow_redirects=False,
            limits=LIMITS,
        )

    def __repr__(self) -> str:
        return f"MarathonClient({self.base_url!r}, auth={self._auth!r})"

    async def __aenter__(self) -> MarathonClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def identify(self, user_agent: str) -> None:
        """The User-Agent of every later request (a controller names itself, so servers can tell replicas apart)."""
        self._http.headers["User-Agent"] = user_agent

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- apps ------------------------------------------------------------------------------------

    async def get_apps(
        self, *, embed: Sequence[str] = DEFAULT_EMBED, app_id: str | None = None, label: str | None = None
    ) -> list[wire.App]:
        params: Params = [("embed", e) for e in embed]
        params += [("id", app_id)] if app_id is not None else []
        params += [("label", label)] if label is not None else []
        response = await self._read("/v2/apps", params)
        return (await self._parse(response, wire.AppList)).apps

    async def get_app(self, app_id: str) -> wire.App:
        response = await self._read(app_path(app_id))
        return await self._parse_field(response, "app", wire.App)

    async def post_apps(self, body: Mapping[str, Any], *, force: bool = False) -> wire.App:
        response = await self._write("POST", "/v2/apps", [("force", _flag(force))], body)
        return await self._parse(response, wire.App)

    async def put_app(
        self, app_id: str, body: Mapping[str, Any], *, force: bool = False, partial_update: bool = True
    ) -> wire.DeploymentResult:
        params = [("force", _flag(force)), ("partialUpdate", _flag(partial_update))]
        response = await self._write("PUT", app_path(app_id), params, body)
        return await self._parse(response, wire.DeploymentResult)

    async def put_apps(
        self, bodies: Sequence[Mapping[str, Any]], *, force: bool = False, partial_update: bool = True
    ) -> wire.DeploymentResult:
        """Create or update several apps in one deployment (every body needs its `id`)."""
        missing = [i for i, body in enumerate(bodies) if not body.get("id")]
        if missing:
            raise UsageError(f"PUT /v2/apps: bodies at positions {missing} have no id", hint="give every app its id")
        params = [("force", _flag(force)), ("partialUpdate", _flag(partial_update))]
        response = await self._write("PUT", "/v2/apps", params, list(bodies))
        return await self._parse(response, wire.DeploymentResult)

    async def delete_app(self, app_id: str, *, force: bool = True) -> wire.DeploymentResult:
        response = await self._write("DELETE", app_path(app_id), [("force", _flag(force))])
        return await self._parse(response, wire.DeploymentResult)

    async def post_app_restart(self, app_id: str, *, force: bool = False) -> wire.DeploymentResult:
        response = await self._write("POST", app_path(app_id, "/restart"), [("force", _flag(force))])
        return await self._parse(response, wire.DeploymentResult)

    # -- tasks -----------------------------------------------------------------------------------

    async def get_app_tasks(self, app_id: str) -> list[wire.Task]:
        response = await self._read(app_path(app_id, "/tasks"))
        return (await self._parse(response, wire.TaskList)).tasks

    async def delete_app_task(
        self, app_id: str, task_id: str, *, scale: bool = False, wipe: bool = False
    ) -> wire.Task | wire.DeploymentResult:
        """Kill one task: Marathon replaces it (`scale=False`, answers the task) or lowers `instances`."""
        path = app_path(app_id, "/tasks/" + quote(task_id, safe=""))
        params = [("scale", _flag(scale)), ("wipe", _flag(wipe))]
        response = await self._write("DELETE", path, params)
        if scale:
            return await self._parse(response, wire.DeploymentResult)
        # Marathon up to 1.3 wraps the killed task in a one-element list.
        return await self._parse_field(response, "task", wire.Task, first_of_list=True)

    async def post_tasks_delete(self, task_ids: Sequence[str], *, scale: bool = False, wipe: bool = False) -> None:
        if scale and wipe:
            raise UsageError("POST /v2/tasks/delete: scale and wipe exclude each other", hint="choose one")
        params = [("scale", _flag(scale)), ("wipe", _flag(wipe))]
        await self._write("POST", "/v2/tasks/delete", params, {"ids": list(task_ids)})

    async def get_tasks(self, *, status: str | None = None) -> list[wire.Task]:
        """Every task of every app; `status` filters by `running` or `staging`."""
        response = await self._read("/v2/tasks", [("status", status)] if status else None)
        return (await self._parse(response, wire.TaskList)).tasks

    # -- deployments, queue, groups, cluster -----------------------------------------------------

    async def get_deployments(self) -> list[wire.Deployment]:
        response = await self._read("/v2/deployments")
        return await self._parse(response, list[wire.Deployment])

    async def delete_deployment(self, deployment_id: str, *, force: bool = False) -> wire.DeploymentResult | None:
        """Cancel a deployment: `force=False` starts a revert deployment (returned), True only stops it."""
        path = "/v2/deployments/" + quote(deployment_id, safe="")
        response = await self._write("DELETE", path, [("force", _flag(force))])
        if response.status_code == 202 or not response.content.strip(b" \r\n{}"):
            return None
        return await self._parse(response, wire.DeploymentResult)

    async def get_queue(self) -> list[wire.QueueItem]:
        response = await self._read("/v2/queue")
        return (await self._parse(response, wire.QueueList)).queue

    async def get_group(self, group_id: str = "/") -> wire.Group:
        """A group with its apps and subgroups; `/` is the root group."""
        path = "/v2/groups/" + quote(group_id.strip("/"), safe="/")
        response = await self._read(path.rstrip("/"))
        return await self._parse(response, wire.Group)

    async def get_info(self) -> wire.Info:
        return await self._parse(await self._read("/v2/info"), wire.Info)

    async def get_leader(self) -> str:
        """The leader's `host:port`."""
        return str(await self._parse_field(await self._read("/v2/leader"), "leader", str))

    async def ping(self) -> bool:
        """True when Marathon answers `/ping`; never raises for a Marathon that is down."""
        try:
            response = await self._send("GET", "/ping", None, None, self._timeouts.for_read())
        except RemoteError:
            return False
        # SystemResource.ping answers the JSON string `"pong"` to our `Accept: application/json`.
        return response.text.strip() in ("pong", '"pong"')

    async def observe(self) -> Actual:
        """The whole actual state in exactly two requests, whatever the number of apps; an app whose
        JSON is the same as at the previous observe is not decoded again, an answer byte for byte the
        previous one is not even parsed (app_memo.py). A large answer is decoded in a worker thread."""
        params: Params = [("embed", e) for e in DEFAULT_EMBED]
        response, deployments = await asyncio.gather(self._read("/v2/apps", params), self.get_deployments())
        apps = await decoded_off_loop(len(response.content), lambda: self._apps_answered(response))
        return Actual(apps=apps, deployments=tuple(to_actual_deployment(d) for d in deployments))

    def _apps_answered(self, response: httpx.Response) -> dict[str, ActualApp]:
        """The apps of a `/v2/apps` answer, those of the previous answer if it is byte for byte that one."""
        content = response.content
        apps = self._apps.unchanged(content)
        if apps is not None:
            return apps
        return self._decoded(response, lambda body, strict: self._apps.translate(
            _apps_of(body), content, lenient=not strict))

    # -- events ----------------------------------------------------------------------------------

    async def stream_event_types(
        self, event_types: Sequence[str] = (), *, opened: str | None = None
    ) -> AsyncIterator[str]:
        """The type of each event until the stream ends (the caller reconnects); only the type is read of
        an event (sse.event_type_of). Follows a standby's redirect. `opened`: yielded first, once the
        stream is open (Marathon sends nothing on connect that a filtered stream is sure to carry)."""
        params: Params = [("event_type", t) for t in event_types]
        async with self._open_event_stream(params) as response:
            if opened is not None:
                yield opened
            try:
                async for frame in adecode_lines(alines(response.aiter_bytes(), self._answer_bytes)):
                    event_type = await event_type_of(frame)
                    if event_type is not None:
                        yield event_type
            except AnswerTooLarge as exc:  # an event past the limit of an answer: the stream is given up
                raise too_large_error(self._call("GET", "/v2/events"), exc) from exc

    @contextlib.asynccontextmanager
    async def _open_event_stream(self, params: Params) -> AsyncIterator[httpx.Response]:
        url: httpx.URL | str = "/v2/events"
        headers = {"Accept": "text/event-stream"}
        for _ in range(MAX_EVENT_REDIRECTS + 1):
            request = self._http.build_request(
                "GET",
                url,
                params=httpx.QueryParams(tuple(params)) if params else None,
                headers=headers,
                timeout=self._timeouts.for_events(),
            )
            call = self._call("GET", self._relative(request.url.path))
            response = await self._open(call, request)
            if response.status_code not in _REDIRECTS:
                break
            # A standby answers the event stream with a redirect to the leader (Marathon 1.7+).
            await response.aclose()
            target = response.url.join(response.headers.get("location", ""))
            logger.info("event_stream_redirect location=%s", redact_url(str(target)))
            url, params = target, []
        try:
            if response.status_code >= 300:
                try:
                    answered = await bounded_response(response, self._answer_bytes)
                except AnswerTooLarge as exc:
                    raise too_large_error(call, exc) from exc
                raise error_from_response(call, answered)
            yield response
        finally:
            await response.aclose()

    async def _open(self, call: Call, request: httpx.Request) -> httpx.Response:
        self._count(call)
        try:
            return await self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise error_from_exception(call, exc) from exc

    # -- transport -------------------------------------------------------------------------------

    def _call(self, method: str, path: str) -> Call:
        return Call(method, path, self.base_url, self._auth.secrets())

    def _relative(self, path: str) -> str:
        """`path` without the base URL's own path (Marathon behind a prefix, as on DC/OS)."""
        prefix = self._http.base_url.path.rstrip("/")
        return path[len(prefix) :] if prefix and path.startswith(prefix + "/") else path

    def _count(self, call: Call) -> None:
        if self._on_request is not None:
            self._on_request(call.method, call.path)

    async def _read(self, path: str, params: Params | None = None) -> httpx.Response:
        """GET with retries and exponential backoff on RemoteUnavailable."""
        for attempt in range(self._retries + 1):
            try:
                return await self._send("GET", path, params, None, self._timeouts.for_read())
            except RemoteUnavailable as exc:
                if attempt == self._retries:
                    raise
                delay = min(self._max_backoff, self._backoff * 2**attempt)
                logger.warning(
                    "retry method=GET path=%s attempt=%d delay_s=%.2f error=%r", path, attempt + 1, delay, exc.message
                )
                await self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _write(
        self, method: str, path: str, params: Params, body: Mapping[str, Any] | list[Any] | None = None
    ) -> httpx.Response:
        """A state-changing call: sent once, never retried (Marathon may have acted on it)."""
        return await self._send(method, path, params, body, self._timeouts.for_write())

    async def _send(
        self, method: str, path: str, params: Params | None, body: Any, timeout: httpx.Timeout
    ) -> httpx.Response:
        call = self._call(method, path)
        if body is not None:  # an answer quoting the body back must not show its secret variables
            secrets = {*call.secrets, *secret_forms(tokens=secret_env_values(body))}
            call = dataclasses.replace(call, secrets=tuple(sorted(secrets, key=len, reverse=True)))
        self._count(call)
        started = time.monotonic()
        request = self._http.build_request(
            method, path, params=httpx.QueryParams(tuple(params or ())), json=body, timeout=timeout
        )
        try:
            response = await bounded_response(await self._http.send(request, stream=True), self._answer_bytes)
        except httpx.HTTPError as exc:
            # DEBUG as a success's line is: the retry's WARNING, or the error raised, tells the rest.
            logger.debug("request method=%s path=%s outcome=failed error=%s", method, path, type(exc).__name__)
            raise error_from_exception(call, exc) from exc
        except AnswerTooLarge as exc:
            raise too_large_error(call, exc) from exc
        elapsed_ms = (time.monotonic() - started) * 1000
        logger.debug(
            "request method=%s path=%s status=%d elapsed_ms=%.0f", method, path, response.status_code, elapsed_ms
        )
        try:
            response.raise_for_status()
        except httpx.HTTPStatusError as exc:
            raise error_from_response(call, response) from exc
        return response

    async def _parse(self, response: httpx.Response, model: type[ModelT]) -> ModelT:
        return await self._validate(response, model, lambda body: body)

    async def _parse_field(
        self, response: httpx.Response, key: str, model: type[ModelT], *, first_of_list: bool = False
    ) -> ModelT:
        """Validate `body[key]` (single-object wrappers such as `{"app": ...}` and `{"task": ...}`); an error
        names its field from the answer's top (`app/instances`)."""
        at: list[str | int] = [key]

        def pick(body: Any) -> Any:
            value = body[key]
            if first_of_list and isinstance(value, list) and value:
                at.append(0)
                return value[0]
            return value

        return await self._validate(response, model, pick, at)

    async def _validate(
        self, response: httpx.Response, model: type[ModelT], pick: Callable[[Any], Any], at: Sequence[str | int] = ()
    ) -> ModelT:
        """The answer validated as `model`, in a worker thread when it is large (gc_pause.decoded_off_loop);
        `at`: where in the answer `pick` found what is validated."""
        adapter = _adapter(cast(Hashable, model))
        return await decoded_off_loop(len(response.content), lambda: self._decoded(
            response, lambda body, _strict: cast(ModelT, adapter.validate_python(pick(body))), at))

    def _decoded(
        self, response: httpx.Response, decode: Callable[[Any, bool], DecodedT], at: Sequence[str | int] = ()
    ) -> DecodedT:
        """`decode(parsed JSON body, whether orjson parsed it)`; a body it cannot decode becomes the error
        naming the call. Touches nothing of the client's but the app memo: safe in a worker thread."""
        call = self._call(response.request.method, self._relative(response.request.url.path))
        try:
            return decode(*parsed_json_strictly(response.content))
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise error_from_body(call, response, exc, at) from exc
