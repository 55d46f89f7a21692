"""The docker runtime of the Marathon sandbox: real busybox containers, ports published on the
agent's loopback address only, health-check paths served, containers removed with their tasks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from reconciler.sandbox.marathon import MarathonSandbox
from reconciler.sandbox.runtime.docker import LABEL, container_command
from tests.sandbox.marathon.fixtures import docker_marathon, until

pytestmark = pytest.mark.docker


def test_container_command_serves_every_port_and_creates_check_paths() -> None:
    command = container_command([31001, 31002], ("/health", "/v1/ready?full=1"))
    script = command[-1]
    assert "echo ok > /www/health" in script and "echo ok > /www/v1/ready" in script
    assert "httpd -p 31001 -h /www" in script and script.endswith("exec /bin/busybox httpd -f -p 31002 -h /www")


@pytest.fixture
async def docker_sandbox() -> AsyncIterator[MarathonSandbox]:
    async with docker_marathon(agents=2) as sandbox:
        yield sandbox


def sandbox_task_ids() -> set[str]:
    """Task ids of the sandbox's containers (the low-level list: no inspect races with removals)."""
    import docker

    listed = docker.from_env().api.containers(all=True, filters={"label": f"{LABEL}=marathon"})
    return {entry["Labels"].get("task-id", "") for entry in listed}


async def test_docker_tasks_answer_on_their_agent_address_and_go_away(docker_sandbox: MarathonSandbox) -> None:
    app = {
        "id": "/web",
        "cmd": "serve",
        "cpus": 0.1,
        "mem": 16,
        "instances": 2,
        "healthChecks": [{"protocol": "HTTP", "path": "/health"}],
    }
    async with httpx.AsyncClient(base_url=docker_sandbox.url, timeout=30) as api:
        assert (await api.post("/v2/apps", json=app)).status_code == 201
        await docker_sandbox.wait_idle(60)
        tasks = (await api.get("/v2/apps/web/tasks")).json()["tasks"]
        assert len(tasks) == 2 and {t["host"] for t in tasks} <= {"127.0.0.2", "127.0.0.3"}
        for task in tasks:
            assert (await api.get(f"http://{task['host']}:{task['ports'][0]}/health")).status_code == 200
            # Published on the agent's address only, not on every interface.
            with pytest.raises(httpx.ConnectError):
                await api.get(f"http://127.0.0.1:{task['ports'][0]}/health")
        ids = {t["id"] for t in tasks}
        assert ids <= sandbox_task_ids()
        await api.delete("/v2/apps/web")
        await docker_sandbox.wait_idle(60)
        await until(lambda: not ids & sandbox_task_ids(), "containers removed", 60)
