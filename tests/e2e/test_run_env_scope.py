"""`reconciler run --env X` reads the spec tree as `plan --env X` and `apply --env X` do: the whole tree,
narrowed to X. So a functional set's controller keeps the fallback queries to its base's apps (they need
the base's apps, which X alone does not hold), and a tree whose other environment does not render is
refused at the start, as `plan --env X` refuses it (docs/plan-apply.md "Scope and prune")."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from reconciler.cli.run_job import RunJob, Serving
from reconciler.cli.run_leader import LeaderSettings
from reconciler.cli.run_source import build_source
from reconciler.cli.settings import GlobalSettings
from reconciler.core.plan import PlanOptions
from reconciler.engine.controller import ControllerOptions
from reconciler.engine.cycle import CycleOptions
from reconciler.errors import ExitCode, SpecError
from reconciler.sandbox.stack import Sandbox, SandboxConfig
from reconciler.store import Store
from tests.sandbox.marathon.fixtures import fast_config

pytestmark = pytest.mark.slow

INTEGRATION = (
    "apiVersion: reconciler/v1\nkind: Environment\nname: integration\napps:\n"
    "  mysql: {cmd: serve, instances: 1, cpus: 0.01, mem: 8}\n"
    "  redis: {cmd: serve, instances: 1, cpus: 0.01, mem: 8}\n"
)
SET = (
    "apiVersion: reconciler/v1\nkind: FunctionalSet\nbase: integration\nsets:\n"
    "  func-1:\n    apps:\n      redis: {}\n"
)
RUN_DEADLINE_S = 120.0


def controller(specs: Path, env: str, store: Path) -> RunJob:
    """`reconciler run SPECS --env ENV --cycles 1 --no-leader-election --database STORE`."""
    source = build_source(specs, None, branch=None, path=None, token_env=None, token_file=None, cache=None)
    serving = Serving(source, 60.0, ("127.0.0.1", 0), None, None, None, LeaderSettings(enabled=False))
    return RunJob(serving, env, CycleOptions(plan=PlanOptions(env=env)), ControllerOptions(max_cycles=1),
                   use_consul=True, watch_wait="5s", open_store=lambda _: Store.open(store))


async def test_a_functional_sets_controller_keeps_its_fallback_queries_to_the_base(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "integration.yaml").write_text(INTEGRATION)
    (specs / "functional.yaml").write_text(SET)
    async with Sandbox(SandboxConfig(marathon=fast_config())) as sandbox:
        assert sandbox.consul is not None
        settings = GlobalSettings(marathon_url=sandbox.marathon_url, consul_url=str(sandbox.consul_url))
        job = controller(specs, "func-1", tmp_path / "history.db")
        code = await asyncio.wait_for(job.run(settings, sandbox=False), RUN_DEADLINE_S)
        queries = {query.name: query.service for query in sandbox.consul.state.queries.queries.values()}
    assert code == ExitCode.OK
    # func-1 runs redis itself; mysql resolves to integration's, through the fallback query
    assert queries["redis.func-1"]["Tags"][0] == "func-1"
    assert queries["mysql.func-1"]["Tags"][0] == "integration"
    assert not [name for name in queries if name.endswith(".integration")]  # integration is not in scope


async def test_another_environment_that_does_not_render_stops_the_start_as_plan_does(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "integration.yaml").write_text(INTEGRATION)
    broken = "apiVersion: reconciler/v1\nkind: Environment\nname: other\napps:\n  web: {chart: missing}\n"
    (specs / "other.yaml").write_text(broken)
    async with Sandbox(SandboxConfig(marathon=fast_config())) as sandbox:
        assert sandbox.consul is not None
        settings = GlobalSettings(marathon_url=sandbox.marathon_url, consul_url=str(sandbox.consul_url))
        with pytest.raises(SpecError) as refused:
            job = controller(specs, "integration", tmp_path / "history.db")
            await asyncio.wait_for(job.run(settings, sandbox=False), RUN_DEADLINE_S)
    assert "--env integration does not skip environment other" in (refused.value.hint or "")
