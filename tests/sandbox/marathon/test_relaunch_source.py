"""Relaunching in the same instance, checked against Marathon's source (mesosphere/marathon v1.9.109,
`src/main/scala/mesosphere/marathon/...`; unchanged on master @ 90619da70d79).

A task that ends (TASK_FAILED, TASK_FINISHED, TASK_KILLED) while its instance's goal stays
Running leaves the instance in the tracker with that terminal task (core/instance/update/InstanceUpdater.
mesosUpdate expunges only a Decommissioned instance); the instance is then scheduled
(core/instance/Instance.isScheduled: goal Running and a terminal condition) and relaunches as
`Task.Id.nextIncarnationFor` its task (core/launcher/impl/InstanceOpFactoryImpl.inferNormalTaskOp).
"""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest

from reconciler.sandbox.marathon import MarathonSandbox
from tests.sandbox.marathon.fixtures import events_of, fast_config, until

Json = dict[str, Any]


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def held(host: str, port: int) -> socket.socket:
    """A listener outside the sandbox on host:port, as another process on the agent would hold it."""
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind((host, port))
    holder.listen()
    return holder


async def app_tasks(api: httpx.AsyncClient, app_id: str) -> list[Json]:
    tasks: list[Json] = (await api.get(f"/v2/apps{app_id}/tasks")).json()["tasks"]
    return tasks


async def only_task_in(api: httpx.AsyncClient, app_id: str, state: str) -> Json | None:
    tasks = await app_tasks(api, app_id)
    return tasks[0] if len(tasks) == 1 and tasks[0]["state"] == state else None


async def test_a_task_failing_at_launch_stays_listed_failed_until_its_instance_relaunches_it() -> None:
    # The only port of the only agent is taken outside the sandbox while the task stages: its launch fails
    # (scheduler: the staging task has nowhere to move). InstanceUpdater.mesosUpdate keeps the instance,
    # goal Running, with its TASK_FAILED task. The API lists that task (AppTasksResource.runningTasks,
    # TasksResource.indexJson and AppInfoBaseData.enrichedTasksFuture take EnrichedTask.fromInstance of
    # every instance with an agent and tasks) without stagedAt, startedAt, ports or version
    # (raml/TaskConversion.enrichedTaskRamlWrite writes those only `if (task.isActive)`), and counts it
    # nowhere (appinfo/impl/TaskForStatistics.forInstances skips `instance.isScheduled`). No other instance
    # starts meanwhile; once the port is free the instance launches `._app.2`, which replaces the ended task.
    host = "127.0.0.2"
    port = free_port(host)
    config = fast_config(agents=1, agent_port_range=(port, port), start_delay_ms=1500)
    async with MarathonSandbox(config) as sandbox, httpx.AsyncClient(base_url=sandbox.url, timeout=10.0) as api:
        app = {"id": "/f", "cmd": "run", "cpus": 0.1, "mem": 16, "instances": 1}
        assert (await api.post("/v2/apps", json=app)).status_code == 201
        staging = await until(lambda: only_task_in(api, "/f", "TASK_STAGING"), "the first task staging")
        assert staging["id"].endswith("._app.1") and staging["ports"] == [port]
        holder = held(host, port)
        try:
            failed = await until(lambda: only_task_in(api, "/f", "TASK_FAILED"), "the task failed at launch")
            instance = staging["id"].removesuffix("._app.1")
            assert failed == {
                "id": staging["id"],
                "appId": "/f",
                "host": host,
                "slaveId": staging["slaveId"],
                "ports": [],
                "servicePorts": staging["servicePorts"],
                "ipAddresses": [{"ipAddress": host, "protocol": "IPv4"}],
                "state": "TASK_FAILED",
                "localVolumes": [],
                "role": "*",
            }
            assert [t["id"] for t in (await api.get("/v2/tasks")).json()["tasks"]] == [staging["id"]]
            assert (await api.get("/v2/tasks", params={"status": "running"})).json()["tasks"] == []
            shown = (await api.get("/v2/apps/f", params={"embed": "app.taskStats"})).json()["app"]
            assert [t["id"] for t in shown["tasks"]] == [staging["id"]]
            assert (shown["tasksStaged"], shown["tasksRunning"], shown["tasksStats"]) == (0, 0, {})
            assert shown["lastTaskFailure"]["taskId"] == staging["id"]
            queued = (await api.get("/v2/queue")).json()["queue"]
            assert [(entry["app"]["id"], entry["count"]) for entry in queued] == [("/f", 1)]
            ended = [e for e in events_of(sandbox, "instance_changed_event") if e["condition"] == "Failed"]
            assert [e["instanceId"] for e in ended] == [instance]
            statuses = [(e["taskId"], e["taskStatus"]) for e in events_of(sandbox, "status_update_event")]
            assert statuses == [(staging["id"], "TASK_STAGING"), (staging["id"], "TASK_FAILED")]
        finally:
            holder.close()
        running = await until(lambda: only_task_in(api, "/f", "TASK_RUNNING"), "the next incarnation running")
        assert running["id"] == f"{instance}._app.2" and running["ports"] == [port]


