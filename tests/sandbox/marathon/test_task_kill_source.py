"""Task kills with `scale=true` checked against Marathon's source (mesosphere/marathon master @ 90619da70d79,
`src/main/scala/mesosphere/marathon/...`): what lowers `instances` and by how much.
"""

from __future__ import annotations

import httpx

from reconciler.sandbox.marathon import MarathonSandbox
from tests.sandbox.marathon.fixtures import fast_config, until


async def running_tasks(api: httpx.AsyncClient, app_id: str) -> list[dict[str, object]]:
    tasks = (await api.get(f"/v2/apps{app_id}/tasks")).json()["tasks"]
    return [t for t in tasks if t["state"] == "TASK_RUNNING"]


async def test_scale_kill_counts_each_instance_once_and_not_one_already_being_killed() -> None:
    # api/v2/TasksResource.killTasks keys the ids by instance id (`tasksIdToAppId` is a Map, `taskIds`
    # a Set), then api/TaskKiller.killAndScale lowers instances by
    # `instances.count(i => i.isActive && !i.isKilling)`: an id named twice counts once, and an instance
    # already in Killing (a kill without scale asked for it) does not count.
    async with (
        MarathonSandbox(fast_config(kill_delay_ms=60_000)) as sandbox,
        httpx.AsyncClient(base_url=sandbox.url, timeout=10.0) as api,
    ):
        app = {"id": "/k", "cmd": "run", "cpus": 0.1, "mem": 16, "instances": 4}
        assert (await api.post("/v2/apps", json=app)).status_code == 201
        await sandbox.wait_idle()
        first, second, *_ = await until(lambda: _four(api), "four running tasks")
        killing = await api.post("/v2/tasks/delete", json={"ids": [first["id"]]})
        assert killing.status_code == 200
        await until(lambda: _state_of(api, first["id"], "TASK_KILLING"), "the first task killing")
        scaled = await api.post(
            "/v2/tasks/delete", params={"scale": "true"}, json={"ids": [first["id"], second["id"], second["id"]]}
        )
        assert scaled.status_code == 200 and "deploymentId" in scaled.json()
        assert (await api.get("/v2/apps/k")).json()["app"]["instances"] == 3


async def _four(api: httpx.AsyncClient) -> list[dict[str, object]] | None:
    tasks = await running_tasks(api, "/k")
    return tasks if len(tasks) == 4 else None


async def _state_of(api: httpx.AsyncClient, task_id: object, state: str) -> bool:
    tasks = (await api.get("/v2/apps/k/tasks")).json()["tasks"]
    return any(t["id"] == task_id and t["state"] == state for t in tasks)


async def test_scale_kill_of_an_unknown_task_is_an_empty_deployment_and_of_an_unknown_app_a_path_404(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    # api/v2/AppTasksResource.deleteOne: with scale=true it goes straight to TaskKiller.killAndScale,
    # whose findToKill matches nothing (no `unknownTask` on that path): the root is updated with no change,
    # a deployment result all the same. An app with no instances is `PathNotFoundException` (Exception.scala:
    # "Path '<id>' does not exist"), mapped to 404 by MarathonExceptionMapper. Without scale both stay the
    # kill path's 404s.
    assert (await api.post("/v2/apps", json={"id": "/u", "cmd": "run", "cpus": 0.1, "mem": 16})).status_code == 201
    await marathon_sandbox.wait_idle()
    unknown_task = "u.instance-00000000-0000-0000-0000-000000000000._app.1"
    scaled = await api.delete(f"/v2/apps/u/tasks/{unknown_task}", params={"scale": "true"})
    assert scaled.status_code == 200 and set(scaled.json()) == {"deploymentId", "version"}
    await marathon_sandbox.wait_idle()
    assert (await api.get("/v2/apps/u")).json()["app"]["instances"] == 1
    killed = await api.delete(f"/v2/apps/u/tasks/{unknown_task}")
    assert (killed.status_code, killed.json()) == (404, {"message": f"Task '{unknown_task}' does not exist"})
    no_app = await api.delete(f"/v2/apps/none/tasks/{unknown_task}", params={"scale": "true"})
    assert (no_app.status_code, no_app.json()) == (404, {"message": "Path '/none' does not exist"})
    no_app = await api.delete(f"/v2/apps/none/tasks/{unknown_task}")
    assert (no_app.status_code, no_app.json()) == (404, {"message": "App '/none' does not exist"})


async def test_a_kill_by_an_earlier_incarnations_id_kills_the_instances_task_running_now(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    # api/v2/TasksResource.killTasks and AppTasksResource.deleteOne parse each id with Task.Id.parse and
    # look up its *instance* (instancesBySpec.instance(taskId.instanceId), `_.instanceId == instanceId`):
    # Marathon kills instances, so an id read before a relaunch (`<instance>._app.1`) reaches the
    # instance's current task (`._app.2`), which is what the answer lists.
    assert (await api.post("/v2/apps", json={"id": "/i", "cmd": "run", "cpus": 0.1, "mem": 16})).status_code == 201
    await marathon_sandbox.wait_idle()
    [first] = (await api.get("/v2/apps/i/tasks")).json()["tasks"]
    assert first["id"].endswith("._app.1")
    assert (await api.delete(f"/v2/apps/i/tasks/{first['id']}")).status_code == 200
    second = await until(lambda: _running_other_than(api, first["id"]), "the next incarnation running")
    assert second["id"] == first["id"].removesuffix("._app.1") + "._app.2"
    killed = await api.post("/v2/tasks/delete", json={"ids": [first["id"]]})
    assert killed.status_code == 200
    assert [t["id"] for t in killed.json()["tasks"]] == [second["id"]]
    third = await until(lambda: _running_other_than(api, second["id"]), "the third incarnation running")
    answer = await api.delete(f"/v2/apps/i/tasks/{first['id']}")
    assert (answer.status_code, answer.json()["task"]["id"]) == (200, third["id"])


async def _running_other_than(api: httpx.AsyncClient, task_id: str) -> dict[str, str] | None:
    tasks = (await api.get("/v2/apps/i/tasks")).json()["tasks"]
    return next((t for t in tasks if t["id"] != task_id and t["state"] == "TASK_RUNNING"), None)
