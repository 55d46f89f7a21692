"""Autoscaling from Mesos agent statistics, end to end at the adapter level in the simulated sandbox:
a load raised through the fault API is read from every agent's `/monitor/statistics` by
MesosStatistics over real HTTP, and the decision function scales up within one sampling tick; once
the load drops, the scale-down waits for the 5-minute stabilization window (time as a parameter)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from reconciler.core.autoscale import decide
from reconciler.metrics.mesos import MesosStatistics
from reconciler.sandbox.marathon import MarathonSandbox
from tests.e2e.autoscale_support import policy, sampled_views
from tests.sandbox.marathon.fixtures import fast_config

APP = {"id": "/web", "cmd": "serve", "cpus": 1.0, "mem": 128, "instances": 2}
POLICY = policy({"min": 1, "max": 10, "metrics": [{"cpu": "50%"}, {"mem": "80%"}]})


@pytest.fixture
async def sandbox() -> AsyncIterator[MarathonSandbox]:
    async with MarathonSandbox(fast_config(agents=3)) as running:
        yield running


async def test_load_through_the_fault_api_scales_up_at_once_and_down_only_after_the_window(
    sandbox: MarathonSandbox,
) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=10.0) as api:
        assert (await api.post("/v2/apps", json=APP)).status_code == 201
        await sandbox.wait_idle()
        source = MesosStatistics(api, port=sandbox.agent_stats_port)
        await api.put("/_sandbox/load", json={"app": "/web", "cpu": 0.9, "mem": 40})
        await sampled_views(api, source, "/web")  # the first reading: memory only, no CPU rate yet
        hot = await sampled_views(api, source, "/web")
        assert all(v.sample is not None and v.sample.cpu == pytest.approx(0.9, rel=0.05) for v in hot)
        now = max(v.sample.at for v in hot if v.sample is not None)
        up = decide(POLICY, 2, hot, now=now)
        # 90% of the cpus against 50%: ceil(2 x 1.8) = 4; memory (31% of 128 MiB) asks for less.
        assert (up.instances, up.recommendation, up.limited_by) == (4, 4, None), up.reason
        assert up.reason == "cpu above target: 2 -> 4"

        assert (await api.put("/v2/apps/web", json={"instances": up.instances})).status_code == 200
        await sandbox.wait_idle()
        await api.put("/_sandbox/load", json={"app": "/web", "cpu": 0.05, "mem": 10})
        await sampled_views(api, source, "/web")
        cold = await sampled_views(api, source, "/web")
        assert len(cold) == 4 and all(v.sample is not None and v.sample.cpu is not None for v in cold)
        later = max(v.sample.at for v in cold if v.sample is not None)
        held = decide(POLICY, 4, cold, now=later, history=up.history)
        assert (held.instances, held.recommendation, held.limited_by) == (4, 1, "stabilization"), held.reason
        after_window = decide(POLICY, 4, cold, now=now + 301, history=held.history)
        assert (after_window.instances, after_window.limited_by) == (1, None), after_window.reason
