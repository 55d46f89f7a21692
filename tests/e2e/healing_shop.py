"""The shop environment the healing e2e tests run (test_approval_heal, test_run_live_tables): one web app
whose HTTP health check Consul runs every second and that heals after 1 s critical, on a sandbox whose
deployments and checks run fast; what runs and passes of it, read over HTTP."""

from __future__ import annotations

import httpx

from reconciler.core.model import TaskState
from reconciler.sandbox.consul import ConsulSandboxConfig
from reconciler.sandbox.stack import Sandbox, SandboxConfig
from tests.sandbox.marathon.fixtures import fast_config

SHOP = """apiVersion: reconciler/v1
kind: Environment
name: shop
{approval}apps:
  web:
    cmd: serve {version}
    instances: {instances}
    cpus: 0.1
    mem: 32
    ports: [{{name: http}}]
    healthChecks: [{{protocol: HTTP, path: /, portIndex: 0, gracePeriodSeconds: 0, intervalSeconds: 1,
                    timeoutSeconds: 1, maxConsecutiveFailures: 0}}]
    heal: {{criticalFor: 1, backoff: 0.3, maxUnavailable: 1}}
"""


def shop_spec(version: str, *, instances: int, approval: bool = False) -> str:
    """The spec file of shop running `serve VERSION` on `instances` tasks (`approval: required` with `approval`)."""
    return SHOP.format(version=version, instances=instances, approval="approval: required\n" if approval else "")


def fast_sandbox() -> SandboxConfig:
    """Deployments at 1/100 of Marathon's pace, Consul checks at 1/4 of their interval: the critical-service
    reaper (DeregisterCriticalServiceAfter, 60 s at the least) then takes 15 s, far beyond the 1 s heal
    window even on a loaded machine (at 1/20 it took 3 s, and could remove a victim before a slow cycle
    judged it overdue)."""
    return SandboxConfig(marathon=fast_config(keep_event_history=False, seconds_scale=0.01),
                         consul=ConsulSandboxConfig(check_interval_scale=0.25))


async def running_tasks(sandbox: Sandbox) -> list[str]:
    """The ids of shop's web tasks that Marathon says run, sorted (none while the app does not exist)."""
    async with httpx.AsyncClient(base_url=sandbox.marathon_url) as client:
        response = await client.get("/v2/apps/shop/web/tasks")
    tasks = response.json().get("tasks", []) if response.status_code == 200 else []
    return sorted(t["id"] for t in tasks if t["state"] == TaskState.RUNNING)


async def passing_tasks(sandbox: Sandbox) -> set[str]:
    """The task ids of web's instances passing in Consul."""
    async with httpx.AsyncClient(base_url=str(sandbox.consul_url)) as client:
        entries = (await client.get("/v1/health/service/web", params={"passing": "true"})).json()
    return {e["Service"]["Meta"]["marathon-task-id"] for e in entries}


async def converged(sandbox: Sandbox, instances: int) -> bool:
    """`instances` tasks run, and exactly those pass in Consul."""
    tasks = await running_tasks(sandbox)
    return len(tasks) == instances and await passing_tasks(sandbox) == set(tasks)
