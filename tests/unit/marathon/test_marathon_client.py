"""MarathonClient against httpx.MockTransport: request shapes, auth, retries, timeouts per call class."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from reconciler.errors import RemoteUnavailable, UsageError
from reconciler.marathon import MarathonAuth, MarathonClient, NotFound, Timeouts, wire

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that records requests and answers from a route table or a function."""

    def __init__(self, answer: Handler) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)


def client_for(answer: Handler, **options: Any) -> tuple[MarathonClient, Recorder]:
    recorder = Recorder(answer)
    options.setdefault("backoff_seconds", 0.0)
    client = MarathonClient(
        options.pop("base_url", "http://marathon.test:8080"), transport=httpx.MockTransport(recorder), **options
    )
    return client, recorder


def app_body(app_id: str, instances: int = 1, **extra: Any) -> dict[str, Any]:
    body = {"id": app_id, "instances": instances, "cmd": "sleep 1000", "cpus": 0.1, "mem": 32}
    return body | extra


DEPLOYMENT_RESULT = {"deploymentId": "5ed4c0c5-0000-4a6f-a0cd-f57f59a34b43", "version": "2024-05-01T10:00:00.000Z"}


def answer_json(body: Any, status: int = 200) -> Handler:
    return lambda request: httpx.Response(status, json=body)


async def test_get_apps_repeats_embed_and_passes_filters() -> None:
    client, recorder = client_for(answer_json({"apps": [app_body("/integration/redis", 2)]}))
    async with client:
        apps = await client.get_apps(app_id="redis", label="reconciler.managed-by==marathon-reconciler")
    request = recorder.requests[0]
    assert request.method == "GET" and request.url.path == "/v2/apps"
    assert request.url.params.get_list("embed") == ["apps.tasks", "apps.counts", "apps.deployments"]
    assert request.url.params["id"] == "redis"
    assert request.url.params["label"] == "reconciler.managed-by==marathon-reconciler"
    assert [(a.id, a.instances) for a in apps] == [("/integration/redis", 2)]


async def test_observe_is_two_requests_whatever_the_number_of_apps() -> None:
    apps = [app_body(f"/integration/app-{i}", i % 3) for i in range(250)]
    routes = {"/v2/apps": {"apps": apps}, "/v2/deployments": []}
    counted: list[tuple[str, str]] = []
    client, _ = client_for(
        lambda request: httpx.Response(200, json=routes[request.url.path]),
        on_request=lambda method, path: counted.append((method, path)),
    )
    async with client:
        actual = await client.observe()
    assert sorted(counted) == [("GET", "/v2/apps"), ("GET", "/v2/deployments")]
    assert len(actual.apps) == 250
    assert actual.apps["/integration/app-7"].instances == 1
    assert actual.complete


async def test_get_app_unwraps_the_app() -> None:
    client, recorder = client_for(answer_json({"app": app_body("/integration/redis", 3)}))
    async with client:
        app = await client.get_app("integration/redis")
    assert recorder.requests[0].url.path == "/v2/apps/integration/redis"
    assert app.instances == 3


async def test_put_app_sends_force_and_partial_update() -> None:
    client, recorder = client_for(answer_json(DEPLOYMENT_RESULT))
    async with client:
        result = await client.put_app("/integration/redis", {"instances": 4}, force=True, partial_update=False)
    request = recorder.requests[0]
    assert (request.method, request.url.path) == ("PUT", "/v2/apps/integration/redis")
    assert request.url.params["force"] == "true" and request.url.params["partialUpdate"] == "false"
    assert json.loads(request.content) == {"instances": 4}
    assert result.deployment_id == DEPLOYMENT_RESULT["deploymentId"]


