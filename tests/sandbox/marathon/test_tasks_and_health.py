"""Task life in the Marathon sandbox: staging to running to healthy, health-check kills, rolling
restarts per upgradeStrategy (FACTS.md §7), killSelection, backoff."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from reconciler.sandbox.marathon import MarathonSandbox
from tests.sandbox.marathon.fixtures import events_of, fast_config, until

CHECK = {"protocol": "HTTP", "gracePeriodSeconds": 10, "intervalSeconds": 5, "maxConsecutiveFailures": 3}


def app(app_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": app_id, "cmd": "run", "cpus": 0.1, "mem": 16, "instances": 1, **fields}


async def test_task_goes_staging_running_healthy(api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox) -> None:
    await api.post("/v2/apps", json=app("/h", healthChecks=[CHECK]))
    await marathon_sandbox.wait_idle()
    statuses = [e["taskStatus"] for e in events_of(marathon_sandbox, "status_update_event")]
    assert statuses == ["TASK_STAGING", "TASK_RUNNING"]
    assert [e["condition"] for e in events_of(marathon_sandbox, "instance_changed_event")] == ["Staging", "Running"]
    [health] = events_of(marathon_sandbox, "health_status_changed_event")
    assert health["alive"] is True and health["appId"] == "/h"
    [task] = (await api.get("/v2/apps/h/tasks")).json()["tasks"]
    assert task["state"] == "TASK_RUNNING" and task["stagedAt"] <= task["startedAt"]
    [result] = task["healthCheckResults"]
    assert result["alive"] is True and result["consecutiveFailures"] == 0 and result["instanceId"] in task["id"]
    counts = (await api.get("/v2/apps/h")).json()["app"]
    assert (counts["tasksRunning"], counts["tasksHealthy"], counts["tasksUnhealthy"]) == (1, 1, 0)


async def test_unhealthy_task_is_killed_after_max_failures_and_replaced(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    await api.post("/v2/apps", json=app("/sick", healthChecks=[CHECK]))
    await marathon_sandbox.wait_idle()
    [task] = marathon_sandbox.state.all_tasks()
    await marathon_sandbox.set_task_health(task.id, False)
    await until(lambda: events_of(marathon_sandbox, "unhealthy_instance_kill_event"), "unhealthy kill")
    failures = events_of(marathon_sandbox, "failed_health_check_event")
    assert len(failures) == 3 and events_of(marathon_sandbox, "unhealthy_instance_kill_event")[0]["taskId"] == task.id
    assert [e["alive"] for e in events_of(marathon_sandbox, "health_status_changed_event")][:2] == [True, False]
    [replacement] = await until(
        lambda: [t for t in marathon_sandbox.state.all_tasks() if t.considered_healthy()], "a healthy replacement"
    )
    assert replacement.id != task.id


async def test_grace_period_ignores_failures_before_first_success(
    marathon_sandbox: MarathonSandbox, api: httpx.AsyncClient
) -> None:
    marathon_sandbox.core.scheduler.timings = type(marathon_sandbox.core.scheduler.timings)(5, 5, 0.01, 5)
    await api.post(
        "/v2/apps", json=app("/boot", healthChecks=[{**CHECK, "gracePeriodSeconds": 20, "intervalSeconds": 1}])
    )
    task = await until(marathon_sandbox.state.all_tasks, "a task")
    await marathon_sandbox.set_task_health(task[0].id, False)
    await until(lambda: task[0].started_at, "running")
    # Grace period is 200 ms here; probes every 10 ms fail but count for nothing inside it.
    await until(
        lambda: (task[0].health and task[0].health[0].seen) or task[0].state.value != "TASK_RUNNING",
        "first counted failure",
        5,
    )
    started = task[0].started_mono or 0.0
    assert marathon_sandbox.state.clock.monotonic() - started >= 0.2
    await until(lambda: events_of(marathon_sandbox, "unhealthy_instance_kill_event"), "kill after grace")


@pytest.mark.parametrize(
    ("strategy", "peak", "floor"),
    [
        ({"minimumHealthCapacity": 1, "maximumOverCapacity": 1}, 4, 2),  # all new side by side, then old killed
        ({"minimumHealthCapacity": 0, "maximumOverCapacity": 0}, 2, 0),  # kill all, then start
        ({"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0}, 2, 1),  # kill half, replace, repeat
    ],
)
async def test_rolling_restart_honours_upgrade_strategy(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox, strategy: dict[str, float], peak: int, floor: int
) -> None:
    await api.post("/v2/apps", json=app("/roll", instances=2, upgradeStrategy=strategy))
    await marathon_sandbox.wait_idle()
    start = len(marathon_sandbox.state.bus.history)
    await api.put("/v2/apps/roll", json={"env": {"V": "2"}})
    await marathon_sandbox.wait_idle()
    trace = _capacity_trace(marathon_sandbox, start)
    assert max(alive for alive, _ in trace) == peak
    assert min(running for _, running in trace) == floor
    assert len(marathon_sandbox.state.all_tasks()) == 2


def _capacity_trace(sandbox: MarathonSandbox, start: int) -> list[tuple[int, int]]:
    """(tasks alive, tasks running) after each status update, counting the two old tasks from the start."""
    old_ids = {e["taskId"] for e in sandbox.state.bus.history[:start] if e["eventType"] == "status_update_event"}
    alive, running = set(old_ids), set(old_ids)
    trace = []
    for event in sandbox.state.bus.history[start:]:
        if event["eventType"] != "status_update_event":
            continue
        status, task_id = event["taskStatus"], event["taskId"]
        if status == "TASK_STAGING":
            alive.add(task_id)
        elif status == "TASK_RUNNING":
            running.add(task_id)
        else:
            alive.discard(task_id)
            running.discard(task_id)
        trace.append((len(alive), len(running)))
    return trace


@pytest.mark.parametrize(("selection", "survivor_rank"), [("YOUNGEST_FIRST", 0), ("OLDEST_FIRST", 2)])
async def test_scale_down_honours_kill_selection(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox, selection: str, survivor_rank: int
) -> None:
    await api.post("/v2/apps", json=app("/ks", instances=1, killSelection=selection))
    await marathon_sandbox.wait_idle()
    for count in (2, 3):  # one at a time, so each task has its own age
        await api.put("/v2/apps/ks", json={"instances": count})
        await marathon_sandbox.wait_idle()
    by_age = sorted(marathon_sandbox.state.all_tasks(), key=lambda t: t.staged_mono)
    await api.put("/v2/apps/ks", json={"instances": 1})
    await marathon_sandbox.wait_idle()
    [survivor] = marathon_sandbox.state.all_tasks()
    assert survivor.id == by_age[survivor_rank].id


async def test_failed_tasks_relaunch_with_growing_backoff(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    # Long enough (1000 app seconds = 1 s here) that no delay turns overdue between a relaunch and the
    # next failure (RateLimiter.cleanUpOverdueDelays would start the backoff over).
    await api.post("/v2/apps", json=app("/crash", backoffSeconds=400, backoffFactor=2, maxLaunchDelaySeconds=1000))
    await marathon_sandbox.wait_idle()
    run = marathon_sandbox.state.runs["/crash"]
    delays = []
    for _ in range(3):
        [task] = await until(lambda: [t for t in run.tasks.values() if t.state.value == "TASK_RUNNING"], "running task")
        marathon_sandbox.kill_task(task.id, "TASK_FAILED")
        delays.append(run.backoff_delay)
        queue = (await api.get("/v2/queue")).json()["queue"]
        assert queue and queue[0]["app"]["id"] == "/crash" and queue[0]["delay"]["overdue"] is False
    assert delays == [400, 800, 1000]
    assert (await api.get("/v2/apps", params={"embed": "apps.lastTaskFailure"})).json()["apps"][0]["lastTaskFailure"][
        "state"
    ] == "TASK_FAILED"
    reset = await api.delete("/v2/queue/crash/delay")
    assert reset.status_code == 204
    await marathon_sandbox.wait_idle()
    missing = await api.delete("/v2/queue/crash/delay")
    assert missing.status_code == 404 and missing.json() == {"message": "Application /crash not found in tasks queue."}
    assert run.backoff_delay == 0
    marathon_sandbox.kill_task(next(iter(run.tasks)), "TASK_KILLED")
    assert run.backoff_delay == 0  # a kill is not a failure: no delay starts
    await marathon_sandbox.wait_idle()


async def test_kill_task_without_and_with_scale(api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox) -> None:
    await api.post("/v2/apps", json=app("/k", instances=3))
    await marathon_sandbox.wait_idle()
    first, second, third = [t.id for t in marathon_sandbox.state.all_tasks()]
    killed = await api.delete(f"/v2/apps/k/tasks/{first}")
    assert killed.status_code == 200 and killed.json()["task"]["id"] == first
    await marathon_sandbox.wait_idle()
    assert len(marathon_sandbox.state.all_tasks()) == 3
    scaled = await api.delete(f"/v2/apps/k/tasks/{second}", params={"scale": "true"})
    assert set(scaled.json()) == {"deploymentId", "version"}
    await marathon_sandbox.wait_idle()
    assert (await api.get("/v2/apps/k")).json()["app"]["instances"] == 2
    bulk = await api.post("/v2/tasks/delete", params={"scale": "true"}, json={"ids": [third]})
    assert bulk.status_code == 200
    await marathon_sandbox.wait_idle()
    assert (await api.get("/v2/apps/k")).json()["app"]["instances"] == 1
    both = await api.post("/v2/tasks/delete", params={"scale": "true", "wipe": "true"}, json={"ids": [third]})
    assert both.status_code == 400
    assert (await api.post("/v2/tasks/delete", json={"ids": ["not a task id"]})).status_code == 400
    running = (await api.get("/v2/tasks", params={"status": "running"})).json()["tasks"]
    assert [t["appId"] for t in running] == ["/k"]
    assert "TASK_KILLED" in {e["taskStatus"] for e in events_of(marathon_sandbox, "status_update_event")}


@pytest.mark.parametrize(("protocol", "killed"), [("HTTP", False), ("MESOS_HTTP", True)])
async def test_zero_max_failures_disables_kills_only_for_marathon_level_checks(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox, protocol: str, killed: bool
) -> None:
    check = {**CHECK, "protocol": protocol, "maxConsecutiveFailures": 0, "gracePeriodSeconds": 0}
    await api.post("/v2/apps", json=app("/zero", healthChecks=[check]))
    await marathon_sandbox.wait_idle()
    [task] = marathon_sandbox.state.all_tasks()
    await marathon_sandbox.set_task_health(task.id, False)
    await until(
        lambda: len(events_of(marathon_sandbox, "failed_health_check_event")) >= 3 or not task.active, "failures"
    )
    assert bool(events_of(marathon_sandbox, "unhealthy_instance_kill_event")) is killed
    assert task.active is not killed


async def test_a_killed_task_reports_killing_keeps_answering_then_is_killed() -> None:
    async with MarathonSandbox(fast_config(kill_delay_ms=300)) as sandbox, httpx.AsyncClient(
        base_url=sandbox.url, timeout=10.0
    ) as api:
        await api.post("/v2/apps", json=app("/k", portDefinitions=[{"port": 0}]))
        await sandbox.wait_idle()
        [task] = (await api.get("/v2/apps/k/tasks")).json()["tasks"]
        response = await api.delete(f"/v2/apps/k/tasks/{task['id']}", params={"scale": "false"})
        assert response.status_code == 200
        listed = {t["id"]: t["state"] for t in (await api.get("/v2/apps/k/tasks")).json()["tasks"]}
        assert listed[task["id"]] == "TASK_KILLING"
        # still listening on its port while it shuts down, as a process between SIGTERM and exit
        _, writer = await asyncio.open_connection(task["host"], task["ports"][0])
        writer.close()
        await writer.wait_closed()
        app_view = (await api.get("/v2/apps/k")).json()["app"]
        assert app_view["tasksRunning"] <= 1  # the killing task no longer counts
        await sandbox.wait_idle()
        states = [t["state"] for t in (await api.get("/v2/apps/k/tasks")).json()["tasks"]]
        assert states == ["TASK_RUNNING"]
        mine = [e["taskStatus"] for e in events_of(sandbox, "status_update_event") if e["taskId"] == task["id"]]
        assert mine == ["TASK_STAGING", "TASK_RUNNING", "TASK_KILLING", "TASK_KILLED"]
        conditions = [e["condition"] for e in events_of(sandbox, "instance_changed_event")
                      if e["instanceId"] in task["id"]]
        # the replacement is the same instance's next incarnation, so its own conditions follow on
        assert [c for c in conditions if c in ("Killing", "Killed")] == ["Killing", "Killed"]
        with pytest.raises(OSError):
            await asyncio.open_connection(task["host"], task["ports"][0])


async def test_without_a_kill_delay_a_kill_is_immediate(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    await api.post("/v2/apps", json=app("/now"))
    await marathon_sandbox.wait_idle()
    [task] = marathon_sandbox.state.all_tasks()
    await api.delete(f"/v2/apps/now/tasks/{task.id}")
    mine = [e["taskStatus"] for e in events_of(marathon_sandbox, "status_update_event") if e["taskId"] == task.id]
    assert mine == ["TASK_STAGING", "TASK_RUNNING", "TASK_KILLED"]


async def test_app_tasks_answer_text_plain_like_v2_tasks() -> None:
    """AppTasksResource.indexTxt: EndpointsHelper's lines for that one app (app, service port, host:port...),
    with the deprecated `text_plain_tasks` feature on (1.10 has it off by default)."""
    async with MarathonSandbox(fast_config(text_plain_tasks=True)) as sandbox, httpx.AsyncClient(
        base_url=sandbox.url, timeout=10.0
    ) as api:
        await _text_plain_task_lists(api, sandbox)


async def _text_plain_task_lists(api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox) -> None:
    two_ports = [{"port": 0, "name": "http"}, {"port": 0, "name": "admin"}]
    await api.post("/v2/apps", json=app("/shop/web", instances=2, portDefinitions=two_ports))
    await api.post("/v2/apps", json=app("/other"))
    await marathon_sandbox.wait_idle()
    text = {"Accept": "text/plain"}
    answer = await api.get("/v2/apps/shop/web/tasks", headers=text)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/plain")
    shown = (await api.get("/v2/apps/shop/web")).json()["app"]
    tasks = (await api.get("/v2/apps/shop/web/tasks")).json()["tasks"]
    expected = "".join(
        f"shop_web\t{port_def['port']}\t" + "".join(f"{t['host']}:{t['ports'][index]}\t" for t in tasks) + "\n"
        for index, port_def in enumerate(shown["portDefinitions"])
    )
    assert answer.text == expected
    everything = (await api.get("/v2/tasks", headers=text)).text.splitlines(keepends=True)
    assert set(expected.splitlines(keepends=True)) <= set(everything)
    assert [line.split("\t")[0] for line in everything].count("other") == 1
    assert (await api.get("/v2/apps/nope/tasks", headers=text)).status_code == 404
    assert (await api.get("/v2/apps/shop/web/tasks", headers={"Accept": "application/json"})).json()["tasks"]
