"""Autoscaling on a Prometheus query whose targets come from Consul, end to end with real clients:
the controller (in process) runs an app against the Marathon + Consul sandbox and registers its tasks
in Consul; vmagent (Debian's victoria-metrics; Debian's prometheus has no Consul discovery) discovers
them with the `consul_sd_configs` of docs/autoscaling.md against the sandbox's Consul, scrapes the
`requests_total` the simulated tasks export and remote-writes it into Debian's Prometheus; the
controller's PrometheusQueries reads the rate there and the app scales up. What vmagent discovered
(addresses, `__meta_consul_*` labels, health) proves the Consul sandbox's catalog and blocking health
answers to a client that is not ours."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from reconciler.consul.client import ConsulClient
from reconciler.core.autoscale import Decision
from reconciler.core.autoscale_metrics import MetricKind
from reconciler.engine.autoscaling import AppScaling, Autoscaler, AutoscaleSources
from reconciler.engine.controller import Controller, ControllerOptions
from reconciler.engine.cycle import CycleOptions, CycleResult, Reconciler
from reconciler.marathon import MarathonClient
from reconciler.metrics.prometheus import PrometheusQueries
from reconciler.sandbox.consul import ConsulSandboxConfig
from reconciler.sandbox.stack import Sandbox, SandboxConfig
from reconciler.spec import load_desired
from tests.e2e.prometheus_support import active_targets, binary, free_port, poll, process, prometheus_server
from tests.sandbox.marathon.fixtures import fast_config

pytestmark = pytest.mark.slow

DOC = Path(__file__).resolve().parents[2] / "docs" / "autoscaling.md"
QUERY = 'sum(rate(requests_total{job="shop-web"}[5s]))'
RATE_PER_TASK = 30.0  # requests per second: 60 for 2 tasks, against an average of 10 a task
METRIC = f"{{prometheus: {{query: '{QUERY}', target: {{averageValue: 10}}}}}}"
SPEC = f"""\
apiVersion: reconciler/v1
kind: Environment
name: shop
apps:
  web:
    cmd: serve
    cpus: 0.1
    mem: 32
    ports: [{{name: http}}]
    healthChecks: [{{protocol: HTTP, path: /metrics, portIndex: 0, gracePeriodSeconds: 0, intervalSeconds: 1}}]
    autoscale:
      min: 2
      max: 4
      metrics: [{METRIC}]
"""
# vmagent's flags besides addresses and paths, each shown in the doc's command: Consul every second.
VMAGENT_FLAGS = ["-promscrape.consulSDCheckInterval=1s"]


def doc_blocks(kind: str) -> list[str]:
    section = DOC.read_text().split("### Prometheus with Consul discovery", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{kind}\n(.*?)```", section, re.S)


def scrape_config(consul: str) -> dict[str, Any]:
    """The doc's scrape configuration, its `server` pointed at the sandbox's Consul (host:port)."""
    config: dict[str, Any] = yaml.safe_load(doc_blocks("yaml")[0])
    for job in config["scrape_configs"]:
        for discovery in job["consul_sd_configs"]:
            discovery["server"] = consul
    return config


@dataclass
class Running:
    sandbox: Sandbox
    vmagent: str
    prometheus: str
    scalings: list[AppScaling] = field(default_factory=list)

    def record(self, result: CycleResult) -> None:
        self.scalings.extend(s for s in result.autoscale if s.app_id == "/shop/web")

    async def decided(self, count: int) -> Decision | None:
        """The first decision for at least `count` tasks (async: poll's probe)."""
        return next((s.decision for s in self.scalings if s.decision and s.decision.instances >= count), None)

    async def tasks(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.sandbox.marathon_url, timeout=10) as api:
            app = (await api.get("/v2/apps/shop/web", params={"embed": "app.tasks"})).json().get("app") or {}
        return [t for t in app.get("tasks", []) if t["state"] == "TASK_RUNNING"]


@contextlib.asynccontextmanager
async def running_stack(tmp_path: Path) -> AsyncIterator[Running]:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "shop.yaml").write_text(SPEC)
    config = SandboxConfig(marathon=fast_config(agents=3, keep_event_history=False),
                           consul=ConsulSandboxConfig(check_interval_scale=0.05))
    async with contextlib.AsyncExitStack() as stack:
        sandbox = await stack.enter_async_context(Sandbox(config))
        prometheus = stack.enter_context(prometheus_server(tmp_path, {}, "--web.enable-remote-write-receiver"))
        vmagent = stack.enter_context(vmagent_process(tmp_path, str(sandbox.consul_url), prometheus))
        client = await stack.enter_async_context(httpx.AsyncClient(timeout=5.0))
        marathon = await stack.enter_async_context(MarathonClient(sandbox.marathon_url))
        consul = await stack.enter_async_context(ConsulClient(str(sandbox.consul_url), retries=1, timeout=2.0))
        autoscaler = Autoscaler(AutoscaleSources(prometheus=PrometheusQueries(client, prometheus)))
        reconciler = Reconciler(lambda: load_desired(tmp_path / "specs"), marathon, consul, CycleOptions(),
                                autoscaler=autoscaler)
        state = Running(sandbox, vmagent, prometheus)
        loop = Controller(reconciler.cycle, ControllerOptions(resync_seconds=0.5, retry_seconds=0.2),
                          on_cycle=state.record)
        task = asyncio.create_task(loop.run())
        try:
            yield state
        finally:
            loop.stop()
            await asyncio.wait_for(task, 30)


