"""`/ping`, `/v2/info`, `/metrics` and `/v2/leader` as Marathon v1.10.26 answers them (sandbox layer tests),
over raw HTTP and through marathon-python (PyPI `marathon`), which builds objects from the answers.

Sources: SystemResource.ping / SystemResource.metrics, raml/MetricsConversion.metricsRamlWriter,
InfoResource.index (marathonConfigValues, zookeeperConfigValues, httpConfigValues), LeaderResource.delete.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from marathon import MarathonClient
from marathon.models.info import MarathonInfo

from reconciler.sandbox.marathon import MarathonSandbox

MARATHON_CONFIG_KEYS = {
    "access_control_allow_origin", "checkpoint", "decline_offer_duration", "default_network_name",
    "env_vars_prefix", "executor", "failover_timeout", "features", "framework_name", "ha", "hostname",
    "launch_token", "launch_token_refresh_interval", "leader_proxy_connection_timeout_ms",
    "leader_proxy_read_timeout_ms", "local_port_max", "local_port_min", "master", "max_instances_per_offer",
    "mesos_bridge_name", "mesos_heartbeat_failure_threshold", "mesos_heartbeat_interval", "mesos_leader_ui_url",
    "mesos_role", "mesos_user", "new_group_enforce_role", "min_revive_offers_interval", "offer_matching_timeout",
    "on_elected_prepare_timeout", "reconciliation_initial_delay", "reconciliation_interval",
    "scale_apps_initial_delay", "scale_apps_interval", "store_cache", "task_launch_confirm_timeout",
    "task_launch_timeout", "task_lost_expunge_initial_delay", "task_lost_expunge_interval",
    "task_reservation_timeout", "webui_url", "maintenance_mode",
}
ZOOKEEPER_CONFIG_KEYS = {
    "zk", "zk_compression", "zk_compression_threshold", "zk_connection_timeout", "zk_max_node_size",
    "zk_max_versions", "zk_session_timeout", "zk_timeout",
}


@pytest.fixture
def client(marathon_sandbox: MarathonSandbox) -> MarathonClient:
    return MarathonClient([marathon_sandbox.url], timeout=10)


@pytest.mark.parametrize(
    ("accept", "status", "body", "content_type"),
    [
        ("application/json", 200, '"pong"', "application/json"),
        (None, 200, "pong", "text/plain"),
        ("*/*", 200, "pong", "text/plain"),  # text/plain is the first variant
        ("text/html", 200, "pong", "text/html"),
        ("text/csv", 200, "pong", "text/plain"),  # the text/* variant, never a wildcard Content-Type
        ("text/plain;q=0.5, application/json", 200, '"pong"', "application/json"),
        ("application/xml", 204, "", None),
    ],
)
async def test_ping_negotiates_like_system_resource(
    api: httpx.AsyncClient, accept: str | None, status: int, body: str, content_type: str | None
) -> None:
    answer = await api.get("/ping", headers={"Accept": accept} if accept else {})
    assert (answer.status_code, answer.text) == (status, body)
    if content_type:
        assert answer.headers["Content-Type"].split(";")[0] == content_type


async def test_info_has_exactly_marathons_keys(api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox) -> None:
    info = (await api.get("/v2/info")).json()
    assert set(info) == {"name", "version", "buildref", "elected", "leader", "frameworkId", "marathon_config",
                         "zookeeper_config", "http_config"}
    assert set(info["marathon_config"]) == MARATHON_CONFIG_KEYS
    assert set(info["zookeeper_config"]) == ZOOKEEPER_CONFIG_KEYS
    assert set(info["http_config"]) == {"http_port", "https_port"}
    assert info["leader"] == marathon_sandbox.url.removeprefix("http://")


async def test_metrics_snapshot_has_the_metrics_conversion_shape(api: httpx.AsyncClient) -> None:
    await api.post("/v2/apps", json={"id": "/m", "cmd": "sleep 1", "cpus": 0.1, "mem": 16})
    snapshot = (await api.get("/metrics")).json()
    assert set(snapshot) == {"version", "counters", "gauges", "histograms", "meters", "timers"}
    assert snapshot["version"] == "4.0.0"
    assert snapshot["gauges"]["marathon.apps.active.gauge"] == {"value": 1.0}
    ok = snapshot["meters"]["marathon.http.responses.2xx.rate.meter"]
    assert set(ok) == {"count", "m1_rate", "m5_rate", "m15_rate", "mean_rate", "units"} and ok["count"] >= 1
    assert ok["units"] == "events/second"


async def test_leader_abdicates_then_a_leader_answers_again(api: httpx.AsyncClient) -> None:
    before = (await api.get("/v2/leader")).json()
    answer = await api.delete("/v2/leader")
    assert (answer.status_code, answer.json()) == (200, {"message": "Leadership abdicated"})
    assert (await api.get("/v2/leader")).json() == before


async def test_marathon_python_reads_info_metrics_and_makes_the_leader_abdicate(
    client: MarathonClient, marathon_sandbox: MarathonSandbox
) -> None:
    info = await asyncio.to_thread(client.get_info)
    assert isinstance(info, MarathonInfo) and info.version == "1.10.26" and info.elected is True
    assert info.marathon_config.mesos_role == "*"
    assert info.zookeeper_config.zk_max_versions == 50
    metrics = await asyncio.to_thread(client.get_metrics)
    assert metrics["version"] == "4.0.0" and "marathon.uptime.gauge.seconds" in metrics["gauges"]
    assert await asyncio.to_thread(client.delete_leader) == {"message": "Leadership abdicated"}
    assert (await asyncio.to_thread(client.get_leader))["leader"] == info.leader
    assert await asyncio.to_thread(client.ping) == b'"pong"'
