"""Endpoint coverage against the calls a well-known Go Marathon client makes (go-marathon's methods.yml).

Every (method, uri) that file lists is either served through MockTransport to the MarathonClient
method that calls it, with its body parsed and specific values checked, or named here with the
reason the reconciler does not need it. A new entry in the file fails the suite until it is decided.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from ruamel.yaml import YAML

from reconciler.errors import RemoteError
from reconciler.marathon import MarathonClient, wire

pytestmark = pytest.mark.reference

Call = Callable[[MarathonClient], Awaitable[Any]]
Check = Callable[[Any], bool]

NOT_NEEDED = {
    ("GET", "/v2/apps/fake-app/versions"): "revisions live in the reconciler's store",
    ("GET", "/v2/apps/fake-app/versions/2014-09-12T23:28:21.737Z"): "revisions live in the reconciler's store",
    ("GET", "/v2/apps?cmd=nginx"): "apps are selected by label, not by command",
    ("DELETE", "/v2/apps/fake-app/tasks"): "healing kills single tasks, never all tasks of a host",
    ("PUT", "/v2/groups/:groupId"): "a group PUT removes apps it does not list; environments use bulk PUT /v2/apps",
    ("DELETE", "/v2/groups/:groupId"): "prune deletes managed apps one by one, never a whole group",
    ("DELETE", "/v2/leader"): "the reconciler never changes Marathon's leadership",
    ("DELETE", "/v2/queue/fake-app/delay"): "launch backoff is left to Marathon",
    ("POST", "/v2/eventSubscriptions?callbackUrl=http://localhost:9292/callback"): "events come from the SSE stream",
    ("POST", "/v2/eventSubscriptions"): "events come from the SSE stream",
    ("GET", "/v2/eventSubscriptions"): "events come from the SSE stream",
    ("DELETE", "/v2/eventSubscriptions?callbackUrl=http://localhost:9292/callback"): "events come from the SSE stream",
}
# Bodies the mock trimmed below what any Marathon sends: the client must refuse them, naming the field.
TRIMMED = {("GET", "/v2/apps?embed=apps.taskStats"): "apps/0/id: Field required"}
NOT_NEEDED_PREFIXES = {"/v2/pods": "the reconciler manages apps, not pods"}


def app_ids(apps: list[wire.App]) -> list[str]:
    return [app.id for app in apps]


def healthy_flags(app: wire.App) -> list[list[bool]]:
    return [[r.alive for r in task.health_check_results] for task in app.tasks or []]


DEPLOYMENT = wire.DeploymentResult
COVERED: dict[tuple[str, str], tuple[Call, Check]] = {
    ("GET", "/ping"): (lambda c: c.ping(), lambda up: up is True),
    ("POST", "/v2/apps"): (
        lambda c: c.post_apps({"id": "/fake-app", "instances": 2}),
        lambda app: (app.id, app.instances, app.definition()["cpus"]) == ("/fake-app", 2, 0.25),
    ),
    ("GET", "/v2/apps"): (lambda c: c.get_apps(), lambda apps: app_ids(apps) == ["/fake-app", "/fake-app-broken"]),
    ("GET", "/marathon/v2/apps"): (
        lambda c: c.get_apps(),
        lambda apps: app_ids(apps) == ["/fake-app", "/fake-app-broken"],
    ),
    ("GET", "/v2/apps?embed=apps.taskStats"): (lambda c: c.get_apps(embed=("apps.taskStats",)), lambda r: False),
    ("GET", "/v2/apps?embed=apps.readiness"): (
        lambda c: c.get_apps(embed=("apps.readiness",)),
        lambda apps: app_ids(apps) == ["/fake-app"] and apps[0].readiness_check_results is not None,
    ),
    ("POST", "/v2/apps/fake-app/restart"): (
        lambda c: c.post_app_restart("/fake-app"),
        lambda r: r.deployment_id == "83b215a6-4e26-4e44-9333-5c385eda6438",
    ),
    ("DELETE", "/v2/apps/fake-app"): (
        lambda c: c.delete_app("/fake-app"),
        lambda r: r.version == "2014-08-26T07:37:50.462Z",
    ),
    ("DELETE", "/v2/apps/fake-app?force=true"): (
        lambda c: c.delete_app("/fake-app", force=True),
        lambda r: r.deployment_id == "83b215a6-4e26-4e44-9333-5c385eda6438",
    ),
    ("GET", "/v2/apps/fake-app/tasks"): (
        lambda c: c.get_app_tasks("/fake-app"),
        lambda ts: [t.id for t in ts] == ["1", "2"],
    ),
    ("DELETE", "/v2/apps/fake-app/tasks/fake-app.fake-task"): (
        lambda c: c.delete_app_task("/fake-app", "fake-app.fake-task"),
        lambda t: isinstance(t, wire.Task) and t.id == "fake-app.fake-task",
    ),
    ("DELETE", "/v2/apps/fake-group/fake-app/tasks/fake-group_fake-app.fake-task"): (
        lambda c: c.delete_app_task("/fake-group/fake-app", "fake-group_fake-app.fake-task"),
        lambda t: isinstance(t, wire.Task) and t.id == "fake-group_fake-app.fake-task",
    ),
    ("GET", "/v2/apps/fake-app"): (lambda c: c.get_app("/fake-app"), lambda app: app.id == "/fake-app"),
    ("GET", "/v2/apps/fake-app-broken"): (
        lambda c: c.get_app("/fake-app-broken"),
        lambda app: healthy_flags(app) == [[True], [False]],
    ),
    ("GET", "/v2/apps/no-health-check-results-app"): (
        lambda c: c.get_app("/no-health-check-results-app"),
        lambda app: healthy_flags(app) == [[True], []],
    ),
    ("PUT", "/v2/apps/fake-app"): (
        lambda c: c.put_app("/fake-app", {"instances": 3}),
        lambda r: isinstance(r, DEPLOYMENT) and r.deployment_id == "83b215a6-4e26-4e44-9333-5c385eda6438",
    ),
    ("PUT", "/v2/apps/fake-app?force=true"): (
        lambda c: c.put_app("/fake-app", {"instances": 3}, force=True),
        lambda r: r.version == "2014-08-26T07:37:50.462Z",
    ),
    ("GET", "/v2/groups"): (lambda c: c.get_group(), lambda g: g.id == "/" and app_ids(g.all_apps()) == ["/test/app"]),
    ("GET", "/v2/groups/test"): (lambda c: c.get_group("/test"), lambda g: app_ids(g.all_apps()) == ["/test/app"]),
    ("GET", "/v2/groups/qa/product/1"): (
        lambda c: c.get_group("/qa/product/1"),
        lambda g: g.id == "/qa/product/1" and [s.id for s in g.groups] == ["frontend"],
    ),
    ("GET", "/v2/tasks"): (
        lambda c: c.get_tasks(),
        lambda ts: [t.app_id for t in ts] == ["/bridged-webapp", "/bridged-webapp"] and ts[0].ports == [31000],
    ),
    ("GET", "/v2/tasks?status=staging"): (lambda c: c.get_tasks(status="staging"), lambda ts: ts == []),
    ("POST", "/v2/tasks/delete"): (lambda c: c.post_tasks_delete(["a.1"]), lambda r: r is None),
    ("GET", "/v2/deployments"): (
        lambda c: c.get_deployments(),
        lambda ds: (
            [(d.affected_apps, [[a.action for a in s.actions] for s in d.steps]) for d in ds]
            in (
                [(["/test"], [["ScaleApplication"]])],
                [(["/test-app-v1"], [["StartApplication"], ["ScaleApplication"]])],
            )
        ),
    ),
    ("DELETE", "/v2/deployments/867ed450-f6a8-4d33-9b0e-e11c5513990b"): (
        lambda c: c.delete_deployment("867ed450-f6a8-4d33-9b0e-e11c5513990b"),
        lambda r: r is not None and r.deployment_id == "0b1467fc-d5cd-4bbc-bac2-2805351cee1e",
    ),
    ("DELETE", "/v2/deployments/867ed450-f6a8-4d33-9b0e-e11c5513990b?force=true"): (
        lambda c: c.delete_deployment("867ed450-f6a8-4d33-9b0e-e11c5513990b", force=True),
        lambda r: r is None,
    ),
    ("GET", "/v2/queue"): (
        lambda c: c.get_queue(),
        lambda q: [(i.app.id if i.app else None, i.count) for i in q] == [("/test", 10)],
    ),
    ("GET", "/v2/leader"): (lambda c: c.get_leader(), lambda leader: leader == "127.0.0.1:8080"),
    ("GET", "/v2/info"): (
        lambda c: c.get_info(),
        lambda info: (
            (info.version, info.leader, info.marathon_config["mesos_user"])
            == ("0.7.0-SNAPSHOT", "127.0.0.1:8080", "root")
        ),
    ),
}


def load_entries(reference_dir: Path) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = YAML(typ="safe").load(
        (reference_dir / "marathon" / "recorded" / "go-marathon__methods.yml").read_text()
    )
    return entries


def test_every_endpoint_is_covered_or_set_aside(reference_dir: Path) -> None:
    undecided = []
    for entry in load_entries(reference_dir):
        key = (entry["method"], entry["uri"])
        set_aside = key in NOT_NEEDED or any(entry["uri"].startswith(p) for p in NOT_NEEDED_PREFIXES)
        if key not in COVERED and not set_aside:
            undecided.append(key)
    assert undecided == []
    assert len(COVERED) >= 25


def served(entry: dict[str, Any], requests: list[httpx.Request]) -> MarathonClient:
    content = entry["content"].strip()
    status = 201 if (entry["method"], entry["uri"]) == ("POST", "/v2/apps") else 200

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(status, content=content.encode(), headers={"Content-Type": "application/json"})

    base = "http://127.0.0.1:8080/marathon" if entry["uri"].startswith("/marathon/") else "http://127.0.0.1:8080"
    return MarathonClient(base, transport=httpx.MockTransport(answer), retries=0)


async def test_bodies_parse_through_the_client(reference_dir: Path) -> None:
    checked = 0
    for entry in load_entries(reference_dir):
        key = (entry["method"], entry["uri"])
        if key not in COVERED or not entry.get("content"):
            continue
        call, check = COVERED[key]
        requests: list[httpx.Request] = []
        async with served(entry, requests) as client:
            if key in TRIMMED:
                with pytest.raises(RemoteError, match=TRIMMED[key]):
                    await call(client)
            else:
                result = await call(client)
                assert check(result), (key, entry.get("scope"), result)
        expected = httpx.URL("http://127.0.0.1:8080" + entry["uri"])
        (request,) = requests
        assert (request.method, request.url.path) == (entry["method"], expected.path), key
        for name, value in expected.params.multi_items():
            assert value in request.url.params.get_list(name), (key, name)
        checked += 1
    assert checked >= 30
