"""Mesos agent statistics of the simulated agents and the load fault API, over real HTTP: the
`/monitor/statistics` shape, one shared port, counters that grow with the load set per app, per
task or as a profile, bodies refused with the field named, and the tasks' `/metrics` counter."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest

from reconciler.sandbox.marathon import MarathonSandbox
from reconciler.sandbox.marathon.load import Load, LoadModel, LoadStep
from tests.sandbox.marathon.fixtures import fast_config, until

APP = {"id": "/busy", "cmd": "run", "cpus": 0.5, "mem": 64, "instances": 2}


async def statistics(sandbox: MarathonSandbox, host: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=10.0) as client:
        response = await client.get(f"http://{host}:{sandbox.agent_stats_port}/monitor/statistics")
    assert response.status_code == 200
    body: list[dict[str, Any]] = response.json()
    return body


async def reading(sandbox: MarathonSandbox, task_id: str, host: str) -> dict[str, Any]:
    [entry] = [e for e in await statistics(sandbox, host) if e["executor_id"] == task_id]
    stats: dict[str, Any] = entry["statistics"]
    return stats


def cpu_seconds(stats: dict[str, Any]) -> float:
    return float(stats["cpus_user_time_secs"] + stats["cpus_system_time_secs"])


async def test_every_agent_serves_its_own_tasks_statistics_in_the_mesos_shape(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    assert marathon_sandbox.agent_stats_port > 0
    assert (await api.post("/v2/apps", json=APP)).status_code == 201
    await marathon_sandbox.wait_idle()
    tasks = (await api.get("/v2/apps/busy/tasks")).json()["tasks"]
    for task in tasks:
        entries = await statistics(marathon_sandbox, task["host"])
        [entry] = [e for e in entries if e["executor_id"] == task["id"]]
        assert entry["source"] == task["id"] and entry["framework_id"] == marathon_sandbox.core.framework_id
        assert entry["executor_name"].startswith(f"Command Executor (Task: {task['id']})")
        stats = entry["statistics"]
        # The command executor's allowance is added to the task's resources (0.1 cpus, 32 MB).
        assert stats["cpus_limit"] == pytest.approx(0.6) and stats["mem_limit_bytes"] == 96 * 1024 * 1024
        assert cpu_seconds(stats) == 0 and stats["mem_rss_bytes"] == 0 and stats["timestamp"] > 1.6e9
    hosts = {t["host"] for t in tasks}
    idle_agent = next(a.host for a in marathon_sandbox.state.agents if a.host not in hosts)
    assert await statistics(marathon_sandbox, idle_agent) == []
    async with httpx.AsyncClient() as client:  # the older name of the endpoint answers too
        legacy = await client.get(f"http://{idle_agent}:{marathon_sandbox.agent_stats_port}/monitor/statistics.json")
    assert legacy.json() == []


async def test_app_load_makes_cpu_time_grow_at_its_rate_and_sets_rss(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    await api.post("/v2/apps", json=APP)
    await marathon_sandbox.wait_idle()
    [task, _] = marathon_sandbox.state.all_tasks()
    answer = await api.put("/_sandbox/load", json={"app": "/busy", "cpu": 1.5, "mem": 40})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"app": "/busy", "profile": [{"after": 0.0, "cpu": 1.5, "mem": 40.0, "requests": 0.0}]}
    first = await reading(marathon_sandbox, task.id, task.host)
    await asyncio.sleep(0.3)
    second = await reading(marathon_sandbox, task.id, task.host)
    rate = (cpu_seconds(second) - cpu_seconds(first)) / (second["timestamp"] - first["timestamp"])
    assert rate == pytest.approx(1.5, rel=0.1)
    assert second["cpus_system_time_secs"] > 0 and second["mem_rss_bytes"] == 40 * 1024 * 1024
    assert (await api.get("/_sandbox/load")).json()["apps"]["/busy"][0]["cpu"] == 1.5
    # Back to idle: the counters keep what they counted and stop growing.
    assert (await api.put("/_sandbox/load", json={"app": "busy"})).status_code == 200
    third = await reading(marathon_sandbox, task.id, task.host)
    await asyncio.sleep(0.2)
    fourth = await reading(marathon_sandbox, task.id, task.host)
    assert cpu_seconds(third) >= cpu_seconds(second) and cpu_seconds(fourth) == pytest.approx(cpu_seconds(third))
    assert fourth["mem_rss_bytes"] == 0


async def test_task_load_wins_over_its_apps_and_reset_makes_every_task_idle(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    await api.post("/v2/apps", json=APP)
    await marathon_sandbox.wait_idle()
    hot, cold = marathon_sandbox.state.all_tasks()
    await api.put("/_sandbox/load", json={"app": "/busy", "cpu": 0.1})
    assert (await api.put("/_sandbox/load", json={"task": hot.id, "cpu": 2.0, "mem": 10})).status_code == 200
    before = {t.id: cpu_seconds(await reading(marathon_sandbox, t.id, t.host)) for t in (hot, cold)}
    await asyncio.sleep(0.3)
    after = {t.id: cpu_seconds(await reading(marathon_sandbox, t.id, t.host)) for t in (hot, cold)}
    assert after[hot.id] - before[hot.id] > 10 * (after[cold.id] - before[cold.id]) > 0
    assert (await api.post("/_sandbox/reset")).status_code == 200
    assert (await api.get("/_sandbox/load")).json() == {"apps": {}, "tasks": {}}
    idle = await reading(marathon_sandbox, hot.id, hot.host)
    assert idle["mem_rss_bytes"] == 0


def test_a_profile_is_a_step_function_and_counters_integrate_it() -> None:
    loads = LoadModel()
    profile = (LoadStep(10.0, cpu=1.0, mem=100), LoadStep(20.0, cpu=3.0, mem=100))
    loads.set("/a", app=True, load=Load(profile, since=100.0), now=100.0, running=[("t", "/a", 90.0)])
    assert loads.usage("t", "/a", 90.0, 105.0).mem_mib == 0  # before the first step: idle
    at_125 = loads.usage("t", "/a", 90.0, 125.0)
    # 10 s at 1 core (110-120) and 5 s at 3 cores (120-125)
    assert at_125.cpu_user_seconds + at_125.cpu_system_seconds == pytest.approx(25.0)
    assert at_125.mem_mib == 100
    loads.set("/a", app=True, load=None, now=130.0, running=[("t", "/a", 90.0)])
    done = loads.usage("t", "/a", 90.0, 200.0)
    assert done.cpu_user_seconds + done.cpu_system_seconds == pytest.approx(40.0)


async def test_a_profile_through_the_fault_api_carries_values_between_steps(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    await api.post("/v2/apps", json=APP)
    await marathon_sandbox.wait_idle()
    body = {"app": "/busy", "profile": [{"after": 0, "cpu": 0.2, "mem": 100}, {"after": 30, "cpu": 1.8}]}
    answer = await api.put("/_sandbox/load", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["profile"][1] == {"after": 30.0, "cpu": 1.8, "mem": 100.0, "requests": 0.0}


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"cpu": 1}, "exactly one of app"),
        ({"app": "/busy", "task": "x"}, "exactly one of app"),
        ({"app": "/busy", "cpu": -1}, "cpu must be a number of cores >= 0"),
        ({"app": "/busy", "mem": "lots"}, "mem must be a number of MiB >= 0"),
        ({"app": "/busy", "cpus": 1}, "unknown field 'cpus'"),
        ({"app": "/busy", "cpu": 1, "profile": [{"after": 0}]}, "cpu and profile cannot go together"),
        ({"app": "/busy", "profile": []}, "profile must be a list of 1 to 100 steps"),
        ({"app": "/busy", "profile": [{"cpu": 1}]}, "profile[0].after is required"),
        ({"app": "/busy", "profile": [{"after": 5}, {"after": 5}]}, "profile[1].after must be later"),
        ({"app": "/busy", "profile": [{"after": 0, "load": 1}]}, "profile[0]: unknown field 'load'"),
        ({"app": "/busy", "profile": [{"after": 0, "requests": -2}]}, "profile[0].requests must be"),
        ({"app": "/busy", "profile": [3]}, "profile[0] must be an object"),
    ],
)
async def test_load_bodies_are_refused_naming_the_field(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox, body: dict[str, Any], names: str
) -> None:
    await api.post("/v2/apps", json=APP)
    answer = await api.put("/_sandbox/load", json=body)
    assert answer.status_code == 400 and names in answer.json()["message"], answer.text
    assert (await api.get("/_sandbox/load")).json() == {"apps": {}, "tasks": {}}


async def test_load_of_an_unknown_app_or_task_is_404(api: httpx.AsyncClient) -> None:
    assert (await api.put("/_sandbox/load", json={"app": "/nope", "cpu": 1})).status_code == 404
    assert (await api.put("/_sandbox/load", json={"task": "nope", "cpu": 1})).status_code == 404


async def test_a_tasks_metrics_count_the_requests_the_load_sets(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    await api.post("/v2/apps", json={**APP, "instances": 1})
    await marathon_sandbox.wait_idle()
    [task] = marathon_sandbox.state.all_tasks()
    await api.put("/_sandbox/load", json={"task": task.id, "requests": 50})

    async def counter() -> float:
        text = (await api.get(f"http://{task.host}:{task.ports[0]}/metrics")).text
        assert "# TYPE requests_total counter" in text
        return float(next(line.split()[1] for line in text.splitlines() if line.startswith("requests_total ")))

    first = await counter()
    await until(lambda: _above(counter, first + 5), "requests_total grows at the load's rate")
    assert (await api.get(f"http://{task.host}:{task.ports[0]}/")).text == "ok\n"


async def _above(probe: Any, floor: float) -> bool:
    return bool(await probe() > floor)


async def test_the_statistics_port_is_configurable_and_a_taken_one_is_named() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.2", 0))
        taken = holder.getsockname()[1]
        holder.listen()
        sandbox = MarathonSandbox(fast_config(agents=2, agent_stats_port=taken))
        with pytest.raises(OSError, match=r"Mesos agent statistics on 127\.0\.0\.2"):
            await sandbox.start()
    free = _free_port("127.0.0.3")
    async with MarathonSandbox(fast_config(agents=2, agent_stats_port=free)) as sandbox:
        assert sandbox.agent_stats_port == free
        assert await statistics(sandbox, "127.0.0.3") == []


async def test_added_and_lost_agents_gain_and_lose_their_statistics_listener(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    port = marathon_sandbox.agent_stats_port
    added = (await api.post("/_sandbox/agents", json={})).json()["host"]
    await until(lambda: _answers(added, port), f"statistics on the new agent {added}")
    await api.post("/_sandbox/agents/1/lose")
    await until(lambda: _refused("127.0.0.2", port), "the lost agent stops answering")
    await api.post("/_sandbox/agents/1/restore")
    await until(lambda: _answers("127.0.0.2", port), "the restored agent answers again")


async def _answers(host: str, port: int) -> bool:
    async with httpx.AsyncClient(timeout=2.0) as client:
        try:
            return (await client.get(f"http://{host}:{port}/monitor/statistics")).status_code == 200
        except httpx.HTTPError:
            return False


async def _refused(host: str, port: int) -> bool:
    return not await _answers(host, port)


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
    return port


async def test_dropping_a_tasks_own_load_returns_it_to_its_apps(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    await api.post("/v2/apps", json={**APP, "instances": 1})
    await marathon_sandbox.wait_idle()
    [task] = marathon_sandbox.state.all_tasks()
    await api.put("/_sandbox/load", json={"app": "/busy", "mem": 30})
    await api.put("/_sandbox/load", json={"task": task.id, "mem": 5})
    assert (await reading(marathon_sandbox, task.id, task.host))["mem_rss_bytes"] == 5 * 1024 * 1024
    await api.put("/_sandbox/load", json={"task": task.id})
    assert (await reading(marathon_sandbox, task.id, task.host))["mem_rss_bytes"] == 30 * 1024 * 1024
