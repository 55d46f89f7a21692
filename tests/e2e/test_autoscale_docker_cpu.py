"""Autoscaling from real cgroup numbers: with the docker runtime, a task whose command burns CPU
(busybox `sh -c 'while :; do :; done'`, under a CFS quota of its `cpus`) shows a CPU rate well above
0 in its agent's `/monitor/statistics`, read by MesosStatistics over loopback, and the decision
function proposes a scale-up for a CPU target below that usage."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from reconciler.core.autoscale import decide
from reconciler.core.autoscale_metrics import TaskView
from reconciler.metrics.mesos import MesosStatistics
from reconciler.sandbox.marathon import MarathonSandbox
from tests.e2e.autoscale_support import policy, sampled_views
from tests.sandbox.marathon.fixtures import docker_marathon, until

pytestmark = pytest.mark.docker

BURNER = {"id": "/burn", "cmd": "sh -c 'while :; do :; done'", "cpus": 0.5, "mem": 32, "instances": 1}


@pytest.fixture
async def docker_sandbox() -> AsyncIterator[MarathonSandbox]:
    async with docker_marathon(agents=1) as sandbox:
        yield sandbox


async def test_a_cpu_burning_container_reads_busy_and_the_decision_scales_up(docker_sandbox: MarathonSandbox) -> None:
    async with httpx.AsyncClient(base_url=docker_sandbox.url, timeout=30.0) as api:
        assert (await api.post("/v2/apps", json=BURNER)).status_code == 201
        await docker_sandbox.wait_idle(60)
        source = MesosStatistics(api, port=docker_sandbox.agent_stats_port)
        await sampled_views(api, source, "/burn")
        busy: list[TaskView] = []

        async def burning() -> bool:
            busy[:] = await sampled_views(api, source, "/burn")
            return all(v.sample is not None and (v.sample.cpu or 0.0) > 0.1 for v in busy)

        await until(burning, "the burner's CPU rate above 0.1 cores", timeout=60)
        [view] = busy
        assert view.sample is not None and view.sample.mem is not None and view.sample.mem > 0
        answer = await api.put("/_sandbox/load", json={"app": "/burn", "cpu": 1})
        assert answer.status_code == 409 and "real usage" in answer.json()["message"]

    # A target of 10% of 0.5 cpus is 0.05 cores, far below what the burner uses.
    decision = decide(policy({"min": 1, "max": 8, "metrics": [{"cpu": "10%"}]}), 1, busy, now=view.sample.at)
    assert decision.instances > 1 and decision.reason.startswith("cpu above target"), decision.reason