async def test_put_apps_sends_one_bulk_request() -> None:
    client, recorder = client_for(answer_json(DEPLOYMENT_RESULT))
    bodies = [app_body("/integration/redis"), app_body("/integration/mysql", 2)]
    async with client:
        result = await client.put_apps(bodies)
    assert len(recorder.requests) == 1
    request = recorder.requests[0]
    assert (request.method, request.url.path) == ("PUT", "/v2/apps")
    assert request.url.params["partialUpdate"] == "true" and request.url.params["force"] == "false"
    assert [b["id"] for b in json.loads(request.content)] == ["/integration/redis", "/integration/mysql"]
    assert result.version == DEPLOYMENT_RESULT["version"]


async def test_put_apps_refuses_a_body_without_id_before_sending() -> None:
    client, recorder = client_for(answer_json(DEPLOYMENT_RESULT))
    async with client:
        with pytest.raises(UsageError, match="positions \\[1\\]"):
            await client.put_apps([app_body("/a"), {"instances": 2}])
    assert recorder.requests == []


async def test_post_apps_returns_the_created_app() -> None:
    created = app_body("/integration/web", 2, deployments=[{"id": "d-1"}], tasksStaged=0, tasksRunning=0)
    client, recorder = client_for(answer_json(created, status=201))
    async with client:
        app = await client.post_apps(app_body("/integration/web", 2))
    assert (recorder.requests[0].method, recorder.requests[0].url.path) == ("POST", "/v2/apps")
    assert app.id == "/integration/web" and [d.id for d in app.deployments] == ["d-1"]


async def test_delete_app_forces_by_default_and_restart_does_not() -> None:
    client, recorder = client_for(answer_json(DEPLOYMENT_RESULT))
    async with client:
        await client.delete_app("/integration/redis")
        await client.post_app_restart("/integration/redis")
    delete, restart = recorder.requests
    assert (delete.method, delete.url.path, delete.url.params["force"]) == (
        "DELETE",
        "/v2/apps/integration/redis",
        "true",
    )
    assert (restart.method, restart.url.path) == ("POST", "/v2/apps/integration/redis/restart")
    assert restart.url.params["force"] == "false"


TASK = {
    "id": "integration_redis.instance-6f1b2c3d-0000-11ef-9a3b-0242ac110002._app.1",
    "appId": "/integration/redis",
    "host": "127.0.0.3",
    "ports": [31001],
    "state": "TASK_KILLING",
}


async def test_delete_app_task_without_scale_answers_the_task() -> None:
    client, recorder = client_for(answer_json({"task": TASK}))
    async with client:
        killed = await client.delete_app_task("/integration/redis", TASK["id"])
    request = recorder.requests[0]
    assert request.url.path == f"/v2/apps/integration/redis/tasks/{TASK['id']}"
    assert request.url.params["scale"] == "false" and request.url.params["wipe"] == "false"
    assert isinstance(killed, wire.Task) and killed.state == "TASK_KILLING"


async def test_delete_app_task_reads_the_old_list_wrapper() -> None:
    old = {"task": [{"id": "redis.564bd685-4c30-11e5-98c1-be5b2935a987", "appId": "/redis", "host": "h", "ports": []}]}
    client, _ = client_for(answer_json(old))
    async with client:
        killed = await client.delete_app_task("/redis", "redis.564bd685-4c30-11e5-98c1-be5b2935a987")
    assert isinstance(killed, wire.Task) and killed.app_id == "/redis"


async def test_delete_app_task_with_scale_answers_a_deployment() -> None:
    client, recorder = client_for(answer_json(DEPLOYMENT_RESULT))
    async with client:
        result = await client.delete_app_task("/integration/redis", TASK["id"], scale=True)
    assert recorder.requests[0].url.params["scale"] == "true"
    assert isinstance(result, wire.DeploymentResult)


async def test_post_tasks_delete_sends_ids_and_refuses_scale_with_wipe() -> None:
    client, recorder = client_for(lambda request: httpx.Response(200, json={"tasks": []}))
    async with client:
        await client.post_tasks_delete(["a.1", "b.2"], scale=True)
        with pytest.raises(UsageError, match="scale and wipe"):
            await client.post_tasks_delete(["a.1"], scale=True, wipe=True)
    assert len(recorder.requests) == 1
    request = recorder.requests[0]
    assert (request.method, request.url.path, request.url.params["scale"]) == ("POST", "/v2/tasks/delete", "true")
    assert json.loads(request.content) == {"ids": ["a.1", "b.2"]}


