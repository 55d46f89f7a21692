"""Deployments in the Marathon sandbox: plan shapes, step events, locking, cancel and rollback."""

from __future__ import annotations

import httpx

from reconciler.sandbox.marathon import MarathonSandbox
from tests.sandbox.marathon.fixtures import event_types, events_of, until


def small(app_id: str, **fields: object) -> dict[str, object]:
    return {"id": app_id, "cmd": "run", "cpus": 0.1, "mem": 16, "instances": 1, **fields}


async def test_create_is_start_then_scale_with_step_events(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    marathon_sandbox.freeze_deployments()
    response = await api.post("/v2/apps", json=small("/one"))
    [deployment] = (await api.get("/v2/deployments")).json()
    assert deployment["id"] == response.headers["Marathon-Deployment-Id"]
    assert deployment["steps"] == [
        {"actions": [{"action": "StartApplication", "app": "/one"}]},
        {"actions": [{"action": "ScaleApplication", "app": "/one"}]},
    ]
    assert deployment["totalSteps"] == 2 and deployment["currentStep"] == 0 and deployment["affectedApps"] == ["/one"]
    marathon_sandbox.freeze_deployments(False)
    await marathon_sandbox.wait_idle()
    assert (await api.get("/v2/deployments")).json() == []
    kinds = [t for t in event_types(marathon_sandbox) if t.startswith("deployment_")]
    assert kinds == [
        "deployment_info",
        "deployment_step_success",
        "deployment_info",
        "deployment_step_success",
        "deployment_success",
    ]
    info = events_of(marathon_sandbox, "deployment_info")[1]
    assert info["plan"]["id"] == deployment["id"] and info["plan"]["steps"] == deployment["steps"]
    assert info["currentStep"] == {"actions": [{"action": "ScaleApplication", "app": "/one"}]}
    assert events_of(marathon_sandbox, "deployment_success")[0]["id"] == deployment["id"]


async def test_plan_stops_removed_apps_and_orders_by_dependencies(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    await api.put("/v2/apps", json=[small("/env/old")])
    await marathon_sandbox.wait_idle()
    marathon_sandbox.freeze_deployments()
    body = {
        "id": "/env",
        "apps": [
            small("db"),
            small("api", dependencies=["db"]),
            small("web", dependencies=["/env/api"]),
        ],
    }
    dry = await api.put("/v2/groups/env", params={"dryRun": "true"}, json=body)
    expected = [
        {"actions": [{"action": "StopApplication", "app": "/env/old"}]},
        {
            "actions": [
                {"action": a, "app": f"/env/{n}"}
                for a, n in [("StartApplication", "api"), ("StartApplication", "db"), ("StartApplication", "web")]
            ]
        },
        {"actions": [{"action": "ScaleApplication", "app": "/env/db"}]},
        {"actions": [{"action": "ScaleApplication", "app": "/env/api"}]},
        {"actions": [{"action": "ScaleApplication", "app": "/env/web"}]},
    ]
    assert dry.status_code == 200 and dry.json() == {"steps": expected}
    assert (await api.get("/v2/deployments")).json() == [] and "/env/old" in marathon_sandbox.state.apps
    put = await api.put("/v2/groups/env", json=body)
    assert put.status_code == 200
    assert (await api.get("/v2/deployments")).json()[0]["steps"] == expected
    marathon_sandbox.freeze_deployments(False)
    await marathon_sandbox.wait_idle()
    assert sorted(marathon_sandbox.state.apps) == ["/env/api", "/env/db", "/env/web"]


async def test_running_deployment_locks_its_apps_until_forced(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    marathon_sandbox.freeze_deployments()
    first = (await api.post("/v2/apps", json=small("/locked"))).headers["Marathon-Deployment-Id"]
    refused = await api.put("/v2/apps/locked", json={"instances": 2})
    assert refused.status_code == 409
    assert refused.json() == {
        "message": "App is locked by one or more deployments. Override with the option '?force=true'. "
        "View details at '/v2/deployments/<DEPLOYMENT_ID>'.",
        "deployments": [{"id": first}],
    }
    other = await api.post("/v2/apps", json=small("/free"))
    assert other.status_code == 201  # disjoint apps never conflict
    forced = await api.put("/v2/apps/locked", params={"force": "true"}, json={"instances": 2})
    assert forced.status_code == 200
    running = {d["id"] for d in (await api.get("/v2/deployments")).json()}
    assert first not in running and forced.json()["deploymentId"] in running
    assert events_of(marathon_sandbox, "deployment_failed")[0]["id"] == first
    marathon_sandbox.freeze_deployments(False)
    await marathon_sandbox.wait_idle()
    assert len(marathon_sandbox.state.runs["/locked"].tasks) == 2


async def test_delete_deployment_rolls_back_or_only_stops_when_forced(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    await api.post("/v2/apps", json=small("/app", instances=1))
    await marathon_sandbox.wait_idle()
    marathon_sandbox.freeze_deployments()
    scale = (await api.put("/v2/apps/app", json={"instances": 3})).json()
    rollback = await api.delete(f"/v2/deployments/{scale['deploymentId']}")
    assert rollback.status_code == 200 and rollback.json()["deploymentId"] != scale["deploymentId"]
    assert (await api.get("/v2/apps/app")).json()["app"]["instances"] == 1
    forced = await api.delete(f"/v2/deployments/{rollback.json()['deploymentId']}", params={"force": "true"})
    assert forced.status_code == 202 and forced.content == b""
    assert (await api.get("/v2/deployments")).json() == []
    unknown = await api.delete("/v2/deployments/nope")
    assert unknown.status_code == 404 and unknown.json() == {"message": "DeploymentPlan nope does not exist"}
    marathon_sandbox.freeze_deployments(False)
    await marathon_sandbox.wait_idle()


async def test_deployment_takes_time_then_disappears(api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox) -> None:
    await api.post("/v2/apps", json=small("/slow", instances=3))
    seen = await until(lambda: marathon_sandbox.state.deployments, "a running deployment")
    assert seen
    await until(lambda: not marathon_sandbox.state.deployments, "deployment finished")
    app = (await api.get("/v2/apps/slow")).json()["app"]
    assert app["tasksRunning"] == 3 and app["deployments"] == []
