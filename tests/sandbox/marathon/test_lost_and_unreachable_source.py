"""TASK_UNREACHABLE and TASK_LOST through the fault API over real HTTP, checked against Marathon's source
(mesosphere/marathon v1.9.109, `src/main/scala/mesosphere/marathon/...`).

core/task/TaskCondition.apply reads TASK_LOST by its reason (inferStateForLost, core/task/state/
TaskConditionMapping): REASON_RECONCILIATION, REASON_SLAVE_DISCONNECTED, REASON_SLAVE_REMOVED are
Unreachable, REASON_TASK_UNKNOWN is Unknown, any other reason Gone. The lists name a task by its condition
(core/condition/Condition.toMesosTaskStateOrStaging: Gone -> TASK_GONE, Unknown -> TASK_UNKNOWN,
UnreachableInactive -> TASK_UNREACHABLE); `status_update_event` carries the Mesos state as reported
(core/instance/update/InstanceChangedEventsGenerator.events: `task.status.mesosStatus.getState`).
"""

from __future__ import annotations

from typing import Any

import httpx

from reconciler.sandbox.marathon import MarathonSandbox
from tests.sandbox.marathon.fixtures import events_of, fast_config, until

Json = dict[str, Any]


async def app_tasks(api: httpx.AsyncClient, app_id: str) -> list[Json]:
    tasks: list[Json] = (await api.get(f"/v2/apps{app_id}/tasks")).json()["tasks"]
    return tasks


def instance_conditions(sandbox: MarathonSandbox, instance: str) -> list[str]:
    return [e["condition"] for e in events_of(sandbox, "instance_changed_event") if e["instanceId"] == instance]


def task_statuses(sandbox: MarathonSandbox, task_id: str) -> list[str]:
    return [e["taskStatus"] for e in events_of(sandbox, "status_update_event") if e["taskId"] == task_id]


async def start_one(api: httpx.AsyncClient, sandbox: MarathonSandbox, app_id: str, **fields: Any) -> Json:
    app = {"id": app_id, "cmd": "run", "cpus": 0.1, "mem": 16, "instances": 1, **fields}
    assert (await api.post("/v2/apps", json=app)).status_code == 201
    await sandbox.wait_idle()
    [task] = await app_tasks(api, app_id)
    return task


