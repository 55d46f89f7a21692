"""`/ping`, `/metrics`, `/v2/info` and `/v2/leader` (sandbox layer) as Marathon 1.10's SystemResource,
InfoResource and LeaderResource answer them (FACTS.md §11), plus the HTTP meters `/metrics` reports.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from aiohttp import web

from reconciler.sandbox.marathon.model import TaskState
from reconciler.sandbox.marathon.negotiation import ping_variant
from reconciler.sandbox.marathon.routes_apps import core_of
from reconciler.sandbox.marathon.wire import json_response

VERSION = "1.10.26"
METRICS_VERSION = "4.0.0"  # MetricsConversion.metricsRamlWriter
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
ABDICATION_DELAY_S = 0.5  # LeaderResource.abdicationDelay


@dataclass
class HttpMeters:
    """Counts of answers per status class since start (InstrumentedHandler's response meters)."""

    started: float = field(default_factory=time.monotonic)
    responses: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUS_CLASSES, 0))

    def count(self, status: int) -> None:
        name = f"{status // 100}xx"
        if name in self.responses:
            self.responses[name] += 1


METERS = web.AppKey("marathon_http_meters", HttpMeters)


async def ping(request: web.Request) -> web.Response:
    """SystemResource.ping: JSON `"pong"` for a JSON client, `pong` as text otherwise, 204 when neither fits."""
    variant = ping_variant(request)
    if variant is None:
        return web.Response(status=204)
    text, media_type = variant
    return web.Response(text=text, content_type=media_type)


async def info(request: web.Request) -> web.Response:
    """InfoResource.index: exactly its keys (marathon-python builds objects from them and fails on others)."""
    core = core_of(request)
    host = request.host
    port = int(host.rsplit(":", 1)[1]) if ":" in host else 80
    return json_response(
        {
            "name": "marathon",
            "version": VERSION,
            "buildref": "sandbox",
            "elected": True,
            "leader": host,
            "frameworkId": core.framework_id,
            "marathon_config": {**marathon_config(host), "features": sorted(core.features)},
            "zookeeper_config": {
                "zk": "zk://sandbox:2181/marathon",
                "zk_compression": True,
                "zk_compression_threshold": 65536,
                "zk_connection_timeout": 10000,
                "zk_max_node_size": 1024000,
                "zk_max_versions": 50,
                "zk_session_timeout": 10000,
                "zk_timeout": 10000,
            },
            "http_config": {"http_port": port, "https_port": 8443},
        }
    )


def marathon_config(host: str) -> dict[str, object]:
    """InfoResource.marathonConfigValues with MarathonConf's defaults (an unset option renders null)."""
    return {
        "access_control_allow_origin": None,
        "checkpoint": True,
        "decline_offer_duration": 120000,
        "default_network_name": None,
        "env_vars_prefix": None,
        "executor": "//cmd",
        "failover_timeout": 604800,
        "features": [],
        "framework_name": "marathon",
        "ha": False,
        "hostname": host.rsplit(":", 1)[0],
        "launch_token": 100,
        "launch_token_refresh_interval": 30000,
        "leader_proxy_connection_timeout_ms": 5000,
        "leader_proxy_read_timeout_ms": 10000,
        "local_port_max": 20000,
        "local_port_min": 10000,
        "master": "sandbox",
        "max_instances_per_offer": 5,
        "mesos_bridge_name": "mesos-bridge",
        "mesos_heartbeat_failure_threshold": 5,
        "mesos_heartbeat_interval": 15000,
        "mesos_leader_ui_url": None,
        "mesos_role": "*",
        "mesos_user": None,
        "new_group_enforce_role": "off",
        "min_revive_offers_interval": 5000,
        "offer_matching_timeout": 3000,
        "on_elected_prepare_timeout": 180000,
        "reconciliation_initial_delay": 15000,
        "reconciliation_interval": 600000,
        "scale_apps_initial_delay": 15000,
        "scale_apps_interval": 300000,
        "store_cache": True,
        "task_launch_confirm_timeout": 300000,
        "task_launch_timeout": 300000,
        "task_lost_expunge_initial_delay": 300000,
        "task_lost_expunge_interval": 30000,
        "task_reservation_timeout": 20000,
        "webui_url": None,
        "maintenance_mode": True,
    }


async def leader(request: web.Request) -> web.Response:
    return json_response({"leader": request.host})


async def abdicate(request: web.Request) -> web.Response:
    """LeaderResource.delete: the leader steps down after LeaderResource.abdicationDelay (500 ms). Its
    event streams end then (HttpEventStreamActor closes every handle on LeadershipTransition.Standby; the
    process itself crashes and restarts, ElectionServiceImpl.localTransitionSink), so a client sees its
    `/v2/events` connection close. Being the only candidate, the sandbox is elected again at once."""
    bus = core_of(request).state.bus
    asyncio.get_running_loop().call_later(ABDICATION_DELAY_S, bus.close_streams)
    return json_response({"message": "Leadership abdicated"})


async def metrics(request: web.Request) -> web.Response:
    """SystemResource.metrics: MetricsConversion's snapshot (version, counters, gauges, histograms, meters,
    timers), named as DropwizardMetrics.constructName names them (`marathon.<name>.<type>`)."""
    core = core_of(request)
    meters = request.app[METERS]
    uptime = max(time.monotonic() - meters.started, 1e-3)
    tasks = list(core.state.all_tasks())
    gauges = {
        "marathon.deployments.active.gauge": len(core.state.deployments),
        "marathon.instances.running.gauge": sum(1 for t in tasks if t.state == TaskState.RUNNING),
        "marathon.instances.staged.gauge": sum(1 for t in tasks if t.state == TaskState.STAGING),
        "marathon.apps.active.gauge": len(core.state.apps),
        "marathon.groups.active.gauge": max(len(core.state.groups), 1),
        "marathon.pods.active.gauge": 0,
        "marathon.uptime.gauge.seconds": uptime,
    }
    return json_response(
        {
            "version": METRICS_VERSION,
            "counters": {},
            "gauges": {name: {"value": float(value)} for name, value in gauges.items()},
            "histograms": {},
            "meters": {
                f"marathon.http.responses.{name}.rate.meter": meter(count, uptime)
                for name, count in meters.responses.items()
            },
            "timers": {},
        }
    )


def meter(count: int, uptime: float) -> dict[str, object]:
    """A Dropwizard meter; the sandbox keeps no moving windows, so every rate is the mean rate."""
    rate = count / uptime
    return {
        "count": count,
        "m1_rate": rate,
        "m5_rate": rate,
        "m15_rate": rate,
        "mean_rate": rate,
        "units": "events/second",
    }


def add_routes(app: web.Application) -> None:
    app[METERS] = HttpMeters()
    app.router.add_get("/ping", ping)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/v2/info", info)
    app.router.add_get("/v2/leader", leader)
    app.router.add_delete("/v2/leader", abdicate)
