"""`/v2/groups` in the Marathon sandbox: exact app sets, create conflicts, scaleBy, rollback, delete."""

from __future__ import annotations

from typing import Any

import httpx

from reconciler.sandbox.marathon import MarathonSandbox


def app(app_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": app_id, "cmd": "run", "cpus": 0.1, "mem": 16, "instances": 1, **fields}


async def test_group_body_apps_become_the_exact_set(api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox) -> None:
    created = await api.post("/v2/groups", json={"id": "/env", "apps": [app("a"), app("b")]})
    assert created.status_code == 201 and created.headers["Location"].endswith("/v2/groups/env")
    assert set(created.json()) == {"deploymentId", "version"}
    again = await api.post("/v2/groups", json={"id": "/env"})
    assert again.status_code == 409
    assert again.json() == {"message": "Group /env is already created. Use PUT to change this group."}
    await marathon_sandbox.wait_idle()
    await api.put("/v2/groups/env", json={"id": "/env", "apps": [app("b", instances=2), app("c")]})
    await marathon_sandbox.wait_idle()
    group = (await api.get("/v2/groups/env")).json()
    assert group["id"] == "/env" and sorted(a["id"] for a in group["apps"]) == ["/env/b", "/env/c"]
    assert {"groups", "pods", "dependencies", "version"} <= set(group)
    assert len(marathon_sandbox.state.runs["/env/b"].tasks) == 2 and "/env/a" not in marathon_sandbox.state.runs
    missing = await api.get("/v2/groups/nope")
    assert (missing.status_code, missing.json()) == (404, {"message": "Group '/nope' does not exist"})


async def test_scale_by_and_rollback_to_a_version(api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox) -> None:
    first = (await api.put("/v2/groups/env", json={"id": "/env", "apps": [app("a", instances=2)]})).json()
    await marathon_sandbox.wait_idle()
    await api.put("/v2/groups/env", json={"scaleBy": 1.5})
    await marathon_sandbox.wait_idle()
    assert (await api.get("/v2/apps/env/a")).json()["app"]["instances"] == 3
    assert first["version"] in (await api.get("/v2/groups/env/versions")).json()
    rollback = await api.put("/v2/groups/env", json={"version": first["version"]})
    assert rollback.status_code == 200
    await marathon_sandbox.wait_idle()
    assert (await api.get("/v2/apps/env/a")).json()["app"]["instances"] == 2
    assert len(marathon_sandbox.state.runs["/env/a"].tasks) == 2
    unknown = await api.put("/v2/groups/env", json={"version": "2000-01-01T00:00:00.000Z"})
    assert unknown.status_code == 404


async def test_delete_group_removes_its_subtree(api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox) -> None:
    await api.put("/v2/apps", json=[app("/env/x/a"), app("/env/b"), app("/other")])
    await marathon_sandbox.wait_idle()
    deleted = await api.delete("/v2/groups/env")
    assert deleted.status_code == 200 and set(deleted.json()) == {"deploymentId", "version"}
    await marathon_sandbox.wait_idle()
    assert list(marathon_sandbox.state.apps) == ["/other"]
    assert [t.app_id for t in marathon_sandbox.state.all_tasks()] == ["/other"]
    assert (await api.get("/v2/groups/env")).status_code == 404
    app_terminated = [
        e["appId"] for e in marathon_sandbox.state.bus.history if e["eventType"] == "app_terminated_event"
    ]
    assert sorted(app_terminated) == ["/env/b", "/env/x/a"]


async def test_group_versions_list_only_versions_holding_the_group_and_404_for_unknown(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    """GroupManagerImpl.versions keeps the root versions where the group is defined; unknown group -> 404."""
    before = (await api.put("/v2/apps/other", json=app("/other"))).json()["version"]
    created = (await api.put("/v2/groups/env", json={"apps": [app("a")]})).json()["version"]
    scaled = (await api.put("/v2/groups/env", params={"force": "true"}, json={"scaleBy": 2})).json()["version"]
    assert (await api.get("/v2/groups/env/versions")).json() == [scaled, created]
    assert (await api.get("/v2/groups/versions")).json() == [scaled, created, before]
    unknown = await api.get("/v2/groups/x/versions")
    assert (unknown.status_code, unknown.json()) == (404, {"message": "Group '/x' does not exist"})
    empty = (await api.post("/v2/groups", json={"id": "/empty"})).json()["version"]
    assert (await api.get("/v2/groups/empty/versions")).json() == [empty]
    await marathon_sandbox.wait_idle()


def footprint(sandbox: MarathonSandbox) -> tuple[object, ...]:
    """What a write may change: explicit groups, apps, the root version and its history."""
    state = sandbox.state
    return dict(state.groups), dict(state.apps), state.root_version, list(state.root_history)


async def test_refused_group_writes_change_nothing(api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox) -> None:
    """GroupManager.updateRoot stores the new root only once the plan is accepted: a 409 (existing group, app
    path, lock) or 422 leaves no group behind, nor does a dryRun."""
    await api.post("/v2/groups", json={"id": "/k", "apps": [app("a")], "groups": [{"id": "s"}]})
    await api.put("/v2/apps/h/a", json=app("/h/a"))
    await marathon_sandbox.wait_idle()
    marathon_sandbox.freeze_deployments()
    await api.delete("/v2/apps/h/a")  # its StopApplication keeps running: /h/a stays locked
    await api.put("/v2/apps/k/a", json=app("/k/a", cmd="changed"))  # a restart of /k/a keeps running
    before = footprint(marathon_sandbox)
    refusals = [
        (await api.post("/v2/groups", json={"id": "/k", "groups": [{"id": "t"}]}), 409),
        (await api.post("/v2/groups", json={"id": "/k/a", "groups": [{"id": "t"}]}), 409),
        (await api.post("/v2/groups", json={"id": "/h", "apps": [app("a")], "groups": [{"id": "t"}]}), 409),
        (await api.put("/v2/groups/k", json={"groups": [{"id": "s"}, {"id": "/other/a"}]}), 422),
        (await api.put("/v2/groups/x", json={"groups": [{"id": "a"}], "apps": [app("/x/a")]}), 422),
        (await api.delete("/v2/groups/k"), 409),
        (await api.put("/v2/groups/k", params={"dryRun": "true"}, json={"groups": [{"id": "s"}, {"id": "t"}]}), 200),
    ]
    assert [(r.status_code, expected) for r, expected in refusals] == [(e, e) for _, e in refusals]
    assert refusals[1][0].json() == {"message": "An app with the path /k/a already exists."}
    assert footprint(marathon_sandbox) == before
    assert sorted(marathon_sandbox.state.groups) == ["/k", "/k/s"]


async def test_group_at_a_version_shows_the_kept_root(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    """GroupsResource GetVersionRE: the group as the root kept at that version held it, apps without runtime
    fields; unknownGroup (404) when that root is not kept or did not hold the group; a bad timestamp is 422."""
    before = (await api.put("/v2/apps/other", json=app("/other"))).json()["version"]
    body = {"apps": [app("a")], "groups": [{"id": "sub", "apps": [app("b")]}], "dependencies": ["/other"]}
    first = (await api.put("/v2/groups/env", json=body)).json()["version"]
    await marathon_sandbox.wait_idle()
    await api.put("/v2/groups/env", json={**body, "apps": [app("a", instances=2)]})
    await marathon_sandbox.wait_idle()
    shown = await api.get(f"/v2/groups/env/versions/{first}")
    assert shown.status_code == 200, shown.text
    group = shown.json()
    assert (group["id"], group["version"], group["dependencies"], group["pods"]) == ("/env", first, ["/other"], [])
    [a] = group["apps"]
    assert (a["id"], a["instances"], a["version"], a["versionInfo"]["lastScalingAt"]) == ("/env/a", 1, first, first)
    assert not {"tasksRunning", "tasks", "deployments"} & set(a)
    [sub] = group["groups"]
    assert (sub["id"], [b["id"] for b in sub["apps"]], sub["version"]) == ("/env/sub", ["/env/sub/b"], first)
    assert (await api.get("/v2/groups/env")).json()["apps"][0]["instances"] == 2
    root = (await api.get(f"/v2/groups/versions/{first}")).json()
    assert [a["id"] for a in root["apps"]] == ["/other"] and [g["id"] for g in root["groups"]] == ["/env"]
    offset = first.replace("Z", "+00:00")
    assert (await api.get(f"/v2/groups/env/sub/versions/{offset}")).json() == sub
    await api.delete("/v2/groups/env")
    assert (await api.get(f"/v2/groups/env/versions/{first}")).json() == group
    for missing in (f"/v2/groups/env/versions/{before}", "/v2/groups/env/versions/2000-01-01T00:00:00.000Z"):
        gone = await api.get(missing)
        assert (gone.status_code, gone.json()) == (404, {"message": "Group '/env' does not exist"})
    bad = await api.get("/v2/groups/env/versions/yesterday")
    assert (bad.status_code, bad.json()) == (
        422, {"message": "Invalid timestamp provided 'yesterday'. Expecting ISO-8601 datetime string."})
    await marathon_sandbox.wait_idle()


async def test_ports_of_apps_removed_in_a_change_are_not_handed_out_in_it(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    """assignDynamicServicePorts counts the service ports of both roots, the original and the target: an
    app removed by a change keeps its ports out of that change; the next change may hand them out."""

    async def service_port(app_id: str) -> int:
        return int((await api.get(f"/v2/apps{app_id}")).json()["app"]["portDefinitions"][0]["port"])

    await api.put("/v2/groups/env", json={"apps": [app("a")]})
    first = await service_port("/env/a")
    await api.put("/v2/groups/env", params={"force": "true"}, json={"apps": [app("b")]})
    assert "/env/a" not in marathon_sandbox.state.apps and await service_port("/env/b") != first
    await api.put("/v2/groups/env", params={"force": "true"}, json={"apps": [app("b"), app("c")]})
    assert await service_port("/env/c") == first
    await marathon_sandbox.wait_idle()
