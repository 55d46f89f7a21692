"""Autoscaling on a Prometheus query, end to end with a real Prometheus server (Debian's package,
scripts/ensure-prometheus): it discovers the sandbox's tasks through its `marathon_sd_configs` against
the Marathon sandbox (so the sandbox serves a real discovery client), scrapes the `requests_total`
counter the simulated tasks export (its rate set through the fault API), and PrometheusQueries reads a
rate over it from which the decision function proposes a scale-up.

Debian's build has no Consul discovery (changelog 2.33.5+ds1-4: "Disable Consul SD until its Debian
package is back in shape"; 2.42.0+ds-5+deb12u1 refuses `consul_sd_configs`), hence Marathon's here;
test_autoscale_prometheus_consul.py discovers through Consul with vmagent."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.core.autoscale import ScaleHistory, decide
from reconciler.metrics.prometheus import PrometheusQueries
from reconciler.sandbox.marathon import MarathonSandbox
from tests.e2e.autoscale_support import app_tasks, policy, views
from tests.e2e.prometheus_support import active_targets, prometheus_server
from tests.sandbox.marathon.fixtures import fast_config, until

pytestmark = pytest.mark.slow
DOC = Path(__file__).resolve().parents[2] / "docs" / "autoscaling.md"

APP = {"id": "/web", "cmd": "serve", "cpus": 0.1, "mem": 32, "instances": 2}
QUERY = 'sum(rate(requests_total{job="sandbox-tasks"}[5s]))'
RATE_PER_TASK = 30.0


def prometheus_config(marathon: str) -> dict[str, Any]:
    """Scrape and discovery every second, so the test waits seconds, not minutes."""
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "sandbox-tasks",
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "marathon_sd_configs": [{"servers": [marathon], "refresh_interval": "1s"}],
                "relabel_configs": [{"source_labels": ["__meta_marathon_task"], "target_label": "task"}],
            }
        ],
    }


@pytest.fixture
async def sandbox() -> AsyncIterator[MarathonSandbox]:
    async with MarathonSandbox(fast_config(agents=3)) as running:
        yield running


@pytest.fixture
def prometheus(sandbox: MarathonSandbox, tmp_path: Path) -> Iterator[str]:
    """A Prometheus server of our own on a loopback port; stopped (by its pid) after the test."""
    with prometheus_server(tmp_path, prometheus_config(sandbox.url)) as url:
        yield url


async def test_prometheus_discovers_the_tasks_and_its_query_scales_up(
    sandbox: MarathonSandbox, prometheus: str
) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=10.0) as api:
        assert (await api.post("/v2/apps", json=APP)).status_code == 201
        await sandbox.wait_idle()
        app, tasks = await app_tasks(api, "/web")
        await api.put("/_sandbox/load", json={"app": "/web", "requests": RATE_PER_TASK})

    async with httpx.AsyncClient(timeout=10.0) as client:
        queries = PrometheusQueries(client, prometheus)

        async def scraped_targets() -> list[dict[str, Any]]:
            active = await active_targets(client, prometheus)
            every_up = len(active) == len(tasks) and all(t["health"] == "up" for t in active)
            return list(active) if every_up else []

        targets = await until(scraped_targets, "Prometheus scrapes both tasks it discovered", timeout=90)
        assert {t["labels"]["task"] for t in targets} == {t["id"] for t in tasks}
        assert {t["discoveredLabels"]["__meta_marathon_app"] for t in targets} == {"/web"}
        assert {t["scrapeUrl"] for t in targets} == {f"http://{t['host']}:{t['ports'][0]}/metrics" for t in tasks}

        async def request_rate() -> float | None:
            value = await queries.query(QUERY)
            return value if value is not None and value > RATE_PER_TASK * len(tasks) * 0.8 else None

        rate = await until(request_rate, f"{QUERY} reaches the load's rate", timeout=90)
        assert rate == pytest.approx(RATE_PER_TASK * len(tasks), rel=0.2)

    scaling = policy(
        {
            "min": 1,
            "max": 10,
            "metrics": [
                {"prometheus": {"query": QUERY, "target": {"value": 20}}},
                {"prometheus": {"query": QUERY, "target": {"averageValue": 10}}},
            ],
        }
    )
    decision = decide(scaling, 2, views(app, tasks, {}), now=0.0, external={QUERY: rate})
    # value: ceil(rate / 20 x 2 ready tasks); averageValue: ceil(rate / 10); about 6 each for 60 requests
    # per second. The legacy rule caps a scale-up at max(2 x 2, 4) = 4.
    expected = [math.ceil(rate / 20 * 2), math.ceil(rate / 10)]
    assert [p.instances for p in decision.proposals] == expected and min(expected) > 4, decision.proposals
    assert (decision.instances, decision.limited_by) == (4, "legacy-scale-up-limit"), decision.reason


async def test_an_empty_answer_could_not_be_read_so_it_never_scales_down(
    sandbox: MarathonSandbox, prometheus: str
) -> None:
    """A query no series matches (a mistyped job: `shop-web` for `sandbox-tasks`) is an empty vector.
    As the HPA's external metrics client refuses an empty answer (pkg/controller/podautoscaler/metrics/
    client.go, GetExternalMetric: "no metrics returned from external metrics API"), it could not be
    read: a scale-down waits, where a 0 would take the app to min. docs/autoscaling.md's `or vector(0)`
    makes "no series" mean 0 when it does."""
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=10.0) as api:
        assert (await api.post("/v2/apps", json=APP)).status_code == 201
        await sandbox.wait_idle()
        app, tasks = await app_tasks(api, "/web")
    mistyped = 'sum(rate(requests_total{job="shop-web"}[5s]))'
    documented = re.search(r"`(sum\(rate\(requests_total\{job=\"shop-web\"\}\[5s\]\)\) or vector\(0\))`",
                           DOC.read_text())
    assert documented is not None
    async with httpx.AsyncClient(timeout=10.0) as client:
        queries = PrometheusQueries(client, prometheus)

        async def scraped() -> float | None:  # the real job's series are there
            return await queries.query('count(up{job="sandbox-tasks"} == 1)')

        await until(scraped, "Prometheus scrapes the sandbox's tasks", timeout=90)
        assert await queries.query(mistyped) is None
        assert queries.last_error is not None and "no series" in queries.last_error
        assert await queries.query(documented.group(1)) == 0.0

    scaling = policy({"min": 1, "max": 10, "metrics": [{"prometheus": {"query": mistyped, "target": {"value": 20}}}],
                      "behavior": {"scaleDown": {"stabilizationWindow": "0s"}}})
    decision = decide(scaling, 4, views(app, tasks, {}), now=0.0, history=ScaleHistory(), external={})
    assert (decision.instances, decision.reason) == (4, f"no change: the query {mistyped!r} could not be read")
