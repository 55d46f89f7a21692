"""Pinned agent ports in the Marathon sandbox: `requirePorts` on host networking and a container
mapping's non-zero `hostPort` give the task exactly that port (Marathon's PortsMatcher); a task that
cannot get it waits in the queue with InsufficientPorts as its reason."""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import httpx

from reconciler.sandbox.marathon import MarathonSandbox
from tests.sandbox.marathon.fixtures import until

AGENT_HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")  # the default sandbox's three agents


def free_on_every_agent() -> int:
    """A port in the agents' range that nothing holds on any agent address now (other sandboxes on the
    machine share these addresses)."""
    for port in range(31900, 32000):
        with contextlib.ExitStack() as stack:
            try:
                for host in AGENT_HOSTS:
                    probe = stack.enter_context(socket.socket())
                    probe.bind((host, port))
            except OSError:
                continue
            return port
    raise AssertionError("no port of 31900-31999 is free on every agent address")


def app(app_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": app_id, "cmd": "run", "cpus": 0.1, "mem": 16, **fields}


async def test_required_ports_are_the_task_ports_and_the_rest_wait_with_the_reason(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    port = free_on_every_agent()
    pinned = app("/pinned", instances=4, requirePorts=True, portDefinitions=[{"port": port, "name": "http"}])
    assert (await api.post("/v2/apps", json=pinned)).status_code == 201
    [entry] = await until(lambda: _queue(api), "the fourth instance waiting")
    assert entry["app"]["id"] == "/pinned" and entry["count"] == 1
    reasons = {r["reason"]: r["declined"] for r in entry["processedOffersSummary"]["rejectSummaryLastOffers"]}
    assert reasons["InsufficientPorts"] >= 3 and reasons["InsufficientCpus"] == 0
    tasks = await until(lambda: _running(api, "/pinned", 3), "three tasks running")
    assert sorted(t["host"] for t in tasks) == list(AGENT_HOSTS)  # one per agent: the port exists once there
    assert all(t["ports"] == [port] for t in tasks)
    answer = await api.get(f"http://{tasks[0]['host']}:{port}/")
    assert answer.status_code == 200


async def test_a_mapping_host_port_is_required_as_written(api: httpx.AsyncClient) -> None:
    port = free_on_every_agent()
    mappings = [{"containerPort": 80, "hostPort": port}, {"containerPort": 81, "hostPort": 0}]
    bridged = app(
        "/bridged",
        instances=1,
        container={"type": "DOCKER", "docker": {"image": "x"}, "portMappings": mappings},
        networks=[{"mode": "container/bridge"}],
    )
    assert (await api.post("/v2/apps", json=bridged)).status_code == 201
    [task] = await until(lambda: _running(api, "/bridged", 1), "the bridged task running")
    assert task["ports"][0] == port and task["ports"][1] != port and len(task["ports"]) == 2


async def _queue(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    return list((await api.get("/v2/queue")).json()["queue"])


async def _running(api: httpx.AsyncClient, app_id: str, count: int) -> list[dict[str, Any]] | None:
    tasks = (await api.get(f"/v2/apps{app_id}/tasks")).json()["tasks"]
    running = [t for t in tasks if t["state"] == "TASK_RUNNING"]
    return running if len(running) == count else None
