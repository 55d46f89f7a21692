"""The one sync operation (engine layer) against the Marathon + Consul sandbox over loopback HTTP.

`plan` (dry), `apply` and the controller's cycle all run engine/sync.py; these tests drive it directly:
a dry run sends no write, a write whose answer is lost is settled from a fresh observation, the
follow-up registers the tasks the deployments started, and the controller's and apply's requests
plan the same actions from the same state.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.consul.client import ConsulClient
from reconciler.core.model import Action, ActionKind, Desired, Outcome, Plan
from reconciler.core.outcomes import LANDED
from reconciler.core.plan import PlanOptions
from reconciler.engine.cycle import CycleOptions, Reconciler
from reconciler.engine.execute import ExecuteOptions
from reconciler.engine.sync import SyncHooks, SyncRequest, sync
from reconciler.marathon import MarathonClient
from reconciler.sandbox.consul import ConsulSandboxConfig
from reconciler.sandbox.stack import Sandbox, SandboxConfig
from reconciler.spec import load_desired
from tests.sandbox.marathon.fixtures import fast_config

SPEC = """
apiVersion: reconciler/v1
kind: Environment
name: shop
apps:
  web: {cmd: serve, instances: 2, cpus: 0.01, mem: 8, ports: [{name: http}]}
  api: {cmd: serve, instances: 1, cpus: 0.01, mem: 8, ports: [{name: http}]}
"""
WRITES = frozenset({"PUT", "POST", "DELETE", "PATCH"})
pytestmark = pytest.mark.slow


@dataclass
class World:
    """The sandbox, clients to it that record every request they send, and the desired state."""

    sandbox: Sandbox
    marathon: MarathonClient
    consul: ConsulClient
    desired: Desired
    sent: list[str] = field(default_factory=list)

    def writes(self) -> list[str]:
        return [line for line in self.sent if line.split(" ", 1)[0] in WRITES]


@dataclass
class Heard(SyncHooks):
    """Records what the sync reports through its hooks."""

    executed: list[Plan] = field(default_factory=list)
    unknown: list[tuple[Action, ...]] = field(default_factory=list)
    follow_ups: list[Plan] = field(default_factory=list)

    def executing(self, plan: Plan) -> None:
        self.executed.append(plan)

    def settling(self, unknown: tuple[Action, ...]) -> None:
        self.unknown.append(unknown)

    def following_up(self, plan: Plan) -> None:
        self.follow_ups.append(plan)


class DroppingTransport(httpx.AsyncBaseTransport):
    """Loopback HTTP; the first bulk app write reaches Marathon, and its answer is lost."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.dropped = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT" and request.url.path == "/v2/apps" and not self.dropped:
            self.dropped += 1
            response = await self._inner.handle_async_request(request)
            await response.aread()
            await response.aclose()
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@contextlib.asynccontextmanager
async def world_at(tmp_path: Path, transport: httpx.AsyncBaseTransport | None = None) -> AsyncIterator[World]:
    (tmp_path / "shop.yaml").write_text(SPEC)
    config = SandboxConfig(marathon=fast_config(keep_event_history=False, seconds_scale=0.01),
                           consul=ConsulSandboxConfig(check_interval_scale=0.05))
    sent: list[str] = []
    async with contextlib.AsyncExitStack() as stack:
        sandbox = await stack.enter_async_context(Sandbox(config))
        marathon = await stack.enter_async_context(MarathonClient(
            sandbox.marathon_url, transport=transport, on_request=lambda method, path: sent.append(f"{method} {path}")
        ))
        consul = await stack.enter_async_context(ConsulClient(
            str(sandbox.consul_url), retries=1, timeout=5.0,
            on_request=lambda method, path: sent.append(f"{method} {path}"),
        ))
        yield World(sandbox, marathon, consul, load_desired(tmp_path), sent)


def one_off(desired: Desired, **changes: Any) -> SyncRequest:
    """apply's request: a fresh heal memory, each system's gaps guarding its own actions, all or nothing."""
    request = SyncRequest(desired, PlanOptions(), ExecuteOptions(wait=True, timeout=60.0, poll_interval=0.05),
                          strict=False, halt_on_refusal=True)
    return replace(request, **changes)


async def marathon_apps(world: World) -> set[str]:
    async with httpx.AsyncClient(base_url=world.sandbox.marathon_url) as client:
        return {app["id"] for app in (await client.get("/v2/apps")).json()["apps"]}


async def registered(world: World, service: str) -> set[str]:
    async with httpx.AsyncClient(base_url=str(world.sandbox.consul_url)) as client:
        entries = (await client.get(f"/v1/health/service/{service}")).json()
    return {entry["Service"]["Meta"]["marathon-task-id"] for entry in entries}


