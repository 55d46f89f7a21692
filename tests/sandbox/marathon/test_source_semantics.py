"""Marathon sandbox answers checked against Marathon's source (mesosphere/marathon master @ 90619da70d79,
`src/main/scala/mesosphere/marathon/...`): versionInfo on restart, plans that scale to 0, the cap on
running deployments, and bulk PUT elements without an id.
"""

from __future__ import annotations

import httpx

from reconciler.sandbox.marathon import MarathonSandbox
from tests.sandbox.marathon.fixtures import event_types, events_of, fast_config


def small(app_id: str, **fields: object) -> dict[str, object]:
    return {"id": app_id, "cmd": "run", "cpus": 0.1, "mem": 16, "instances": 1, **fields}


async def version_info(api: httpx.AsyncClient, app_id: str) -> dict[str, str]:
    app = (await api.get(f"/v2/apps{app_id}")).json()["app"]
    return {"version": app["version"], **app["versionInfo"]}


async def test_restart_moves_version_and_config_change_but_not_scaling(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    # GroupVersioningUtil.updateVersionInfoForChangedApps: a restarted app (markedForRestarting) gets
    # VersionInfo.FullVersionInfo.withRestartChange = copy(version, lastConfigChangeAt); lastScalingAt
    # keeps the last scale's time.
    await api.post("/v2/apps", json=small("/r"))
    await marathon_sandbox.wait_idle()
    await api.put("/v2/apps/r", json={"instances": 2})
    await marathon_sandbox.wait_idle()
    scaled = await version_info(api, "/r")
    assert scaled["lastScalingAt"] == scaled["version"] != scaled["lastConfigChangeAt"]
    restart = await api.post("/v2/apps/r/restart")
    assert restart.status_code == 200
    restarted = await version_info(api, "/r")
    assert restarted["version"] == restart.json()["version"] == restarted["lastConfigChangeAt"]
    assert restarted["lastScalingAt"] == scaled["lastScalingAt"]
    await marathon_sandbox.wait_idle()


async def test_a_config_change_to_zero_instances_is_a_scale_action_yet_a_config_version(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    # DeploymentPlan.dependencyOrderedSteps: `oldSpec.isOnlyScaleChange(newSpec) || newSpec.isScaledToZero`
    # gives ScaleApplication even when the config changed too (RunSpec.isScaledToZero: instances == 0);
    # the versionInfo still follows AppDefinition.isUpgrade, so lastConfigChangeAt moves.
    await api.post("/v2/apps", json=small("/z", instances=2))
    await marathon_sandbox.wait_idle()
    marathon_sandbox.freeze_deployments()
    put = await api.put("/v2/apps/z", json={"cmd": "other", "instances": 0})
    assert put.status_code == 200
    [deployment] = (await api.get("/v2/deployments")).json()
    assert deployment["steps"] == [{"actions": [{"action": "ScaleApplication", "app": "/z"}]}]
    info = await version_info(api, "/z")
    assert info["version"] == info["lastConfigChangeAt"] == info["lastScalingAt"] == put.json()["version"]
    marathon_sandbox.freeze_deployments(False)
    await marathon_sandbox.wait_idle()
    app = (await api.get("/v2/apps/z")).json()["app"]
    assert app["tasksRunning"] == 0 and app["tasks"] == []


async def test_root_changes_are_refused_with_403_while_the_maximum_of_deployments_runs() -> None:
    # GroupManagerImpl.updateRootEither calls checkMaxRunningDeployments first, forced or not, and
    # DeploymentsResource.cancel without force reverts through updateRoot too; the
    # TooManyRunningDeploymentsException (Exception.scala) is a 403 in MarathonExceptionMapper.
    # `DELETE /v2/deployments/<id>?force=true` only cancels (service.cancelDeployment): never refused.
    capped = fast_config(max_running_deployments=2)
    async with MarathonSandbox(capped) as sandbox, httpx.AsyncClient(base_url=sandbox.url, timeout=10.0) as api:
        sandbox.freeze_deployments()
        first = await api.put("/v2/apps", json=[small("/a")])
        second = await api.put("/v2/apps", json=[small("/b")])
        assert first.status_code == second.status_code == 200
        for refused in (
            await api.put("/v2/apps", json=[small("/c")]),
            await api.put("/v2/apps", params={"force": "true"}, json=[small("/a", instances=2)]),
            await api.delete("/v2/apps/b"),
            await api.delete(f"/v2/deployments/{first.json()['deploymentId']}"),
        ):
            assert refused.status_code == 403
            assert refused.json()["message"].startswith("Max number (2) of running deployments is achieved.")
        assert sorted(sandbox.state.apps) == ["/a", "/b"] and len(sandbox.state.deployments) == 2
        stopped = await api.delete(f"/v2/deployments/{first.json()['deploymentId']}", params={"force": "true"})
        assert stopped.status_code == 202
        assert (await api.put("/v2/apps", json=[small("/c")])).status_code == 200
        sandbox.freeze_deployments(False)
        await sandbox.wait_idle()


async def test_bulk_put_elements_without_an_id_are_refused_as_marathon_reads_them(api: httpx.AsyncClient) -> None:
    # AppsResource.canonicalAppUpdatesFromJson: partialUpdate reads AppUpdates then
    # `require(appUpdate.id.isDefined, "App Update must have app id set")` (Scala prefixes "requirement
    # failed: "; IllegalArgumentException -> 422 with only a message); a full replacement reads raml.App,
    # whose missing id is a JsResultException -> 422 "Invalid JSON" with the JSON path (RestResource.entity).
    partial = await api.put("/v2/apps", json=[small("/ok"), {"cmd": "x"}])
    assert partial.status_code == 422
    assert partial.json() == {"message": "requirement failed: App Update must have app id set"}
    whole = await api.put("/v2/apps", params={"partialUpdate": "false"}, json=[small("/ok"), {"cmd": "x"}])
    assert whole.status_code == 422
    missing = [{"path": "(1)/id", "errors": ["error.path.missing"]}]
    assert whole.json() == {"message": "Invalid JSON", "details": missing}
    typed = await api.put("/v2/apps", json=[{"id": 7}])
    assert typed.status_code == 422
    assert typed.json()["details"] == [{"path": "(0)/id", "errors": ["error.expected.jsstring"]}]
    assert (await api.get("/v2/apps")).json() == {"apps": []}


async def test_a_rollback_to_an_unknown_version_is_404_naming_only_the_app(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    # AppHelpers.updateOrCreate -> rollback: `service.getApp(appId, version).getOrElse(throw
    # AppNotFoundException(appId))`, no version given, so Exception.scala's message has no " in version".
    await api.post("/v2/apps", json=small("/back"))
    await marathon_sandbox.wait_idle()
    missing = await api.put("/v2/apps/back", json={"version": "2001-01-01T00:00:00.000Z"})
    assert missing.status_code == 404
    assert missing.json() == {"message": "App '/back' does not exist"}


async def test_a_change_without_steps_still_ends_in_deployment_success(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    # GroupManagerImpl.updateRootEither deploys every plan, empty or not; DeploymentManagerActor starts a
    # DeploymentActor that, with no step, sends DeploymentFinished at once, and
    # MarathonSchedulerActor.deploymentSuccess publishes DeploymentSuccess. A client listening to
    # deployment_success sees one for each write, even one that changed nothing.
    await api.put("/v2/apps", json=[small("/same")])
    await marathon_sandbox.wait_idle()
    same = await api.put("/v2/apps", json=[small("/same")])
    assert same.status_code == 200
    deployment_id = same.json()["deploymentId"]
    assert (await api.get("/v2/deployments")).json() == []
    successes = [e for e in events_of(marathon_sandbox, "deployment_success") if e["id"] == deployment_id]
    assert [e["plan"] for e in successes] == [{"id": deployment_id, "steps": [], "version": same.json()["version"]}]
    assert "group_change_success" in event_types(marathon_sandbox)


async def test_a_complete_replacement_ignores_version_where_a_partial_update_rolls_back(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    # AppsResource.canonicalAppUpdate(s)FromJson: partialUpdate=false (and any new app) reads a raml.App and
    # converts it with AppConversion.appToUpdate, which "purposefully ignore[s] version"; only a partial
    # update of an existing app keeps it (a rollback, alone with `id`: AppValidation.validateAppUpdateVersion).
    await api.put("/v2/apps", json=[small("/v")])
    await marathon_sandbox.wait_idle()
    old = (await api.get("/v2/apps/v")).json()["app"]["version"]
    whole = await api.put("/v2/apps", params={"partialUpdate": "false"}, json=[small("/v", cmd="new", version=old)])
    assert whole.status_code == 200
    assert (await api.get("/v2/apps/v")).json()["app"]["cmd"] == "new"
    created = await api.put("/v2/apps/fresh", json={**small("/fresh"), "version": old})
    assert created.status_code == 201
    partial = await api.put("/v2/apps/v", json={"cmd": "newer", "version": old})
    assert partial.status_code == 422
    await marathon_sandbox.wait_idle()


async def test_a_put_that_creates_an_app_answers_201_with_the_app_path_as_location(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    # AppsResource.update: `plan.original.app(appId).map(_ => Response.ok()).getOrElse(Response.created(new
    # URI(appId.toString)))`; JAX-RS makes the relative URI absolute against the base URI (the server root).
    created = await api.put("/v2/apps/new/one", json=small("/new/one"))
    assert created.status_code == 201
    assert created.headers["Location"] == f"{marathon_sandbox.url}/new/one"
    assert created.headers["Marathon-Deployment-Id"] == created.json()["deploymentId"]
    await marathon_sandbox.wait_idle()
    updated = await api.put("/v2/apps/new/one", json={"instances": 2})
    assert updated.status_code == 200 and "Location" not in updated.headers
    await marathon_sandbox.wait_idle()


async def test_a_top_level_key_the_app_type_does_not_have_is_dropped_not_stored(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    # The App type (docs/docs/rest-api/public/api/v2/types/app.raml) is read by a generated play-json reader
    # (type-generator ObjectVisitor) that picks its own properties and ignores any other key: an unknown
    # key is not stored nor shown, and changing it changes nothing (an empty plan, nothing restarts).
    await api.put("/v2/apps", json=[small("/odd", fooBar=1)])
    await marathon_sandbox.wait_idle()
    assert "fooBar" not in (await api.get("/v2/apps/odd")).json()["app"]
    marathon_sandbox.freeze_deployments()
    again = await api.put("/v2/apps", json=[small("/odd", fooBar=2)])
    assert again.status_code == 200
    assert (await api.get("/v2/deployments")).json() == []
    marathon_sandbox.freeze_deployments(False)