async def test_an_unreachable_task_is_replaced_after_inactive_and_expunged_after_expunge_seconds() -> None:
    # TASK_UNREACHABLE: condition Unreachable (active: it still counts, nothing replaces it). Past
    # inactiveAfterSeconds Instance.InstanceState.conditionFromTasks makes it UnreachableInactive
    # (shouldBecomeInactive), listed TASK_UNREACHABLE still, and ScaleAppUpdateStepImpl (scalingWorthy)
    # starts a new instance. Past expungeAfterSeconds core/task/jobs/impl/ExpungeOverdueLostTasksActor
    # (shouldExpunge: UnreachableInactive and expired) force-expunges it: InstanceUpdater.forceExpunge sends
    # instance_changed_event in condition Killed and no status update; no list shows it any more.
    config = fast_config(seconds_scale=0.2)  # 10 s inactive = 2 s here, 20 s expunge = 4 s
    async with MarathonSandbox(config) as sandbox, httpx.AsyncClient(base_url=sandbox.url, timeout=10.0) as api:
        strategy = {"inactiveAfterSeconds": 10, "expungeAfterSeconds": 20}
        first = await start_one(api, sandbox, "/u", unreachableStrategy=strategy)
        instance = first["id"].removesuffix("._app.1")
        answer = await api.post(f"/_sandbox/tasks/{first['id']}/kill", json={"state": "TASK_UNREACHABLE"})
        assert answer.json() == {"taskId": first["id"], "state": "TASK_UNREACHABLE"}
        assert [(t["id"], t["state"]) for t in await app_tasks(api, "/u")] == [(first["id"], "TASK_UNREACHABLE")]
        shown = (await api.get("/v2/apps/u")).json()["app"]
        assert (shown["tasksRunning"], shown["tasksStaged"], shown["instances"]) == (0, 0, 1)
        assert (await api.get("/v2/queue")).json()["queue"] == []
        assert task_statuses(sandbox, first["id"])[-1] == "TASK_UNREACHABLE"
        assert instance_conditions(sandbox, instance)[-1] == "Unreachable"

        await until(lambda: "UnreachableInactive" in instance_conditions(sandbox, instance), "inactive", 30)
        other = await until(lambda: _running_except(api, "/u", first["id"]), "a new instance running", 30)
        assert other["id"].endswith("._app.1") and not other["id"].startswith(instance)
        if "Killed" not in instance_conditions(sandbox, instance):  # expunge (2 s later) not reached yet
            listed = {t["id"]: t["state"] for t in await app_tasks(api, "/u")}
            assert listed[first["id"]] == "TASK_UNREACHABLE"

        await until(lambda: "Killed" in instance_conditions(sandbox, instance), "the instance expunged", 30)
        assert instance_conditions(sandbox, instance) == [
            "Staging", "Running", "Unreachable", "UnreachableInactive", "Killed"]
        assert task_statuses(sandbox, first["id"]) == ["TASK_STAGING", "TASK_RUNNING", "TASK_UNREACHABLE"]
        assert [t["id"] for t in await app_tasks(api, "/u")] == [other["id"]]
        assert [t["id"] for t in (await api.get("/v2/tasks")).json()["tasks"]] == [other["id"]]
        assert (await api.get("/v2/apps/u")).json()["app"]["tasksRunning"] == 1
        assert "lastTaskFailure" not in (await api.get("/v2/apps/u")).json()["app"]


async def _running_except(api: httpx.AsyncClient, app_id: str, task_id: str) -> Json | None:
    return next((t for t in await app_tasks(api, app_id) if t["id"] != task_id and t["state"] == "TASK_RUNNING"), None)


async def test_a_task_lost_without_an_unreachable_reason_is_gone_and_its_instance_relaunches_after_backoff() -> None:
    # TASK_LOST with REASON_EXECUTOR_TERMINATED: Gone, a terminal Failure condition. The instance keeps its
    # goal (InstanceUpdater.mesosUpdate) and waits, scheduled, listed TASK_GONE; Gone is limitWorthy
    # (NotifyRateLimiterStep), so the app is delayed; TASK_LOST is a failure state
    # (TaskFailure.isFailureState), so lastTaskFailure names it. Once the delay is reset the instance
    # relaunches as its next incarnation.
    async with (
        MarathonSandbox(fast_config()) as sandbox,
        httpx.AsyncClient(base_url=sandbox.url, timeout=10.0) as api,
    ):
        first = await start_one(api, sandbox, "/g", backoffSeconds=3600, maxLaunchDelaySeconds=3600)
        body = {"state": "TASK_LOST", "reason": "REASON_EXECUTOR_TERMINATED", "message": "executor gone"}
        assert (await api.post(f"/_sandbox/tasks/{first['id']}/kill", json=body)).status_code == 200
        instance = first["id"].removesuffix("._app.1")
        [listed] = await app_tasks(api, "/g")
        assert (listed["id"], listed["state"], listed["ports"]) == (first["id"], "TASK_GONE", [])
        assert task_statuses(sandbox, first["id"])[-1] == "TASK_LOST"
        assert instance_conditions(sandbox, instance)[-1] == "Gone"
        shown = (await api.get("/v2/apps/g")).json()["app"]
        failure = shown["lastTaskFailure"]
        assert (failure["taskId"], failure["state"], failure["message"]) == (first["id"], "TASK_LOST", "executor gone")
        [queued] = (await api.get("/v2/queue")).json()["queue"]
        assert queued["count"] == 1 and queued["delay"]["overdue"] is False
        assert (await api.delete("/v2/queue/g/delay")).status_code == 204
        second = await until(lambda: _only_running(api, "/g"), "the next incarnation running")
        assert second["id"] == f"{instance}._app.2"