async def test_a_dry_run_plans_every_change_and_sends_no_write(tmp_path: Path) -> None:
    async with world_at(tmp_path) as world:
        heard = Heard()
        result = await sync(one_off(world.desired, dry_run=True), world.marathon, world.consul, hooks=heard)
        assert {(a.kind, a.target) for a in result.plan.pending if a.kind == ActionKind.CREATE} == {
            (ActionKind.CREATE, "/shop/web"), (ActionKind.CREATE, "/shop/api")
        }
        assert result.execution is None and heard.executed == []
        assert world.sent and world.writes() == []
        assert await marathon_apps(world) == set()


async def test_apply_s_sync_deploys_registers_the_started_tasks_and_reports_convergence(tmp_path: Path) -> None:
    async with world_at(tmp_path) as world:
        heard = Heard()
        result = await sync(one_off(world.desired), world.marathon, world.consul, hooks=heard)
        assert result.execution is not None and not result.execution.failed
        assert result.execution.deployment_ids and not result.execution.timed_out
        assert len(heard.executed) == 1 and heard.executed[0] is result.plan
        # The deployments started the tasks after the first observation: only the follow-up registers them.
        assert not any(a.kind == ActionKind.REGISTER for a in result.plan.actions)
        assert len(heard.follow_ups) == 1
        assert {a.kind for a in heard.follow_ups[0].actions} == {ActionKind.REGISTER}
        assert result.after is not None
        tasks = {t.task_id for app in result.after.apps.values() for t in app.tasks}
        assert len(tasks) == 3
        assert await registered(world, "web") | await registered(world, "api") == tasks
        registers = [a for a in result.execution.actions if a.kind == ActionKind.REGISTER]
        assert {a.target for a in registers} == tasks and {a.outcome for a in registers} == {Outcome.SUCCEEDED}
        assert result.convergence.unconverged == [] and result.convergence.stuck == {}


async def test_a_write_whose_answer_is_lost_is_settled_from_a_fresh_observation(tmp_path: Path) -> None:
    transport = DroppingTransport()
    async with world_at(tmp_path, transport) as world:
        heard = Heard()
        result = await sync(one_off(world.desired), world.marathon, world.consul, hooks=heard)
        assert transport.dropped == 1 and result.execution is not None
        assert [{a.target for a in unknown} for unknown in heard.unknown] == [{"/shop/web", "/shop/api"}]
        creates = [a for a in result.execution.actions if a.kind == ActionKind.CREATE]
        assert {(a.outcome, a.detail) for a in creates} == {(Outcome.SUCCEEDED, LANDED)}
        assert await marathon_apps(world) == {"/shop/web", "/shop/api"}
        assert sum(1 for line in world.writes() if line == "PUT /v2/apps") == 1  # settled, never sent again


async def test_the_controller_and_apply_plan_the_same_actions_from_the_same_state(tmp_path: Path) -> None:
    async with world_at(tmp_path) as world:
        applied = await sync(one_off(world.desired, dry_run=True), world.marathon, world.consul)
        reconciler = Reconciler(lambda: world.desired, world.marathon, world.consul, CycleOptions(plan=PlanOptions()))
        cycle = await reconciler.cycle("test")
    assert cycle.plan is not None and cycle.execution is not None and not applied.plan.empty
    assert [(a.kind, a.target, a.reason) for a in cycle.plan.actions] == [
        (a.kind, a.target, a.reason) for a in applied.plan.actions
    ]
    assert {a.outcome for a in cycle.execution.actions if a.kind == ActionKind.CREATE} == {Outcome.SUCCEEDED}


async def test_a_plan_refused_by_a_guard_sends_nothing_when_it_must_be_all_or_nothing(tmp_path: Path) -> None:
    async with world_at(tmp_path) as world:
        await sync(one_off(world.desired), world.marathon, world.consul)
        world.sent.clear()
        (tmp_path / "shop.yaml").write_text(SPEC.partition("  web:")[0] + "  other: {cmd: serve, cpus: 0.01, mem: 8}\n")
        # Two deletes out of two managed apps: above the prune limit (1) without force.
        request = one_off(load_desired(tmp_path), options=PlanOptions(prune=True))
        result = await sync(request, world.marathon, world.consul)
        assert {a.target for a in result.held} == {"/shop/web", "/shop/api"}
        assert any(a.kind == ActionKind.CREATE for a in result.plan.pending)
        assert result.execution is None and world.writes() == []
        assert await marathon_apps(world) == {"/shop/web", "/shop/api"}
