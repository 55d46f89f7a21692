"""Deployments and the event stream (sandbox layer; FACTS.md §5, §10)."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from reconciler.sandbox.marathon.events import CLOSE, Subscription
from reconciler.sandbox.marathon.routes_apps import commit, core_of, refuse_over_capacity
from reconciler.sandbox.marathon.wire import ApiError, deployment_result, flag, json_response

# Jetty's EventSourceServlet (jetty-servlets 9.4.8, Marathon's HttpEventStreamServlet sets no
# `heartBeatPeriod` init parameter): a bare CRLF every 10 s from the stream's opening, whether events
# flowed or not (EventSourceEmitter.run reschedules itself after each heartbeat). The period is
# MarathonSandboxConfig.event_stream_keepalive_seconds (10 s unless a test shortens it).
KEEPALIVE = web.AppKey("marathon_event_stream_keepalive", float)
DISCONNECT_CHECK_S = 0.1


async def list_deployments(request: web.Request) -> web.Response:
    core = core_of(request)
    return json_response([d.to_json() for d in core.state.deployments.values()])


async def cancel_deployment(request: web.Request) -> web.Response:
    core = core_of(request)
    deployment_id = request.match_info["id"]
    deployment = core.state.deployments.get(deployment_id)
    if deployment is None:
        raise ApiError(404, f"DeploymentPlan {deployment_id} does not exist")
    if flag(request, "force"):
        core.runner.cancel(deployment, "The deployment was stopped through the API")
        return web.Response(status=202)
    # The revert is a root change like any other: refused (403) while the maximum runs, the deployment
    # it would revert still running (DeploymentsResource.cancel -> GroupManagerImpl.updateRoot).
    refuse_over_capacity(core)
    target = core.writer.rollback_target(deployment)
    core.runner.cancel(deployment, "The deployment was rolled back through the API")
    new_id, version = commit(core, target, force=True)
    return deployment_result(new_id, version)


async def events(request: web.Request) -> web.StreamResponse:
    if "text/event-stream" not in request.headers.get("Accept", ""):
        return web.Response(
            status=405, text="<html><body><h2>HTTP ERROR 405</h2></body></html>", content_type="text/html"
        )
    core = core_of(request)
    bus = core.state.bus
    # EventSourceServlet.respond: UTF-8 text/event-stream and `Connection: close` (the connection ends
    # with the stream; aiohttp still chunks the body, which HTTP clients undo).
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream;charset=utf-8", "Cache-Control": "no-cache"}
    )
    response.force_close()
    await response.prepare(request)
    subscription = bus.subscribe(frozenset(request.query.getall("event_type", [])))
    remote = request.remote or ""
    bus.publish("event_stream_attached", {"remoteAddress": remote})
    try:
        await _pump(request, response, subscription)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        bus.unsubscribe(subscription)
        bus.publish("event_stream_detached", {"remoteAddress": remote})
    with contextlib.suppress(Exception):
        await response.write_eof()
    return response


async def _pump(request: web.Request, response: web.StreamResponse, subscription: Subscription) -> None:
    """Forward frames until the client goes away (checked often: aiohttp does not cancel us) or the
    server ends the stream; a keep-alive CRLF every KEEPALIVE seconds from the opening, events or not."""
    loop = asyncio.get_running_loop()
    period = request.app[KEEPALIVE]
    next_beat = loop.time() + period
    while request.transport is not None and not request.transport.is_closing() and not subscription.closed:
        wait = min(DISCONNECT_CHECK_S, max(next_beat - loop.time(), 0.0))
        try:
            frame = await asyncio.wait_for(subscription.queue.get(), wait)
        except TimeoutError:
            if loop.time() < next_beat:
                continue
            frame = "\r\n"
            next_beat = loop.time() + period
        if frame == CLOSE:
            return
        await response.write(frame.encode())


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v2/deployments", list_deployments)
    app.router.add_delete("/v2/deployments/{id}", cancel_deployment)
    app.router.add_get("/v2/events", events)
