"""A scale Marathon refuses does not count against the autoscaler's rate policy (e2e: the one sync
operation against the Marathon sandbox over loopback, the load from its fault API, the agents' real
`/monitor/statistics`). The HPA stores a scale event only once its scale update succeeded
(pkg/controller/podautoscaler/horizontal.go, reconcileAutoscaler: storeScaleEvent after
Scales().Update); a scale that failed is decided again at the next cycle, not held for the policy's
period as if it had happened."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from reconciler.core.model import ActionKind, Outcome, Plan
from reconciler.engine.autoscaling import Autoscaler, AutoscaleSources
from reconciler.engine.sync import SyncHooks, SyncRequest, SyncResult, sync
from reconciler.marathon import MarathonClient
from reconciler.metrics.mesos import MesosStatistics
from reconciler.sandbox.marathon import MarathonSandbox
from reconciler.spec import load_desired
from tests.e2e.autoscale_support import RATE_LIMITED_SHOP
from tests.sandbox.marathon.fixtures import fast_config, until

pytestmark = pytest.mark.slow
APP = "/shop/web"
SPEC = RATE_LIMITED_SHOP


@dataclass
class FailScales(SyncHooks):
    """Makes Marathon answer 500 to every request while a plan with a scale of the app is sent."""

    sandbox: MarathonSandbox
    armed: bool = True
    failed: list[Plan] = field(default_factory=list)

    def executing(self, plan: Plan) -> None:
        self.scaling = self.armed and any(a.kind == ActionKind.SCALE and a.target == APP for a in plan.pending)

    @contextlib.contextmanager
    def sending(self) -> Iterator[None]:
        if self.scaling:
            self.sandbox.fail_every(1, 500)
        try:
            yield None
        finally:
            self.sandbox.reset_faults()


def scale_of(result: SyncResult) -> tuple[int | None, Outcome] | None:
    actions = result.execution.actions if result.execution else result.plan.actions
    found = [(a.instances_to, a.outcome) for a in actions if a.kind == ActionKind.SCALE and a.target == APP]
    return found[0] if found else None


@pytest.mark.timeout(240)
async def test_a_scale_marathon_refused_is_decided_again_at_the_next_cycle(tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "shop.yaml").write_text(SPEC)
    desired = load_desired(tmp_path / "specs")
    async with (MarathonSandbox(fast_config(agents=3, keep_event_history=False)) as sandbox,
                httpx.AsyncClient(base_url=sandbox.url, timeout=10.0) as api,
                MarathonClient(sandbox.url) as marathon):
        autoscaler = Autoscaler(AutoscaleSources(tasks=MesosStatistics(api, port=sandbox.agent_stats_port)))
        request = SyncRequest(desired, autoscaler=autoscaler)
        hooks = FailScales(sandbox)
        created = await sync(request, marathon, None, hooks=hooks)  # the app, at min (2)
        assert [a.kind for a in created.plan.actions] == [ActionKind.CREATE], created.plan.actions
        loaded = await api.put("/_sandbox/load", json={"app": APP, "cpu": 0.9, "mem": 20})
        assert loaded.status_code == 200, loaded.text  # 90% of the cpus against 50%: a scale-up

        async def refused() -> SyncResult | None:  # the agents are read until the cpu is known
            result = await sync(request, marathon, None, hooks=hooks)
            return result if scale_of(result) is not None else None

        first = await until(refused, "a scale-up, refused by Marathon", timeout=60)
        assert scale_of(first) == (3, Outcome.FAILED), first.execution
        hooks.armed = False
        again = await sync(request, marathon, None, hooks=hooks)
        (scaling,) = again.autoscale
        assert scale_of(again) == (3, Outcome.SUCCEEDED), scaling.line()  # not held by policy:0 for 10 minutes
        app = (await api.get(f"/v2/apps{APP}")).json()["app"]
        assert app["instances"] == 3