async def test_a_task_whose_port_is_taken_while_it_runs_relaunches_in_its_instance(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    # A running task that answers again on a port taken meanwhile fails on its own (TASK_FAILED): its
    # instance keeps its goal and launches the next incarnation (Task.Id.nextIncarnationFor), on other ports.
    assert (await api.post("/v2/apps", json={"id": "/p", "cmd": "run", "cpus": 0.1, "mem": 16})).status_code == 201
    await marathon_sandbox.wait_idle()
    [first] = await app_tasks(api, "/p")
    await marathon_sandbox.set_task_health(first["id"], False)
    holder = held(first["host"], first["ports"][0])
    try:
        await marathon_sandbox.set_task_health(first["id"], True)
        second = await until(lambda: only_task_in(api, "/p", "TASK_RUNNING"), "a task running again")
    finally:
        holder.close()
    assert second["id"] == first["id"].removesuffix("._app.1") + "._app.2"
    assert marathon_sandbox.state.runs["/p"].last_failure is not None


async def test_an_instance_relaunches_only_once_its_killed_task_is_terminal() -> None:
    # A kill without wipe keeps the instance's goal; its task reports TASK_KILLING (condition Killing,
    # active), so the instance is not scheduled (Instance.isScheduled) and nothing launches for it until
    # TASK_KILLED. Then the same instance launches `._app.2`: the sandbox never runs two incarnations of
    # one instance at once.
    async with (
        MarathonSandbox(fast_config(kill_delay_ms=400)) as sandbox,
        httpx.AsyncClient(base_url=sandbox.url, timeout=10.0) as api,
    ):
        assert (await api.post("/v2/apps", json={"id": "/k", "cmd": "run", "cpus": 0.1, "mem": 16})).status_code == 201
        await sandbox.wait_idle()
        [first] = await app_tasks(api, "/k")
        assert (await api.delete(f"/v2/apps/k/tasks/{first['id']}")).status_code == 200
        assert await only_task_in(api, "/k", "TASK_KILLING")
        assert (await api.get("/v2/queue")).json()["queue"] == []
        second = await until(lambda: only_task_in(api, "/k", "TASK_RUNNING"), "the next incarnation running")
        assert second["id"] == first["id"].removesuffix("._app.1") + "._app.2"
        order = [(e["taskId"], e["taskStatus"]) for e in events_of(sandbox, "status_update_event")]
        assert order.index((first["id"], "TASK_KILLED")) < order.index((second["id"], "TASK_STAGING"))
        assert [t for t, status in order if status == "TASK_STAGING"] == [first["id"], second["id"]]


async def test_a_wiped_instance_is_replaced_by_a_new_one_without_waiting_for_its_kill() -> None:
    # api/TaskKiller.kill with wipe: the goal becomes Decommissioned and the instance is expunged at once
    # (doForceExpunge; InstanceUpdater.forceExpunge returns InstanceUpdateEffect.Expunge), so no list shows
    # its task any more although Mesos still kills it; the scale check launches a new instance (`._app.1`
    # of another instance) meanwhile.
    async with (
        MarathonSandbox(fast_config(kill_delay_ms=60_000)) as sandbox,
        httpx.AsyncClient(base_url=sandbox.url, timeout=10.0) as api,
    ):
        assert (await api.post("/v2/apps", json={"id": "/w", "cmd": "run", "cpus": 0.1, "mem": 16})).status_code == 201
        await sandbox.wait_idle()
        [first] = await app_tasks(api, "/w")
        assert (await api.delete(f"/v2/apps/w/tasks/{first['id']}", params={"wipe": "true"})).status_code == 200
        other = await until(lambda: _running_except(api, "/w", first["id"]), "a new instance running")
        assert other["id"].endswith("._app.1") and not other["id"].startswith(first["id"].removesuffix("._app.1"))
        assert [t for t in await app_tasks(api, "/w") if t["id"] == first["id"]] == []
        # Both tasks hold their cpus: the old one is still ending.
        assert sum(agent.used_cpus for agent in sandbox.state.agents) == pytest.approx(0.2)


async def test_wiping_an_instance_whose_task_is_being_killed_expunges_it_instead_of_relaunching_it() -> None:
    # A kill without wipe leaves the instance's goal Running: its task reports TASK_KILLING and the
    # instance would relaunch as `._app.2` once TASK_KILLED. A second kill with wipe on that instance
    # (api/TaskKiller.kill: `foundInstances` are set Decommissioned and force-expunged whatever their
    # condition) removes it: InstanceUpdater.changeGoal sends instance_changed_event in its condition
    # (Killing), forceExpunge one in condition Killed, and the task's TASK_KILLED then reaches
    # TaskStatusUpdateProcessorImpl.publish for an unknown instance: no status update, an
    # `unknown_instance_terminated_event` (core/event/Events.scala). Nothing relaunches in that instance;
    # the scale check launches a new one.
    async with (
        MarathonSandbox(fast_config(kill_delay_ms=3000, agents=1)) as sandbox,
        httpx.AsyncClient(base_url=sandbox.url, timeout=10.0) as api,
    ):
        assert (await api.post("/v2/apps", json={"id": "/k", "cmd": "run", "cpus": 0.1, "mem": 16})).status_code == 201
        await sandbox.wait_idle()
        [first] = await app_tasks(api, "/k")
        instance = first["id"].removesuffix("._app.1")
        assert (await api.delete(f"/v2/apps/k/tasks/{first['id']}")).status_code == 200
        assert await only_task_in(api, "/k", "TASK_KILLING")
        wiped = await api.delete(f"/v2/apps/k/tasks/{first['id']}", params={"wipe": "true"})
        assert (wiped.status_code, wiped.json()["task"]["id"], wiped.json()["task"]["state"]) == (
            200, first["id"], "TASK_KILLING")
        assert [t for t in await app_tasks(api, "/k") if t["id"] == first["id"]] == []
        assert [t for t in (await api.get("/v2/tasks")).json()["tasks"] if t["id"] == first["id"]] == []
        other = await until(lambda: _running_except(api, "/k", first["id"]), "a new instance running")
        assert other["id"].endswith("._app.1") and not other["id"].startswith(instance)
        await until(lambda: events_of(sandbox, "unknown_instance_terminated_event"), "the old task's end", 30)
        assert events_of(sandbox, "unknown_instance_terminated_event")[0] | {"timestamp": ""} == {
            "eventType": "unknown_instance_terminated_event", "instanceId": instance, "runSpecId": "/k",
            "condition": "Killed", "timestamp": ""}
        changes = events_of(sandbox, "instance_changed_event")
        assert [e["condition"] for e in changes if e["instanceId"] == instance] == [
            "Staging", "Running", "Killing", "Killing", "Killed"]
        statuses = [e["taskStatus"] for e in events_of(sandbox, "status_update_event") if e["taskId"] == first["id"]]
        assert statuses == ["TASK_STAGING", "TASK_RUNNING", "TASK_KILLING"]
        assert [t["id"] for t in await app_tasks(api, "/k")] == [other["id"]]
        assert sandbox.state.agent(1).used_cpus == pytest.approx(0.1)  # the old task's resources are free


async def _running_except(api: httpx.AsyncClient, app_id: str, task_id: str) -> Json | None:
    return next((t for t in await app_tasks(api, app_id) if t["id"] != task_id and t["state"] == "TASK_RUNNING"), None)


async def test_an_instance_waiting_to_relaunch_is_left_by_a_kill_unless_wiped() -> None:
    # A kill names the waiting instance by its ended task and leaves it (api/TaskKiller.kill kills only
    # `foundInstances.filter(_.isActive)`, answering with every instance found); with wipe the instance
    # is expunged (doForceExpunge), so a new instance takes its place. The task list names the ended task
    # by its condition (Condition.toMesosTaskStateOrStaging: Finished -> TASK_FINISHED).
    host = "127.0.0.2"
    port = free_port(host)
    async with (
        MarathonSandbox(fast_config(agents=1, agent_port_range=(port, port))) as sandbox,
        httpx.AsyncClient(base_url=sandbox.url, timeout=10.0) as api,
    ):
        assert (await api.post("/v2/apps", json={"id": "/g", "cmd": "run", "cpus": 0.1, "mem": 16})).status_code == 201
        await sandbox.wait_idle()
        [first] = await app_tasks(api, "/g")
        sandbox.kill_task(first["id"], "TASK_FINISHED", "exited 0")
        holder = held(host, port)  # before the scheduler's next pass: the relaunch finds no free port
        try:
            finished = await only_task_in(api, "/g", "TASK_FINISHED")
            assert finished is not None and finished["id"] == first["id"]
            conditions = [e["condition"] for e in events_of(sandbox, "instance_changed_event")]
            assert conditions[-1] == "Finished"
            left = await api.post("/v2/tasks/delete", json={"ids": [first["id"]]})
            assert [(t["id"], t["state"]) for t in left.json()["tasks"]] == [(first["id"], "TASK_FINISHED")]
            assert await only_task_in(api, "/g", "TASK_FINISHED")
            wiped = await api.delete(f"/v2/apps/g/tasks/{first['id']}", params={"wipe": "true"})
            assert (wiped.status_code, wiped.json()["task"]["id"]) == (200, first["id"])
            assert await app_tasks(api, "/g") == []
        finally:
            holder.close()
        other = await until(lambda: only_task_in(api, "/g", "TASK_RUNNING"), "a new instance running")
        assert other["id"].endswith("._app.1") and other["id"] != first["id"]
