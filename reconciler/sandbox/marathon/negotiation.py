"""Content negotiation as Jersey and Jetty do it in front of Marathon 1.10 (sandbox layer): 415 for a body
that is not JSON, 406 for an `Accept` without JSON, `/ping`'s variant choice, and gzip.

The resources declare `@Consumes(APPLICATION_JSON)` / `@Produces(APPLICATION_JSON)` (AppsResource,
AppTasksResource, TasksResource, ...); Jersey answers a mismatch with NotSupportedException (415) or
NotAcceptableException (406), which MarathonExceptionMapper renders `{"message": <reason phrase>}`.
Jetty's GzipHandler (HttpModule.scala) compresses GET answers of 32 bytes or more, never event streams.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import hdrs, web

GZIP_MIN_BYTES = 32  # Jetty GzipHandler.DEFAULT_MIN_GZIP_SIZE
TEXT_PLAIN_TASKS = "text_plain_tasks"
TEXT_PLAIN_DEPRECATED = (
    f"The text/plain output is deprecated. It can be enabled via {TEXT_PLAIN_TASKS}."  # AppTasksResource.indexTxt
)
# Paths whose resources do not declare JSON: /ping negotiates itself, the event stream is SSE, and the
# fault API is the sandbox's own.
OWN_NEGOTIATION = ("/ping", "/v2/events", "/_sandbox/")
DEPRECATED = web.AppKey("marathon_deprecated_features", frozenset)


@dataclass(frozen=True)
class MediaRange:
    kind: str
    subtype: str
    quality: float

    def matches(self, kind: str, subtype: str) -> bool:
        return self.kind in ("*", kind) and self.subtype in ("*", subtype)


def media_ranges(accept: str) -> list[MediaRange]:
    """The client's media ranges, most preferred first (quality, then specificity, then order)."""
    ranges = []
    for index, part in enumerate(p for p in accept.split(",") if p.strip()):
        media, *params = (item.strip() for item in part.split(";"))
        kind, _, subtype = media.lower().partition("/")
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        specificity = (kind != "*") + (subtype not in ("*", ""))
        ranges.append((-quality, -specificity, index, MediaRange(kind, subtype or "*", quality)))
    return [entry[-1] for entry in sorted(ranges, key=lambda e: e[:3])]


def accepts(request: web.Request, kind: str, subtype: str) -> bool:
    """Whether the `Accept` header (absent = anything) admits kind/subtype with a quality above 0."""
    header = request.headers.get(hdrs.ACCEPT)
    if header is None or not header.strip():
        return True
    return any(r.quality > 0 and r.matches(kind, subtype) for r in media_ranges(header))


def prefers_text(request: web.Request) -> bool:
    """Whether a task list would go to the `text/plain;qs=0.1` method: the client takes text/plain but
    not JSON (with both, the server-side quality 0.1 makes JSON win)."""
    return request.headers.get(hdrs.ACCEPT) is not None and accepts(request, "text", "plain") and not accepts(
        request, "application", "json"
    )


def refusal(request: web.Request) -> web.Response | None:
    """415 or 406 as Jersey answers before a matched resource runs, or None to go on. A GET of a task
    list also has a `text/plain` method (TasksResource.indexTxt, AppTasksResource.indexTxt)."""
    if request.path.startswith(OWN_NEGOTIATION) or request.match_info.http_exception is not None:
        return None
    text_too = request.method == "GET" and (request.path == "/v2/tasks" or request.path.endswith("/tasks"))
    return _unsupported(request) or _unacceptable(request, text_too)


def _unsupported(request: web.Request) -> web.Response | None:
    # Jersey matches a request without Content-Type against any @Consumes; only a declared non-JSON type fails.
    declared = request.headers.get(hdrs.CONTENT_TYPE)
    if declared is None or not declared.strip():
        return None
    kind, _, subtype = declared.split(";")[0].strip().lower().partition("/")
    if MediaRange(kind, subtype, 1.0).matches("application", "json"):
        return None
    return _error(415, "Unsupported Media Type")


def _unacceptable(request: web.Request, text_too: bool) -> web.Response | None:
    if accepts(request, "application", "json") or (text_too and accepts(request, "text", "plain")):
        return None
    return _error(406, "Not Acceptable")


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


def ping_variant(request: web.Request) -> tuple[str, str] | None:
    """SystemResource.ping: the first of text/plain, text/html, application/json, text/* the client's
    most preferred range admits; JSON gets `"pong"`, text gets `pong`; None = 204 No Content."""
    header = request.headers.get(hdrs.ACCEPT)
    if header is None or not header.strip():
        return "pong", "text/plain"
    variants = [("text", "plain"), ("text", "html"), ("application", "json")]
    for media in media_ranges(header):
        if media.quality <= 0:
            continue
        for kind, subtype in variants:
            if media.matches(kind, subtype):
                return ('"pong"', "application/json") if kind == "application" else ("pong", f"{kind}/{subtype}")
        if media.kind == "text":  # the text/* variant, never answered with a wildcard type
            return "pong", "text/plain"
    return None


def compress_if_accepted(request: web.Request, response: web.StreamResponse) -> None:
    """Jetty's GzipHandler: GET only, at least 32 bytes, not an event stream, when the client takes gzip."""
    if request.method != "GET" or not isinstance(response, web.Response) or response.prepared:
        return
    if "gzip" not in request.headers.get(hdrs.ACCEPT_ENCODING, "").lower():
        return
    if response.content_type == "text/event-stream" or len(response.body or b"") < GZIP_MIN_BYTES:  # type: ignore[arg-type]
        return
    response.enable_compression(web.ContentCoding.gzip)
