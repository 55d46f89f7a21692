"""`reconciler run` with autoscaled apps (e2e, the real CLI in a subprocess): a Prometheus metric
without `--prometheus` is refused before the controller starts (exit 3, file:line and field); with
it, and with cpu from the embedded sandbox's agent statistics, the controller runs its cycles and logs
why a query could not be read."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.cli import run_cli

pytestmark = pytest.mark.slow

SPEC = """apiVersion: reconciler/v1
kind: Environment
name: shop
apps:
  web:
    cmd: serve
    cpus: 0.5
    mem: 64
    autoscale:
      min: 1
      max: 4
      metrics:
        - cpu: 70%
        - prometheus: {query: 'sum(rate(http_requests_total[1m]))', target: {averageValue: 50}}
"""


def specs(tmp_path: Path) -> Path:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "shop.yaml").write_text(SPEC)
    return tmp_path / "specs"


async def test_a_prometheus_metric_without_a_server_is_refused_with_exit_3(tmp_path: Path) -> None:
    result = await run_cli("run", str(specs(tmp_path)), "--cycles", "1", marathon="http://127.0.0.1:9")
    assert result.code == 3, result.output
    assert "shop.yaml:5: web.autoscale.metrics[1].prometheus: a Prometheus metric needs a Prometheus server" in (
        result.output.replace("\n", "")
    ), result.output
    assert "--prometheus URL" in result.output


async def test_with_a_prometheus_server_given_the_controller_runs_and_logs_its_decisions(tmp_path: Path) -> None:
    # Nothing listens on the Prometheus port: the query cannot be read, so nothing scales down on it.
    result = await run_cli("--log-level", "info", "run", str(specs(tmp_path)), "--sandbox", "--cycles", "3",
                           "--prometheus", "http://127.0.0.1:9", marathon="http://127.0.0.1:9")
    assert result.code == 0, result.output
    assert "event=autoscale autoscale /shop/web current=1 desired=1" in result.output, result.output
    # Why it could not be read is logged, once while the reason lasts (the decision only says it could not be).
    failed = [line for line in result.output.splitlines() if "event=autoscale-query-failed" in line]
    assert len(failed) == 1, result.output
    assert "query='sum(rate(http_requests_total[1m]))' error='Prometheus did not answer: ConnectError'" in failed[0]