@contextlib.contextmanager
def vmagent_process(tmp_path: Path, consul_url: str, prometheus: str) -> Iterator[str]:
    """vmagent scraping what the doc's configuration finds in Consul, remote-writing into `prometheus`."""
    config = tmp_path / "scrape.yml"
    config.write_text(json.dumps(scrape_config(consul_url.removeprefix("http://"))))
    port = free_port()
    argv = [binary("vmagent", "victoria-metrics"), f"-promscrape.config={config}", *VMAGENT_FLAGS,
            f"-remoteWrite.url={prometheus}/api/v1/write", f"-remoteWrite.tmpDataPath={tmp_path / 'vmagent-data'}",
            f"-httpListenAddr=127.0.0.1:{port}", "-loggerLevel=WARN"]
    with process(argv, tmp_path / "vmagent.log"):
        yield f"http://127.0.0.1:{port}"


def test_the_scrape_config_and_flags_are_the_ones_docs_autoscaling_md_shows() -> None:
    config = scrape_config("127.0.0.1:1")
    assert config["scrape_configs"][0]["job_name"] == "shop-web" and 'job="shop-web"' in QUERY
    command = doc_blocks("sh")[0]
    assert all(flag in command for flag in [*VMAGENT_FLAGS, "--web.enable-remote-write-receiver", "/api/v1/write"])
    assert f"`{METRIC}`" in DOC.read_text()


def test_debians_prometheus_refuses_consul_sd_configs_hence_vmagent(tmp_path: Path) -> None:
    """Why vmagent at all: should Debian's build ever take the doc's configuration, Prometheus itself
    can discover through Consul and this test says so."""
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps(scrape_config("127.0.0.1:1")))
    checked = subprocess.run([binary("promtool", "prometheus"), "check", "config", str(config)],
                             check=False, capture_output=True, text=True, timeout=60)
    assert checked.returncode != 0 and "field consul_sd_configs not found" in checked.stdout + checked.stderr, checked


@pytest.mark.timeout(600)  # four waits of up to 120 s each: vmagent, Prometheus and the controller share 2 cores
async def test_vmagent_discovers_the_tasks_in_consul_and_the_query_scales_the_app_up(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as running, httpx.AsyncClient(timeout=5.0) as client:
        async def discovered(count: int) -> list[dict[str, Any]] | None:
            targets = await active_targets(client, running.vmagent)
            up = len(targets) == count and all(t["health"] == "up" for t in targets)
            healthy = all(t["discoveredLabels"]["__meta_consul_health"] == "passing" for t in targets)
            return targets if up and healthy else None

        targets = await poll(lambda: discovered(2), "vmagent scrapes the 2 tasks it found in Consul", 120)
        tasks = await running.tasks()
        assert_discovered(targets, tasks)
        async with httpx.AsyncClient(base_url=running.sandbox.marathon_url, timeout=10) as api:
            loaded = await api.put("/_sandbox/load", json={"app": "/shop/web", "requests": RATE_PER_TASK})
            assert loaded.status_code == 200, loaded.text

        first = await poll(lambda: running.decided(3), "the controller scales the app up on the query", 120)
        proposal = first.proposals[0]
        # The rate climbs over its 5 s window, so the app may reach 4 in one step (ceil(60 / 10) = 6,
        # the legacy limit 4) or through 3: either way from 2, on the query's value (`current` is its
        # average over the 2 tasks) against 10 a task.
        assert (first.current, proposal.metric.kind) == (2, MetricKind.PROMETHEUS), first
        assert proposal.current is not None and proposal.instances is not None, proposal
        assert proposal.instances - 1 < 2 * proposal.current / 10 <= proposal.instances + 0.01, proposal
        await poll(lambda: running.decided(4), "the controller scales the app to its max, 4", 120)
        # The 2 tasks Marathon added are registered by the controller; vmagent's blocking health
        # query on Consul returns with them.
        targets = await poll(lambda: discovered(4), "vmagent scrapes the 4 tasks", 120)
        assert_discovered(targets, await running.tasks())


def assert_discovered(targets: list[dict[str, Any]], tasks: list[dict[str, Any]]) -> None:
    """Each target is a running task at its host and port, with the labels Consul's answers carry."""
    by_task = {t["id"]: t for t in tasks}
    assert {t["labels"]["task"] for t in targets} == set(by_task)
    for target in targets:
        task, meta = by_task[target["labels"]["task"]], target["discoveredLabels"]
        agent = f"agent-{int(task['host'].rsplit('.', 1)[1]) - 1}"  # agent-1 on 127.0.0.2, ...
        assert target["scrapeUrl"] == f"http://{task['host']}:{task['ports'][0]}/metrics"
        assert (meta["__meta_consul_service"], meta["__meta_consul_node"], meta["__meta_consul_dc"]) == (
            "web", agent, "dc1"), meta
        assert (meta["__meta_consul_service_address"], meta["__meta_consul_service_port"]) == (
            task["host"], str(task["ports"][0])), meta
        assert meta["__meta_consul_tags"] in (",shop,managed-by-reconciler,", ",managed-by-reconciler,shop,"), meta
        assert meta["__meta_consul_service_metadata_marathon_app_id"] == "/shop/web", meta