async def test_delete_deployment_force_answers_202_without_body() -> None:
    client, recorder = client_for(lambda request: httpx.Response(202))
    async with client:
        assert await client.delete_deployment("867ed450-f6a8", force=True) is None
    assert recorder.requests[0].url.path == "/v2/deployments/867ed450-f6a8"
    assert recorder.requests[0].url.params["force"] == "true"


async def test_delete_deployment_without_force_answers_the_revert() -> None:
    client, _ = client_for(answer_json(DEPLOYMENT_RESULT))
    async with client:
        revert = await client.delete_deployment("867ed450-f6a8")
    assert revert is not None and revert.deployment_id == DEPLOYMENT_RESULT["deploymentId"]


async def test_leader_info_queue_tasks_and_ping() -> None:
    routes: dict[str, httpx.Response] = {
        "/v2/leader": httpx.Response(200, json={"leader": "127.0.0.1:8080"}),
        "/v2/info": httpx.Response(200, json={"name": "marathon", "version": "1.10.26", "elected": True}),
        "/v2/queue": httpx.Response(200, json={"queue": [{"app": app_body("/a"), "count": 2}]}),
        "/v2/tasks": httpx.Response(200, json={"tasks": [TASK]}),
        "/ping": httpx.Response(200, text="pong\n"),
    }
    client, _ = client_for(lambda request: routes[request.url.path])
    async with client:
        assert await client.get_leader() == "127.0.0.1:8080"
        assert (await client.get_info()).version == "1.10.26"
        assert [(q.app.id if q.app else None, q.count) for q in await client.get_queue()] == [("/a", 2)]
        assert [t.host for t in await client.get_tasks()] == ["127.0.0.3"]
        assert await client.ping() is True


@pytest.mark.parametrize(("body", "content_type", "up"), [
    ('"pong"', "application/json", True),  # SystemResource.ping's answer to Accept: application/json
    ("pong", "text/plain", True),
    ("", "text/plain", False),
])
async def test_ping_takes_the_json_and_the_text_pong(body: str, content_type: str, up: bool) -> None:
    headers = {"Content-Type": content_type}
    client, recorder = client_for(lambda request: httpx.Response(200, text=body, headers=headers))
    async with client:
        assert await client.ping() is up
    assert recorder.requests[0].headers["Accept"] == "application/json"


async def test_ping_is_false_when_marathon_is_down() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client, recorder = client_for(refuse)
    async with client:
        assert await client.ping() is False
    assert len(recorder.requests) == 1


async def test_basic_auth_header() -> None:
    client, recorder = client_for(answer_json([]), auth=MarathonAuth(user="ops", password="pa:ss"))
    async with client:
        await client.get_deployments()
    assert recorder.requests[0].headers["Authorization"] == "Basic b3BzOnBhOnNz"  # base64("ops:pa:ss")


async def test_dcos_token_auth_header() -> None:
    client, recorder = client_for(answer_json([]), auth=MarathonAuth(token="eyJhbGciOi.jwt"))
    async with client:
        await client.get_deployments()
    assert recorder.requests[0].headers["Authorization"] == "token=eyJhbGciOi.jwt"


async def test_credentials_in_the_url_become_basic_auth_and_leave_the_url() -> None:
    client, recorder = client_for(answer_json([]), base_url="http://ops:s3cr%40t@marathon.test:8080/")
    async with client:
        await client.get_deployments()
    assert client.base_url == "http://marathon.test:8080"
    request = recorder.requests[0]
    assert request.url.userinfo == b""
    assert request.headers["Authorization"] == "Basic b3BzOnMzY3JAdA=="  # base64("ops:s3cr@t")


