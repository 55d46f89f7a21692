"""An agent added to the running sandbox (fault API) gets its Consul agent, so the tasks it runs are
registered through it like any other (sandbox stack + engine, over loopback HTTP)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import httpx
import pytest

from reconciler.consul.client import ConsulClient
from reconciler.core.plan import PlanOptions
from reconciler.engine.cycle import CycleOptions, Reconciler
from reconciler.marathon import MarathonClient
from reconciler.sandbox.consul import ConsulSandboxConfig
from reconciler.sandbox.stack import Sandbox, SandboxConfig
from reconciler.spec import load_desired
from tests.sandbox.marathon.fixtures import fast_config, until

pytestmark = pytest.mark.slow

# One instance fills an agent (cpus 1 of 1): the second one can only run on the agent added later.
SPEC = """
apiVersion: reconciler/v1
kind: Environment
name: shop
apps:
  web: {cmd: serve, instances: 2, cpus: 1, mem: 32, ports: [{name: http}]}
"""


async def test_an_agent_added_through_the_fault_api_registers_its_tasks(tmp_path: Path) -> None:
    (tmp_path / "shop.yaml").write_text(SPEC)
    config = SandboxConfig(
        marathon=fast_config(keep_event_history=False, agents=1, agent_cpus=1.0),
        consul=ConsulSandboxConfig(check_interval_scale=0.05),
    )
    async with contextlib.AsyncExitStack() as stack:
        sandbox = await stack.enter_async_context(Sandbox(config))
        assert sandbox.consul is not None
        async with httpx.AsyncClient(base_url=sandbox.marathon_url) as client:
            added = (await client.post("/_sandbox/agents", json={"cpus": 1})).json()
        assert added["host"] == "127.0.0.3"
        agent_url = f"http://127.0.0.3:{sandbox.consul.port}"
        async with httpx.AsyncClient(base_url=agent_url) as client:
            assert (await client.get("/v1/agent/self")).json()["Config"]["NodeName"] == "agent-2"

        marathon = await stack.enter_async_context(MarathonClient(sandbox.marathon_url))
        consul = await stack.enter_async_context(ConsulClient(str(sandbox.consul_url), retries=1, timeout=5.0))
        reconciler = Reconciler(lambda: load_desired(tmp_path), marathon, consul, CycleOptions(plan=PlanOptions()))

        async def both_registered_on_their_hosts() -> bool:
            result = await reconciler.cycle("test")
            assert not (result.execution and result.execution.failed), [a.line() for a in result.execution.failed]
            async with httpx.AsyncClient(base_url=str(sandbox.consul_url)) as client:
                entries = (await client.get("/v1/catalog/service/web")).json()
            return sorted(e["Address"] for e in entries) == ["127.0.0.2", "127.0.0.3"]

        await until(both_registered_on_their_hosts, "web's two tasks registered by their hosts' agents", 30)
        async with httpx.AsyncClient(base_url=agent_url) as client:
            assert len((await client.get("/v1/agent/services")).json()) == 1  # its task, through its own agent
