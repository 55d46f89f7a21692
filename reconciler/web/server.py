"""The controller's HTTP server (face layer): health, readiness, metrics, status and the git webhook.

    GET  /healthz     200 while the process serves requests
    GET  /readyz      200 once ready (first cycle done; for the leader, the lock held), else 503
    GET  /metrics     Prometheus text exposition
    GET  /status      the status document (JSON)
    POST /hooks/git   asks for a fetch and a cycle; with a secret, only when X-Hub-Signature-256 matches
                      (GitHub, Gitea) or X-Gitlab-Token is the secret (GitLab)

What can be judged from a delivery's head (its declared length, a missing proof, GitLab's token) is
judged before its body is read, and before `100 Continue` is answered to a client that waits for it
(`Expect: 100-continue`, as curl sends for bodies over 1 KiB): such a client gets the refusal and never
sends the body. The body itself is read up to the 25 MiB limit only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from aiohttp import hdrs, web
from aiohttp.http import HttpVersion11
from prometheus_client import CONTENT_TYPE_LATEST

from reconciler.engine.telemetry import ControllerMetrics
from reconciler.errors import UsageError
from reconciler.listeners import start_site, stop_runners
from reconciler.web.signature import SIGNATURE_HEADER, TOKEN_HEADER, delivery_valid, token_valid

log = logging.getLogger("reconciler.web")
DEFAULT_LISTEN = ("127.0.0.1", 9090)
MAX_HOOK_BODY = 25 * 1024 * 1024  # GitHub caps webhook payloads at 25 MB


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str


@dataclass(frozen=True)
class ServerHooks:
    """What the server asks of the controller; every callable must return at once (no I/O)."""

    status: Callable[[], Mapping[str, Any]]
    readiness: Callable[[], Readiness]
    on_git_push: Callable[[str], None]  # the reason, e.g. "webhook:push"
    metrics: ControllerMetrics
    webhook_secret: bytes | None = None
    branch: str | None = None  # pushes to other branches are acknowledged and ignored


_HOOKS: web.AppKey[ServerHooks] = web.AppKey("hooks", ServerHooks)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    readiness = request.app[_HOOKS].readiness()
    return web.Response(status=200 if readiness.ready else 503, text=f"{readiness.reason}\n")


async def metrics(request: web.Request) -> web.Response:
    body = request.app[_HOOKS].metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def status(request: web.Request) -> web.Response:
    return web.json_response(dict(request.app[_HOOKS].status()), dumps=lambda d: json.dumps(d, default=str))


def _pushed_branch(body: bytes, content_type: str) -> str | None:
    """`main` for a push payload whose ref is `refs/heads/main`; None when the body says nothing. GitHub's
    and Gitea's form deliveries carry the JSON payload in the `payload` field."""
    try:
        if content_type == "application/x-www-form-urlencoded":
            body = parse_qs(body.decode(), max_num_fields=100).get("payload", [""])[0].encode()
        ref = json.loads(body).get("ref") if body else None
    except (ValueError, AttributeError):
        return None
    return ref.removeprefix("refs/heads/") if isinstance(ref, str) and ref.startswith("refs/heads/") else None


def _event(request: web.Request) -> str:
    """`push`, `ping`...: GitHub's and Gitea's X-GitHub-Event, or GitLab's X-Gitlab-Event (`Push Hook`)."""
    gitlab = request.headers.get("X-Gitlab-Event")
    if "X-GitHub-Event" not in request.headers and gitlab:
        return gitlab.removesuffix(" Hook").lower().replace(" ", "_")
    return request.headers.get("X-GitHub-Event", "push")


