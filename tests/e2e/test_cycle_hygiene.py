"""A steady-state cycle against the sandbox (Marathon + Consul over loopback) attempts no import that
fails (httpcore imports sniffio on every pooled request: a missing package cost a failed import per
request) and allocates little (tracemalloc's peak over one no-op cycle)."""

from __future__ import annotations

import builtins
import tracemalloc
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from reconciler.consul.client import ConsulClient
from reconciler.core.plan import PlanOptions
from reconciler.engine.cycle import CycleOptions, Reconciler
from reconciler.marathon import MarathonClient
from reconciler.sandbox.consul import ConsulSandboxConfig
from reconciler.sandbox.stack import Sandbox, SandboxConfig
from reconciler.spec import load_desired
from tests.sandbox.marathon.fixtures import fast_config

pytestmark = pytest.mark.slow

APPS = 20
SPEC = "apiVersion: reconciler/v1\nkind: Environment\nname: shop\napps:\n" + "\n".join(
    f"  app-{n}: {{cmd: serve, instances: 1, cpus: 0.01, mem: 8, ports: [{{name: http}}]}}" for n in range(APPS)
)


async def test_a_steady_cycle_fails_no_import_and_allocates_little(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "shop.yaml").write_text(SPEC)
    config = SandboxConfig(marathon=fast_config(seconds_scale=0.01), consul=ConsulSandboxConfig())
    async with (
        Sandbox(config) as sandbox,
        MarathonClient(sandbox.marathon_url) as marathon,
        ConsulClient(str(sandbox.consul_url)) as consul,
    ):
        reconciler = Reconciler(lambda: load_desired(tmp_path), marathon, consul, CycleOptions(plan=PlanOptions()))
        for _ in range(30):  # converge: create, then register every task (bounded)
            result = await reconciler.cycle("converge")
            if result.plan is not None and result.plan.empty and result.actual and all(
                a.tasks for a in result.actual.apps.values()
            ):
                break
        failed: list[str] = []
        real_import = builtins.__import__

        def recording_import(
            name: str, globals: Mapping[str, object] | None = None, locals: Mapping[str, object] | None = None,
            fromlist: Sequence[str] = (), level: int = 0,
        ) -> ModuleType:
            try:
                return real_import(name, globals, locals, fromlist, level)
            except ImportError:
                failed.append(name)
                raise

        monkeypatch.setattr(builtins, "__import__", recording_import)
        tracemalloc.start()
        result = await reconciler.cycle("steady")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        monkeypatch.undo()
    assert result.error is None and result.plan is not None and result.plan.empty, _pending(result)
    assert failed == []
    assert peak < 20 * 2**20, f"a no-op cycle of {APPS} apps peaked at {peak / 2**20:.1f} MiB"


def _pending(result: Any) -> str:
    return "\n".join(a.line() for a in result.plan.pending) if result.plan else str(result.error)
