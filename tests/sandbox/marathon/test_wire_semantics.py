"""Marathon v1.10.26's wire semantics in the sandbox (sandbox layer tests): query booleans, scale+wipe,
content negotiation, gzip, text/plain task lists, embeds, group wildcards and task incarnations.
Each test names the Marathon source it follows.
"""

from __future__ import annotations

import gzip
from typing import Any

import httpx
import pytest

from reconciler.sandbox.marathon import MarathonSandbox
from tests.sandbox.marathon.fixtures import until

SCALE_AND_WIPE = {"message": "You cannot use scale and wipe at the same time."}


def app(app_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": app_id, "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, **fields}


async def started(api: httpx.AsyncClient, sandbox: MarathonSandbox, *bodies: dict[str, Any]) -> None:
    for body in bodies:
        assert (await api.post("/v2/apps", json=body)).status_code == 201
    await sandbox.wait_idle()


async def task_ids(api: httpx.AsyncClient, app_id: str) -> list[str]:
    return [t["id"] for t in (await api.get(f"/v2/apps{app_id}/tasks")).json()["tasks"]]


async def test_scale_with_wipe_is_400_on_every_task_kill_endpoint(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    """AppTasksResource.deleteOne/deleteMany and TasksResource.killTasks throw BadRequestException first."""
    await started(api, marathon_sandbox, app("/w", instances=2))
    [first, _] = await task_ids(api, "/w")
    both = {"scale": "true", "wipe": "true"}
    answers = [
        await api.delete(f"/v2/apps/w/tasks/{first}", params=both),
        await api.delete("/v2/apps/w/tasks", params={**both, "host": "*"}),
        await api.post("/v2/tasks/delete", params=both, json={"ids": [first]}),
    ]
    assert [(a.status_code, a.json()) for a in answers] == [(400, SCALE_AND_WIPE)] * 3
    assert (await api.get("/v2/apps/w")).json()["app"]["instances"] == 2
    assert first in await task_ids(api, "/w")


@pytest.mark.parametrize("value", ["1", "yes", "", "TRUE "])
async def test_only_true_is_true_for_query_booleans(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox, value: str
) -> None:
    """Jersey reads `@DefaultValue("false") @QueryParam("scale") scale: Boolean` with Boolean.valueOf: only
    `true` (any case) is true, and a blank value is the default."""
    await started(api, marathon_sandbox, app("/b", instances=2))
    [first, _] = await task_ids(api, "/b")
    answer = await api.delete(f"/v2/apps/b/tasks/{first}", params={"scale": value})
    assert answer.status_code == 200 and "task" in answer.json()  # a plain kill, not a scale deployment
    assert (await api.get("/v2/apps/b")).json()["app"]["instances"] == 2


async def test_true_in_any_case_is_true_and_a_bare_flag_keeps_the_default(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    await started(api, marathon_sandbox, app("/t", instances=2))
    [first, _] = await task_ids(api, "/t")
    scaled = await api.delete(f"/v2/apps/t/tasks/{first}", params={"scale": "True"})
    assert "deploymentId" in scaled.json()
    # DELETE /v2/apps/{id} has @DefaultValue("true") force: a bare `?force` is still forced
    marathon_sandbox.freeze_deployments()
    await api.put("/v2/apps/t", json={"instances": 3})
    assert (await api.put("/v2/apps/t?force", json={"instances": 4})).status_code == 409
    assert (await api.delete("/v2/apps/t?force")).status_code == 200


async def test_partial_update_and_dry_run_are_booleans_the_same_way(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    """AppsResource.replace: `@DefaultValue("true") @QueryParam("partialUpdate")`; GroupsResource: `dryRun`."""
    await started(api, marathon_sandbox, app("/u", labels={"keep": "me"}))
    await api.put("/v2/apps/u", params={"partialUpdate": "1"}, json={"cmd": "sleep 5", "cpus": 0.1, "mem": 16})
    assert (await api.get("/v2/apps/u")).json()["app"]["labels"] == {}  # "1" is false: a full replacement
    await api.put("/v2/apps/u", params={"partialUpdate": ""}, json={"labels": {"back": "again"}})
    assert (await api.get("/v2/apps/u")).json()["app"]["cmd"] == "sleep 5"  # blank: the default, partial
    dry = await api.put("/v2/groups/g", params={"dryRun": "1"}, json={"apps": [app("/g/a")]})
    assert "deploymentId" in dry.json() and "/g/a" in {a["id"] for a in (await api.get("/v2/apps")).json()["apps"]}


async def test_cluster_without_a_value_keeps_every_task_on_the_first_tasks_host(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    """SchedulingValidation lets CLUSTER go without a value; Constraints.checkCluster then accepts only the
    host of the first placed task. Operators are read in any case and kept upper-case."""
    await started(api, marathon_sandbox, app("/c", instances=3, constraints=[["hostname", "cluster"]]))
    tasks = (await api.get("/v2/apps/c/tasks")).json()["tasks"]
    assert len(tasks) == 3 and len({t["host"] for t in tasks}) == 1
    assert (await api.get("/v2/apps/c")).json()["app"]["constraints"] == [["hostname", "CLUSTER"]]


async def test_a_body_that_is_not_json_is_415_and_an_accept_without_json_is_406(api: httpx.AsyncClient) -> None:
    """@Consumes/@Produces(APPLICATION_JSON) on the resources; Jersey's NotSupportedException and
    NotAcceptableException, rendered by MarathonExceptionMapper as {"message": <reason phrase>}."""
    form = await api.post("/v2/apps", content=b"id=/x", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (form.status_code, form.json()) == (415, {"message": "Unsupported Media Type"})
    text = await api.put("/v2/apps/x", content=b"{}", headers={"Content-Type": "text/plain"})
    assert text.status_code == 415
    xml = await api.get("/v2/apps", headers={"Accept": "application/xml"})
    assert (xml.status_code, xml.json()) == (406, {"message": "Not Acceptable"})
    assert (await api.get("/v2/info", headers={"Accept": "text/html"})).status_code == 406
    assert (await api.get("/v2/apps", headers={"Accept": "application/*"})).status_code == 200
    assert (await api.get("/v2/apps", headers={"Accept": "application/json;charset=utf-8"})).status_code == 200
    charset = await api.post("/v2/apps", json=app("/y"), headers={"Content-Type": "application/json; charset=utf-8"})
    assert charset.status_code == 201
    # Jersey matches a request without Content-Type against any @Consumes (a bodiless DELETE, say)
    assert (await api.delete("/v2/apps/y")).status_code == 200


async def test_answers_are_gzipped_for_a_client_that_takes_gzip(api: httpx.AsyncClient) -> None:
    """HttpModule puts Jetty's GzipHandler in front: GET answers of 32 bytes or more."""
    await api.post("/v2/apps", json=app("/z"))
    async with api.stream("GET", "/v2/apps", headers={"Accept-Encoding": "gzip"}) as answer:
        raw = b"".join([chunk async for chunk in answer.aiter_raw()])
    assert answer.headers["Content-Encoding"] == "gzip"
    assert b'"id":"/z"' in gzip.decompress(raw)
    plain = await api.get("/v2/apps", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers


async def test_text_plain_task_lists_are_406_unless_the_deprecated_feature_is_on(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    """TasksResource.indexTxt / AppTasksResource.indexTxt check DeprecatedFeatures.textPlainTasks (1.10)."""
    await started(api, marathon_sandbox, app("/p"))
    message = "The text/plain output is deprecated. It can be enabled via text_plain_tasks."
    for path in ("/v2/tasks", "/v2/apps/p/tasks"):
        answer = await api.get(path, headers={"Accept": "text/plain"})
        assert (answer.status_code, answer.text) == (406, message)
        both = await api.get(path, headers={"Accept": "text/plain, application/json"})
        assert both.json()["tasks"]  # JSON wins: the text method has qs=0.1 (RestResource.TEXT_PLAIN_LOW)


async def test_embeds_are_honoured_on_the_list_and_on_a_single_app(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    """InfoEmbedResolver.resolveApp; AppInfoBaseData renders `readinessCheckResults` and `tasksStats`
    (the RAML AppInfo name, raml/v2/types/app.raml) when asked; AppsResource.show honours `embed` too."""
    await started(api, marathon_sandbox, app("/e", instances=2))
    plain = (await api.get("/v2/apps")).json()["apps"][0]
    assert "readinessCheckResults" not in plain and "tasksStats" not in plain and "tasks" not in plain
    listed = (await api.get("/v2/apps", params=[("embed", "apps.readiness"), ("embed", "apps.taskStats")])).json()
    single = (await api.get("/v2/apps/e", params=[("embed", "app.readiness"), ("embed", "taskStats")])).json()
    for shown in (listed["apps"][0], single["app"]):
        assert shown["readinessCheckResults"] == []
        total = shown["tasksStats"]["totalSummary"]["stats"]
        assert total["counts"] == {"staged": 0, "running": 2, "healthy": 0, "unhealthy": 0}
        assert total["lifeTime"]["averageSeconds"] >= 0
        assert set(shown["tasksStats"]) == {"totalSummary", "startedAfterLastScaling", "withLatestConfig"}
    assert "tasks" in single["app"] and "lastTaskFailure" not in single["app"]  # none failed yet
    ignored = (await api.get("/v2/apps", params={"embed": "apps.nonsense"})).json()["apps"][0]
    assert ignored.keys() == plain.keys()


async def test_group_wildcards_list_apps_and_tasks_or_say_the_group_is_unknown(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    """AppsResource.show (`ListApps`, unknownGroup) and AppTasksResource.indexJson (`GroupTasks`)."""
    await started(api, marathon_sandbox, app("/shop/web"), app("/shop/deep/db"), app("/other"))
    unknown = await api.get("/v2/apps/nowhere/*")
    assert (unknown.status_code, unknown.json()) == (404, {"message": "Group '/nowhere' does not exist"})
    listed = (await api.get("/v2/apps/shop/*")).json()["*"]
    assert sorted(a["id"] for a in listed) == ["/shop/deep/db", "/shop/web"]
    assert all("tasks" in a for a in listed)  # the single-app embeds
    tasks = (await api.get("/v2/apps/shop/*/tasks")).json()["tasks"]
    assert sorted(t["appId"] for t in tasks) == ["/shop/deep/db", "/shop/web"]
    missing = await api.get("/v2/apps/nowhere/*/tasks")
    assert (missing.status_code, missing.json()) == (404, {"message": "Group '/nowhere' does not exist"})


async def test_a_killed_task_comes_back_as_its_instances_next_incarnation_and_wipe_makes_a_new_instance(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    """Marathon 1.9+ keeps the instance's goal Running on a kill, so it relaunches as `._app.2`
    (Task.Id, `<instance>._app.<n>`); `wipe=true` expunges the instance (TaskKiller.kill)."""
    await started(api, marathon_sandbox, app("/i"))
    [first] = await task_ids(api, "/i")
    instance = first.rsplit("._app.", 1)[0]
    await api.delete(f"/v2/apps/i/tasks/{first}")
    second = await until(lambda: _replacement(marathon_sandbox, first), "a replacement of the killed task")
    assert second == f"{instance}._app.2"
    await marathon_sandbox.wait_idle()
    await api.post("/v2/tasks/delete", params={"wipe": "true"}, json={"ids": [second]})
    third = await until(lambda: _replacement(marathon_sandbox, second), "a replacement of the wiped task")
    assert not third.startswith(instance) and third.endswith("._app.1")


def _replacement(sandbox: MarathonSandbox, gone: str) -> str | None:
    others = [t.id for t in sandbox.state.all_tasks() if t.id != gone and t.app_id == "/i"]
    return others[0] if others else None