async def _only_running(api: httpx.AsyncClient, app_id: str) -> Json | None:
    tasks = await app_tasks(api, app_id)
    return tasks[0] if len(tasks) == 1 and tasks[0]["state"] == "TASK_RUNNING" else None


async def test_a_task_lost_as_unknown_relaunches_without_a_delay_and_one_lost_as_unreachable_waits() -> None:
    # REASON_TASK_UNKNOWN: Unknown, terminal but not limitWorthy: recorded as a failure, no delay, the
    # instance relaunches at once. REASON_SLAVE_REMOVED: Unreachable (active), listed TASK_UNREACHABLE, a
    # failure recorded (the update is a TASK_LOST) but no delay; with the default strategy (0 s, 0 s) it is
    # UnreachableInactive and expunged at once, and a new instance replaces it.
    async with (
        MarathonSandbox(fast_config()) as sandbox,
        httpx.AsyncClient(base_url=sandbox.url, timeout=10.0) as api,
    ):
        first = await start_one(api, sandbox, "/n", backoffSeconds=3600, maxLaunchDelaySeconds=3600)
        instance = first["id"].removesuffix("._app.1")
        body = {"state": "TASK_LOST", "reason": "REASON_TASK_UNKNOWN"}
        assert (await api.post(f"/_sandbox/tasks/{first['id']}/kill", json=body)).status_code == 200
        second = await until(lambda: _only_running(api, "/n"), "the next incarnation running")
        assert second["id"] == f"{instance}._app.2"
        assert instance_conditions(sandbox, instance)[:4] == ["Staging", "Running", "Unknown", "Staging"]
        assert (await api.get("/v2/apps/n")).json()["app"]["lastTaskFailure"]["state"] == "TASK_LOST"

        body = {"state": "TASK_LOST", "reason": "REASON_SLAVE_REMOVED", "message": "agent removed"}
        assert (await api.post(f"/_sandbox/tasks/{second['id']}/kill", json=body)).status_code == 200
        third = await until(lambda: _running_except(api, "/n", second["id"]), "a new instance running")
        assert not third["id"].startswith(instance)
        await until(lambda: instance_conditions(sandbox, instance)[-1] == "Killed", "the instance expunged")
        assert instance_conditions(sandbox, instance)[-3:] == ["Unreachable", "UnreachableInactive", "Killed"]
        assert task_statuses(sandbox, second["id"])[-1] == "TASK_LOST"
        assert [t["id"] for t in await app_tasks(api, "/n")] == [third["id"]]
        assert (await api.get("/v2/queue")).json()["queue"] == []


async def test_only_a_staging_or_running_task_can_become_unreachable_or_lost() -> None:
    # A task being killed reports TASK_KILLING; the fault API does not make it unreachable or lost (400,
    # nothing changed): the sandbox models agent trouble for active tasks only.
    async with (
        MarathonSandbox(fast_config(kill_delay_ms=60_000)) as sandbox,
        httpx.AsyncClient(base_url=sandbox.url, timeout=10.0) as api,
    ):
        first = await start_one(api, sandbox, "/s")
        assert (await api.delete(f"/v2/apps/s/tasks/{first['id']}")).status_code == 200
        for state in ("TASK_UNREACHABLE", "TASK_LOST"):
            refused = await api.post(f"/_sandbox/tasks/{first['id']}/kill", json={"state": state})
            assert refused.status_code == 400
            assert refused.json()["message"] == (
                f"POST /_sandbox/tasks/{{task}}/kill: task {first['id']} is TASK_KILLING: only a staging or running"
                f" task can be {state}")
        assert [(t["id"], t["state"]) for t in await app_tasks(api, "/s")] == [(first["id"], "TASK_KILLING")]
