"""A leader whose cycle plans for longer than its write window, against the sandbox over real HTTP.

At 10,000 apps a plan is seconds of CPU. Planned on the event loop, it held back the leader's lock
beats: the only controller fenced its own writes as "not the leader", and a standby could depose it.
Here the planner is made to burn CPU for two write windows before it plans: the leader's beats go on
meanwhile, so its writes are sent, and the standby never takes the lock. Sessions run at Consul's own
pace (10 s TTL: W 3.3 s, a beat every 1.7 s), for room on a loaded machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reconciler.consul.client import ConsulClient
from reconciler.core.model import Outcome
from reconciler.engine.cycle import CycleOptions, Reconciler
from reconciler.engine.execute import CONTROLLER_LATER, ExecuteOptions
from reconciler.engine.leader import LeaderElector, LeaderOptions
from reconciler.engine.planning import Planner
from reconciler.marathon import MarathonClient
from reconciler.sandbox.consul import ConsulSandboxConfig
from reconciler.sandbox.stack import Sandbox, SandboxConfig
from reconciler.spec import load_desired
from tests.sandbox.marathon.fixtures import fast_config

pytestmark = pytest.mark.slow

SCALE = 1.0
TTL = 10.0
OPTIONS = LeaderOptions(identity="-", key="service/marathon-reconciler/leader", ttl=TTL, time_scale=SCALE)
WINDOW = OPTIONS.scaled(OPTIONS.write_window)
BURN = 2 * WINDOW  # longer than the write window, and than a standby waits before it deposes a silent leader
SPEC = ("apiVersion: reconciler/v1\nkind: Environment\nname: shop\napps:\n"
        "  web: {cmd: serve, instances: 2, cpus: 0.01, mem: 8, ports: [{name: http}]}\n")


async def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def campaigning(client: ConsulClient, identity: str) -> AsyncIterator[LeaderElector]:
    elector = LeaderElector(client, replace(OPTIONS, identity=identity))
    task = asyncio.create_task(elector.run())
    try:
        yield elector
    finally:
        elector.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)


def burning_planner(real: Callable[..., Any], burned: list[float]) -> Callable[..., Any]:
    """The real planner, after BURN seconds of pure-Python CPU work (a 10,000-app plan's worth)."""

    def plan(*args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        while time.monotonic() - started < BURN:
            sum(range(1000))
        burned.append(time.monotonic() - started)
        return real(*args, **kwargs)

    return plan


async def test_a_cycle_planning_longer_than_the_write_window_still_writes_and_keeps_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "shop.yaml").write_text(SPEC)
    config = SandboxConfig(marathon=fast_config(), consul=ConsulSandboxConfig(session_time_scale=SCALE))
    async with (
        Sandbox(config) as sandbox,
        MarathonClient(sandbox.marathon_url) as marathon,
        ConsulClient(str(sandbox.consul_url), retries=0, timeout=2.0) as consul_a,
        ConsulClient(str(sandbox.consul_url), retries=0, timeout=2.0) as consul_b,
        campaigning(consul_a, "controller-a") as leader,
    ):
        await wait_for(leader.may_write, 15, "controller-a leads")
        async with campaigning(consul_b, "controller-b") as standby:
            await wait_for(lambda: standby.holder == "controller-a", 10, "controller-b names the leader")
            standby_led: list[bool] = []

            async def watch_standby() -> None:
                while True:
                    standby_led.append(standby.is_leader)
                    await asyncio.sleep(0.01)

            watcher = asyncio.create_task(watch_standby())
            burned: list[float] = []
            monkeypatch.setattr(Planner, "plan", burning_planner(Planner.plan, burned))
            execute = ExecuteOptions(wait=False, later=CONTROLLER_LATER, may_write=leader.may_write)
            reconciler = Reconciler(lambda: load_desired(tmp_path), marathon, consul_a, CycleOptions(execute=execute))
            result = await reconciler.cycle("busy")
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            assert burned and burned[0] >= BURN > WINDOW
            assert result.error is None and result.execution is not None, result.error
            outcomes = [(a.target, a.outcome, a.detail) for a in result.execution.actions]
            assert outcomes and all(outcome == Outcome.SUCCEEDED for _, outcome, _ in outcomes), outcomes
            assert len(standby_led) > BURN / 0.05, "the event loop stood still while the leader planned"
            assert not any(standby_led) and standby.holder == "controller-a", "the standby took the lock"
        assert leader.is_leader and leader.may_write()
        assert (await marathon.get_app("/shop/web")).instances == 2


async def test_a_beat_held_back_by_a_busy_event_loop_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    config = SandboxConfig(marathon=fast_config(), consul=ConsulSandboxConfig(session_time_scale=SCALE))
    async with (
        Sandbox(config) as sandbox,
        ConsulClient(str(sandbox.consul_url), retries=0, timeout=2.0) as consul,
        campaigning(consul, "controller-a") as leader,
    ):
        await wait_for(leader.may_write, 15, "controller-a leads")
        caplog.set_level(logging.WARNING, logger="reconciler.leader")
        started = time.monotonic()
        while time.monotonic() - started < 2 * OPTIONS.scaled(OPTIONS.beat_every):  # on the loop: no beat meanwhile
            sum(range(1000))
        await wait_for(lambda: "event=leader-beat-late" in caplog.text, 10, "the late beat logged")