async def git_hook(request: web.Request) -> web.Response:
    hooks = request.app[_HOOKS]
    refused = _refused_unread(request, hooks)
    if refused is not None:
        return refused
    try:
        body = await request.read()  # aiohttp stops reading past client_max_size: a chunked body is cut off
    except web.HTTPRequestEntityTooLarge:
        return _refuse(413, "too-large", f"the body is over the {MAX_HOOK_BODY} bytes a delivery may have")
    if hooks.webhook_secret is not None and not delivery_valid(hooks.webhook_secret, body, request.headers):
        return _refuse(401, "bad-signature", _UNSIGNED)
    event = _event(request)
    if event == "ping":
        return web.json_response({"triggered": False, "reason": "ping"})
    branch = _pushed_branch(body, request.content_type)
    if hooks.branch is not None and branch is not None and branch != hooks.branch:
        return web.json_response({"triggered": False, "reason": f"push to {branch}, not {hooks.branch}"},
                                 status=202)
    hooks.on_git_push(f"webhook:{event}")
    return web.json_response({"triggered": True}, status=202)


_UNSIGNED = f"missing or invalid {SIGNATURE_HEADER} (or {TOKEN_HEADER})"


def _refused_unread(request: web.Request, hooks: ServerHooks) -> web.Response | None:
    """The refusal of a delivery that can be judged before its body is read (none for the rest): a declared
    length over the limit, or, with a secret, neither proof header, or GitLab's token (the secret itself,
    it needs no body) wrong. A signature is judged once the body is read."""
    length = request.content_length
    if length is not None and length > MAX_HOOK_BODY:
        return _refuse(413, "too-large", f"a body of {length} bytes is over the {MAX_HOOK_BODY} a delivery may have")
    secret, headers = hooks.webhook_secret, request.headers
    if secret is None or SIGNATURE_HEADER in headers:
        return None
    if TOKEN_HEADER not in headers:
        return _refuse(401, "unsigned", _UNSIGNED)
    return None if token_valid(secret, headers[TOKEN_HEADER]) else _refuse(401, "bad-signature", _UNSIGNED)


async def git_hook_expect(request: web.Request) -> web.Response | None:
    """Answers `Expect: 100-continue` with the refusal of a delivery judged from its head, else with
    `100 Continue` as aiohttp's own expect handler does (an expectation other than 100-continue: 417)."""
    refused = _refused_unread(request, request.app[_HOOKS])
    if refused is not None:
        return refused
    expect = request.headers.get(hdrs.EXPECT, "")
    if request.version != HttpVersion11:
        return None
    if expect.lower() != "100-continue":
        raise web.HTTPExpectationFailed(text=f"Unknown Expect: {expect}")
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0  # the answer proper starts after it
    return None


def _refuse(status: int, reason: str, error: str) -> web.Response:
    """A refused delivery: logged, answered, and its connection closed once answered (whatever is left of
    its body is never read: the server does not linger, build_app)."""
    log.warning("event=webhook-refused reason=%s", reason)
    response = web.json_response({"error": error}, status=status)
    response.force_close()
    return response


def build_app(hooks: ServerHooks) -> web.Application:
    app = web.Application(client_max_size=MAX_HOOK_BODY)
    app[_HOOKS] = hooks
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/status", status)
    app.router.add_post("/hooks/git", git_hook, expect_handler=git_hook_expect)
    return app


class HttpServer:
    """Runs the app on host:port (port 0 picks a free one); `start()` returns the bound address."""

    def __init__(self, hooks: ServerHooks, host: str = DEFAULT_LISTEN[0], port: int = DEFAULT_LISTEN[1]) -> None:
        # No lingering: aiohttp would otherwise read and drop what is left of a refused body for up to 10 s
        # before it closes the connection; a refusal closes it at once (git_hook).
        self._runner = web.AppRunner(build_app(hooks), access_log=None, lingering_time=0)
        self._host, self._port = host, port

    async def start(self) -> tuple[str, int]:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        try:
            await start_site(site)
        except OSError as exc:
            await self._runner.cleanup()
            raise UsageError(f"--listen {self._host}:{self._port}: {exc.strerror}",
                             hint="choose a free port, or another address") from exc
        host, port = self._runner.addresses[0][:2]
        return str(host), int(port)

    async def stop(self) -> None:
        """Closes every connection, those a scraper or webhook opened just as the server stopped included."""
        await stop_runners(self._runner)


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT` (or `[v6]:PORT`) -> (host, port); a ValueError says what is wrong."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"'{text}' is not HOST:PORT (for example 127.0.0.1:9090)")
    return host.strip("[]") or DEFAULT_LISTEN[0], int(port)
