"""The /v2/apps surface of the Marathon sandbox over real HTTP: shapes, versions, errors."""

from __future__ import annotations

from typing import Any

import httpx

from reconciler.sandbox.marathon import MarathonSandbox
from tests.sandbox.marathon.fixtures import fast_config, until

APP = {"id": "/shop/web", "cmd": "serve", "instances": 2, "cpus": 0.1, "mem": 32}


async def test_create_answers_201_with_location_defaults_and_deployment(api: httpx.AsyncClient) -> None:
    response = await api.post("/v2/apps", json=APP)
    assert response.status_code == 201
    assert response.headers["Location"].endswith("/v2/apps/shop/web")
    assert response.headers["X-Marathon-Leader"].startswith("http://127.0.0.1:")
    app = response.json()
    assert app["deployments"] == [{"id": response.headers["Marathon-Deployment-Id"]}]
    assert (app["tasksStaged"], app["tasksRunning"], app["tasksHealthy"], app["tasksUnhealthy"]) == (0, 0, 0, 0)
    assert app["backoffSeconds"] == 1 and app["backoffFactor"] == 1.15 and app["maxLaunchDelaySeconds"] == 300
    assert app["upgradeStrategy"] == {"minimumHealthCapacity": 1, "maximumOverCapacity": 1}
    assert app["killSelection"] == "YOUNGEST_FIRST"
    assert app["unreachableStrategy"] == {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0}
    [port_def] = app["portDefinitions"]
    assert port_def["name"] == "default" and port_def["protocol"] == "tcp" and 10000 <= port_def["port"] < 20000
    for empty in ("args", "constraints", "env", "fetch", "healthChecks", "dependencies", "secrets", "ports", "uris"):
        assert empty not in app, empty
    assert app["version"] == app["versionInfo"]["lastScalingAt"] == app["versionInfo"]["lastConfigChangeAt"]