async def test_base_url_with_a_path_prefix() -> None:
    counted: list[tuple[str, str]] = []
    client, recorder = client_for(
        answer_json({"apps": []}),
        base_url="https://dcos.test/service/marathon",
        on_request=lambda method, path: counted.append((method, path)),
    )
    async with client:
        await client.get_apps()
    assert recorder.requests[0].url.path == "/service/marathon/v2/apps"
    assert counted == [("GET", "/v2/apps")]


def timeout_of(request: httpx.Request) -> dict[str, float | None]:
    return dict(request.extensions["timeout"])


async def test_timeouts_per_call_class() -> None:
    timeouts = Timeouts(read=7.0, write=42.0, events=None, connect=2.0)
    client, recorder = client_for(
        lambda request: httpx.Response(200, json=DEPLOYMENT_RESULT if request.method == "PUT" else []),
        timeouts=timeouts,
    )
    async with client:
        await client.get_deployments()
        await client.put_app("/a", {"instances": 1})
    read, write = (timeout_of(r) for r in recorder.requests)
    assert read["read"] == 7.0 and read["connect"] == 2.0
    assert write["read"] == 42.0 and write["connect"] == 2.0


async def test_reads_are_retried_on_5xx_until_they_succeed() -> None:
    answers = iter([httpx.Response(503, json={"message": "busy"}), httpx.Response(502), httpx.Response(200, json=[])])
    client, recorder = client_for(lambda request: next(answers), retries=3)
    async with client:
        assert await client.get_deployments() == []
    assert len(recorder.requests) == 3


async def test_reads_give_up_after_the_retries() -> None:
    client, recorder = client_for(lambda request: httpx.Response(503, json={"message": "no leader"}), retries=2)
    async with client:
        with pytest.raises(RemoteUnavailable, match="no leader") as caught:
            await client.get_apps()
    assert len(recorder.requests) == 3
    assert caught.value.status == 503


async def test_reads_are_retried_on_connect_errors_and_timeouts() -> None:
    def flaky(request: httpx.Request) -> httpx.Response:
        if len(recorder.requests) == 1:
            raise httpx.ConnectError("connection refused", request=request)
        if len(recorder.requests) == 2:
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(200, json={"tasks": []})

    client, recorder = client_for(flaky, retries=3)
    async with client:
        assert await client.get_tasks() == []
    assert len(recorder.requests) == 3


async def test_backoff_grows_exponentially() -> None:
    delays: list[float] = []

    async def record_sleep(seconds: float) -> None:
        delays.append(seconds)

    client, _ = client_for(
        lambda request: httpx.Response(503), retries=4, backoff_seconds=0.5, max_backoff_seconds=3.0, sleep=record_sleep
    )
    async with client:
        with pytest.raises(RemoteUnavailable):
            await client.get_queue()
    assert delays == [0.5, 1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    ("method", "call"),
    [
        ("PUT", lambda c: c.put_apps([{"id": "/a"}])),
        ("PUT", lambda c: c.put_app("/a", {"instances": 1})),
        ("POST", lambda c: c.post_apps({"id": "/a"})),
        ("DELETE", lambda c: c.delete_app("/a")),
        ("POST", lambda c: c.post_app_restart("/a")),
        ("DELETE", lambda c: c.delete_deployment("d-1")),
    ],
)
async def test_writes_are_never_retried(method: str, call: Callable[[MarathonClient], Any]) -> None:
    client, recorder = client_for(lambda request: httpx.Response(503, json={"message": "busy"}), retries=5)
    async with client:
        with pytest.raises(RemoteUnavailable):
            await call(client)
    assert [r.method for r in recorder.requests] == [method]


async def test_4xx_reads_are_not_retried() -> None:
    client, recorder = client_for(answer_json({"message": "App '/a' does not exist"}, status=404), retries=3)
    async with client:
        with pytest.raises(NotFound):
            await client.get_app("/a")
    assert len(recorder.requests) == 1
