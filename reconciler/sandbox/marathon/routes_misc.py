"""Deployments and the event stream (sandbox layer; FACTS.md §5, §10)."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from reconciler.sandbox.marathon.routes_apps import commit, core_of, refuse_over_capacity
from reconciler.sandbox.marathon.wire import ApiError, deployment_result, flag, json_response

KEEPALIVE_S = 15.0
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
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    subscription = bus.subscribe(frozenset(request.query.getall("event_type", [])))
    remote = request.remote or ""
    bus.publish("event_stream_attached", {"remoteAddress": remote})
    try:
        await _pump(request, response, subscription.queue)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        bus.unsubscribe(subscription)
        bus.publish("event_stream_detached", {"remoteAddress": remote})
    with contextlib.suppress(Exception):
        await response.write_eof()
    return response


async def _pump(request: web.Request, response: web.StreamResponse, queue: asyncio.Queue[str]) -> None:
    """Forward frames until the client goes away (checked often: aiohttp does not cancel us)."""
    idle = 0.0
    while request.transport is not None and not request.transport.is_closing():
        try:
            frame = await asyncio.wait_for(queue.get(), DISCONNECT_CHECK_S)
        except TimeoutError:
            idle += DISCONNECT_CHECK_S
            if idle < KEEPALIVE_S:
                continue
            frame = "\r\n"
        idle = 0.0
        await response.write(frame.encode())


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v2/deployments", list_deployments)
    app.router.add_delete("/v2/deployments/{id}", cancel_deployment)
    app.router.add_get("/v2/events", events)