async def test_duplicate_unknown_and_bad_requests_get_marathons_bodies(api: httpx.AsyncClient) -> None:
    assert (await api.post("/v2/apps", json=APP)).status_code == 201
    duplicate = await api.post("/v2/apps", json=APP)
    assert (duplicate.status_code, duplicate.json()) == (409, {"message": "An app with id [/shop/web] already exists."})
    missing = await api.get("/v2/apps/nope")
    assert (missing.status_code, missing.json()) == (404, {"message": "App '/nope' does not exist"})
    route = await api.get("/v2/nothing-here")
    assert (route.status_code, route.json()) == (500, {"message": "URI not found"})
    broken = await api.post("/v2/apps", content=b"{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()["message"] == "Invalid JSON"
    wrong_type = await api.post("/v2/apps", json={"id": "/x", "instances": "two"})
    # Corrected FACTS §1: MarathonExceptionMapper.exceptionStatusEntity answers a JsResultException 422.
    assert wrong_type.status_code == 422 and wrong_type.json()["details"][0]["path"] == "/instances"
    bad_id = await api.post("/v2/apps", json={"id": "/Bad_Id", "cmd": "x"})
    assert bad_id.status_code == 422 and bad_id.json()["message"] == "Object is not valid"
    assert bad_id.json()["details"][0]["path"] == "/id"
    task = await api.delete("/v2/apps/shop/web/tasks/shop_web.instance-0._app.1")
    assert task.status_code == 404 and task.json() == {"message": "Task 'shop_web.instance-0._app.1' does not exist"}
    assert (await api.get("/ping")).text == "pong"
    assert (await api.get("/v2/leader")).json()["leader"].startswith("127.0.0.1:")
    assert (await api.get("/v2/info")).json()["name"] == "marathon"


async def test_scale_moves_last_scaling_only_and_config_change_moves_both(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    created = (await api.post("/v2/apps", json=APP)).json()
    await marathon_sandbox.wait_idle()
    scaled = await api.put("/v2/apps/shop/web", json={"instances": 3})
    assert scaled.status_code == 200 and scaled.headers["Marathon-Deployment-Id"] == scaled.json()["deploymentId"]
    await marathon_sandbox.wait_idle()
    app = (await api.get("/v2/apps/shop/web")).json()["app"]
    assert app["version"] == scaled.json()["version"] == app["versionInfo"]["lastScalingAt"]
    assert app["versionInfo"]["lastConfigChangeAt"] == created["version"]
    changed = (await api.put("/v2/apps/shop/web", json={"labels": {"team": "a"}})).json()
    await marathon_sandbox.wait_idle()
    app = (await api.get("/v2/apps/shop/web")).json()["app"]
    assert app["versionInfo"] == {"lastScalingAt": changed["version"], "lastConfigChangeAt": changed["version"]}
    assert len(app["tasks"]) == 3 and {t["version"] for t in app["tasks"]} == {changed["version"]}
    versions = (await api.get("/v2/apps/shop/web/versions")).json()["versions"]
    assert versions == sorted([created["version"], scaled.json()["version"], changed["version"]], reverse=True)
    old = (await api.get(f"/v2/apps/shop/web/versions/{created['version']}")).json()
    assert old["instances"] == 2 and "labels" in old and old["labels"] == {}


async def test_identical_put_is_an_empty_plan_and_rollback_restores_a_version(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    created = (await api.post("/v2/apps", json=APP)).json()
    await marathon_sandbox.wait_idle()
    same = await api.put("/v2/apps/shop/web", json={"cmd": "serve"})
    assert same.status_code == 200 and (await api.get("/v2/deployments")).json() == []
    await api.put("/v2/apps/shop/web", json={"cmd": "serve --new"})
    await marathon_sandbox.wait_idle()
    mixed = await api.put("/v2/apps/shop/web", json={"version": created["version"], "cmd": "x"})
    assert mixed.status_code == 422
    assert await api.put("/v2/apps/shop/web", json={"version": created["version"]})
    await marathon_sandbox.wait_idle()
    assert (await api.get("/v2/apps/shop/web")).json()["app"]["cmd"] == "serve"


async def test_full_replacement_patch_bulk_put_and_filters(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    bulk = await api.put(
        "/v2/apps",
        json=[
            {**APP, "labels": {"tier": "front"}},
            {"id": "/shop/db", "cmd": "db", "cpus": 0.1, "mem": 32, "labels": {"tier": "back"}},
        ],
    )
    assert bulk.status_code == 200
    deployments = (await api.get("/v2/deployments")).json()
    assert [d["id"] for d in deployments] == [bulk.json()["deploymentId"]]
    assert deployments[0]["affectedApps"] == ["/shop/db", "/shop/web"]
    await marathon_sandbox.wait_idle()
    ids = lambda body: sorted(a["id"] for a in body["apps"])  # noqa: E731
    assert ids((await api.get("/v2/apps", params={"label": "tier==front"})).json()) == ["/shop/web"]
    assert ids((await api.get("/v2/apps", params={"label": "tier in (front, back)"})).json()) == [
        "/shop/db",
        "/shop/web",
    ]
    assert ids((await api.get("/v2/apps", params={"id": "DB"})).json()) == ["/shop/db"]
    assert sorted(a["id"] for a in (await api.get("/v2/apps/shop/*")).json()["*"]) == ["/shop/db", "/shop/web"]
    with_tasks = (await api.get("/v2/apps", params={"embed": "apps.tasks"})).json()["apps"]
    assert all(len(a["tasks"]) == a["instances"] for a in with_tasks) and all("deployments" in a for a in with_tasks)
    assert all("tasks" not in a for a in (await api.get("/v2/apps")).json()["apps"])
    patched = await api.patch("/v2/apps/shop/db", json={"env": {"A": "1"}})
    assert patched.status_code == 200
    assert (await api.patch("/v2/apps/shop/none", json={"env": {}})).status_code == 404
    await marathon_sandbox.wait_idle()
    replaced = await api.put("/v2/apps/shop/db", params={"partialUpdate": "false"}, json={"cmd": "db2"})
    assert replaced.status_code == 200
    await marathon_sandbox.wait_idle()
    db = (await api.get("/v2/apps/shop/db")).json()["app"]
    assert db["cmd"] == "db2" and db["cpus"] == 1 and "env" not in db and db["labels"] == {}


async def test_put_creates_with_201_and_delete_defaults_to_force(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    created = await api.put("/v2/apps/solo", json={"cmd": "x", "cpus": 0.1, "mem": 16, "instances": 1})
    assert created.status_code == 201 and set(created.json()) == {"deploymentId", "version"}
    # The deployment still runs: DELETE (force by default) is never locked out.
    deleted = await api.delete("/v2/apps/solo")
    assert deleted.status_code == 200
    assert (await api.get("/v2/apps/solo")).status_code == 404
    await until(lambda: not marathon_sandbox.state.all_tasks() and not marathon_sandbox.state.deployments, "app gone")
    await marathon_sandbox.wait_idle()


async def test_restart_moves_config_change_and_replaces_every_task(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    await api.post("/v2/apps", json=APP)
    await marathon_sandbox.wait_idle()
    before = {t.id for t in marathon_sandbox.state.all_tasks()}
    restart = (await api.post("/v2/apps/shop/web/restart")).json()
    await marathon_sandbox.wait_idle()
    app = (await api.get("/v2/apps/shop/web")).json()["app"]
    assert app["versionInfo"]["lastConfigChangeAt"] == restart["version"] == app["version"]
    after = {t["id"] for t in app["tasks"]}
    assert len(after) == 2 and not (after & before)


async def test_api_post_event_carries_the_stored_definition(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    await api.post("/v2/apps", json=APP)
    await api.put("/v2/apps/shop/web", params={"force": "true"}, json={"instances": 1})
    posts = [e for e in marathon_sandbox.state.bus.history if e["eventType"] == "api_post_event"]
    assert [e["uri"] for e in posts] == ["/v2/apps", "/v2/apps/shop/web"]
    assert posts[1]["appDefinition"]["instances"] == 1 and posts[1]["clientIp"] == "127.0.0.1"


async def test_basic_auth_answers_401_like_jetty_and_never_shows_the_password() -> None:
    config = fast_config(http_credentials="ops:s3cret")
    assert "s3cret" not in repr(config)
    async with MarathonSandbox(config) as sandbox, httpx.AsyncClient(base_url=sandbox.url) as client:
        refused = await client.get("/v2/apps")
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == 'basic realm="Mesosphere"'
        assert refused.headers["Content-Type"].startswith("text/html") and "s3cret" not in refused.text
        assert (await client.get("/v2/apps", auth=("ops", "wrong"))).status_code == 401
        assert (await client.get("/v2/apps", auth=("ops", "s3cret"))).json() == {"apps": []}


BRIDGED: dict[str, Any] = {
    "id": "/d1",
    "container": {"type": "DOCKER", "docker": {"image": "nginx"},
                  "portMappings": [{"containerPort": 80, "hostPort": 0, "name": "http"}]},
    "networks": [{"mode": "container/bridge"}],
}


async def test_container_port_mappings_get_service_ports_like_port_definitions(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    """GroupManagerImpl.assignDynamicServicePorts fills mappings' servicePort 0 from 10000-20000; protocol tcp."""
    created = await api.post("/v2/apps", json=BRIDGED)
    assert created.status_code == 201, created.text
    [mapping] = created.json()["container"]["portMappings"]
    assert mapping["protocol"] == "tcp" and mapping["hostPort"] == 0 and mapping["name"] == "http"
    assert 10000 <= mapping["servicePort"] < 20000
    other = await api.post("/v2/apps", json={**BRIDGED, "id": "/d2"})
    assert other.json()["container"]["portMappings"][0]["servicePort"] != mapping["servicePort"]
    await marathon_sandbox.wait_idle()
    [task] = (await api.get("/v2/apps/d1/tasks")).json()["tasks"]
    assert task["servicePorts"] == [mapping["servicePort"]] and len(task["ports"]) == 1
    await api.put("/v2/apps/d1", json={"labels": {"tier": "web"}, "container": BRIDGED["container"]})
    kept = (await api.get("/v2/apps/d1")).json()["app"]["container"]["portMappings"][0]["servicePort"]
    assert kept == mapping["servicePort"]
    fixed = {**BRIDGED, "id": "/d3", "container": {**BRIDGED["container"],
                                                   "portMappings": [{"containerPort": 80, "servicePort": 10555}]}}
    shown = (await api.post("/v2/apps", json=fixed)).json()["container"]["portMappings"][0]
    assert (shown["servicePort"], shown["hostPort"], shown["protocol"]) == (10555, 0, "tcp")


async def test_out_of_range_port_and_unreachable_strategy_are_422_in_marathons_shape(api: httpx.AsyncClient) -> None:
    port = await api.post("/v2/apps", json={**APP, "portDefinitions": [{"port": 70000}]})
    assert (port.status_code, port.json()) == (
        422, {"message": "Invalid JSON", "details": [{"path": "/portDefinitions(0)/port", "errors": ["error.max"]}]})
    strategy = {"inactiveAfterSeconds": 600, "expungeAfterSeconds": 300}
    unreachable = await api.post("/v2/apps", json={**APP, "unreachableStrategy": strategy})
    assert (unreachable.status_code, unreachable.json()) == (422, {"message": "Object is not valid", "details": [
        {"path": "/unreachableStrategy/inactiveAfterSeconds",
         "errors": ["inactiveAfterSeconds (600) must be less or equal to expungeAfterSeconds, which is 300"]}]})
    assert (await api.post("/v2/apps", json=APP)).status_code == 201
    patched = await api.patch("/v2/apps/shop/web", json={"unreachableStrategy": {"inactiveAfterSeconds": 1}})
    assert patched.status_code == 422, patched.text
    assert (await api.get("/v2/apps/shop/web")).json()["app"]["unreachableStrategy"]["inactiveAfterSeconds"] == 0


async def test_api_post_event_definition_carries_version_and_version_info(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    """The recorded async-worker api_post_event has appDefinition.version and .versionInfo of the new version."""
    created = (await api.post("/v2/apps", json=APP)).json()["version"]
    scaled = (await api.put("/v2/apps/shop/web", params={"force": "true"}, json={"instances": 1})).json()["version"]
    posts = [e["appDefinition"] for e in marathon_sandbox.state.bus.history if e["eventType"] == "api_post_event"]
    assert [(p["version"], p["versionInfo"]) for p in posts] == [
        (created, {"lastScalingAt": created, "lastConfigChangeAt": created}),
        (scaled, {"lastScalingAt": scaled, "lastConfigChangeAt": created}),
    ]


async def test_a_partial_update_in_pre_15_networking_moves_the_app_off_host_networking(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    """AppNormalization.forDeprecatedUpdates: an update's `docker.network` names the networks and its
    `docker.portMappings` become `container.portMappings`; off host networking requirePorts is false
    and portDefinitions go. A host-networked app keeps requirePorts."""
    created = await api.post("/v2/apps", json={**APP, "requirePorts": True, "portDefinitions": [{"port": 10321}]})
    assert created.json()["requirePorts"] is True
    legacy = {"type": "DOCKER", "docker": {"image": "nginx", "network": "BRIDGE",
                                          "portMappings": [{"containerPort": 80, "servicePort": 10321}]}}
    updated = await api.put("/v2/apps/shop/web", params={"force": "true"}, json={"container": legacy})
    assert updated.status_code == 200, updated.text
    shown = (await api.get("/v2/apps/shop/web")).json()["app"]
    assert (shown["networks"], shown["requirePorts"]) == ([{"mode": "container/bridge"}], False)
    assert shown["container"]["docker"] == {"image": "nginx"} and "portDefinitions" not in shown
    assert shown["container"]["portMappings"] == [
        {"containerPort": 80, "servicePort": 10321, "hostPort": 0, "protocol": "tcp"}]
    await marathon_sandbox.wait_idle()


async def test_a_null_container_keeps_it_in_a_partial_update_and_drops_it_in_a_replacement(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    """Every AppUpdate field merges as `update.x.orElse(app.x)` (AppConversion.appUpdateRamlReader, line 220
    for `container` in mesosphere/marathon v1.10.26), so null keeps the field; partialUpdate=false reads the
    body as a complete app (AppsResource.canonicalAppUpdatesFromJson), where null is absent."""
    docker = {"id": "/shop/api", "cpus": 0.1, "mem": 16, "container": {"type": "DOCKER", "docker": {"image": "api:1"}}}
    assert (await api.post("/v2/apps", json=docker)).status_code == 201
    await marathon_sandbox.wait_idle()
    command = {"id": "/shop/api", "cmd": "serve", "cpus": 0.1, "mem": 16, "container": None}
    assert (await api.put("/v2/apps", json=[command])).status_code == 200
    await marathon_sandbox.wait_idle()
    kept = (await api.get("/v2/apps/shop/api")).json()["app"]
    assert kept["container"]["docker"]["image"] == "api:1" and kept["cmd"] == "serve"
    replaced = await api.put("/v2/apps", params={"partialUpdate": "false"}, json=[command])
    assert replaced.status_code == 200, replaced.text
    await marathon_sandbox.wait_idle()
    app = (await api.get("/v2/apps/shop/api")).json()["app"]
    assert app.get("container") is None and app["cmd"] == "serve"
