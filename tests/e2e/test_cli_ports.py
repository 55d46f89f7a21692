"""Ports end to end: `reconciler apply` against the Marathon sandbox pins a host-networked app's hostPort
on the agent, and switches an app between host and bridge networking in both directions, each ending
in a plan with nothing to do."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.sandbox.marathon import MarathonSandbox
from tests.e2e.cli import run_cli
from tests.sandbox.marathon.fixtures import fast_config
from tests.sandbox.marathon.test_pinned_ports import free_on_every_agent

pytestmark = pytest.mark.slow

HOST = "    network: host\n    ports: [{{name: http, hostPort: {port}}}]\n"
BRIDGE = "    ports: [{name: http, containerPort: 8080}]\n"


@pytest.fixture
async def sandbox() -> AsyncIterator[MarathonSandbox]:
    async with MarathonSandbox(fast_config(keep_event_history=False)) as sandbox:
        yield sandbox


def write_spec(specs: Path, networking: str) -> None:
    specs.mkdir(exist_ok=True)
    text = (
        "apiVersion: reconciler/v1\nkind: Environment\nname: shop\napps:\n"
        f"  api:\n    image: api:1\n    cpus: 0.1\n    mem: 32\n    instances: 2\n{networking}"
    )
    (specs / "shop.yaml").write_text(text)


async def marathon_app(sandbox: MarathonSandbox) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        response = await client.get("/v2/apps/shop/api", params={"embed": "app.tasks"})
    response.raise_for_status()
    app: dict[str, Any] = response.json()["app"]
    return app


async def converge(sandbox: MarathonSandbox, specs: Path) -> None:
    applied = await run_cli("apply", str(specs), "--deadline", "60", marathon=sandbox.url)
    assert applied.code == 0, applied.output
    planned = await run_cli("plan", str(specs), marathon=sandbox.url)
    assert planned.code == 0 and "no changes" in planned.stdout, planned.output


async def test_host_and_bridge_networking_switch_both_ways(sandbox: MarathonSandbox, tmp_path: Path) -> None:
    specs, port = tmp_path / "specs", free_on_every_agent()
    write_spec(specs, HOST.format(port=port))
    await converge(sandbox, specs)
    app = await marathon_app(sandbox)
    assert app["requirePorts"] is True and [d["port"] for d in app["portDefinitions"]] == [port]
    running = [t for t in app["tasks"] if t["state"] == "TASK_RUNNING"]
    assert len(running) == 2 and all(t["ports"] == [port] for t in running)  # the pinned agent port

    write_spec(specs, BRIDGE)  # host -> bridge: Marathon refuses the stored portDefinitions beside a bridge
    await converge(sandbox, specs)
    app = await marathon_app(sandbox)
    assert app["networks"] == [{"mode": "container/bridge"}] and not app.get("portDefinitions")
    assert [m["containerPort"] for m in app["container"]["portMappings"]] == [8080]
    assert app["requirePorts"] is False

    write_spec(specs, HOST.format(port=port))  # and back
    await converge(sandbox, specs)
    app = await marathon_app(sandbox)
    assert app["networks"] == [{"mode": "host"}] and not app["container"].get("portMappings")
    assert all(t["ports"] == [port] for t in app["tasks"] if t["state"] == "TASK_RUNNING")


async def test_a_docker_app_that_becomes_a_command_loses_its_container(
    sandbox: MarathonSandbox, tmp_path: Path
) -> None:
    """A partial update would keep the Docker container (AppConversion: `update.container.orElse(app.container)`),
    so the write replaces the whole app (partialUpdate=false) and the next plan has nothing to do."""
    specs = tmp_path / "specs"
    write_spec(specs, BRIDGE)
    await converge(sandbox, specs)
    assert (await marathon_app(sandbox))["container"]["docker"]["image"] == "api:1"

    command = "apiVersion: reconciler/v1\nkind: Environment\nname: shop\napps:\n"
    command += "  api:\n    cmd: serve\n    cpus: 0.1\n    mem: 32\n    instances: 2\n"
    (specs / "shop.yaml").write_text(command)
    await converge(sandbox, specs)
    app = await marathon_app(sandbox)
    assert app.get("container") is None and app["cmd"] == "serve"
    assert app["networks"] == [{"mode": "host"}]
    assert len([t for t in app["tasks"] if t["state"] == "TASK_RUNNING"]) == 2
