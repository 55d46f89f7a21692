"""The `/_sandbox/` fault API and the `/v2/events` stream of the Marathon sandbox, over real HTTP."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from reconciler.sandbox.marathon import MarathonSandbox
from tests.sandbox.marathon.fixtures import until

APP = {"id": "/f", "cmd": "run", "cpus": 0.1, "mem": 16, "instances": 1}


async def test_fault_api_kills_tasks_as_failed_or_killed(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    await api.post("/v2/apps", json=APP)
    await marathon_sandbox.wait_idle()
    [task] = marathon_sandbox.state.all_tasks()
    failed = await api.post(f"/_sandbox/tasks/{task.id}/kill", json={"state": "TASK_FAILED"})
    assert failed.json() == {"taskId": task.id, "state": "TASK_FAILED"}
    app = (await api.get("/v2/apps/f")).json()["app"]
    assert app["lastTaskFailure"]["taskId"] == task.id and app["lastTaskFailure"]["state"] == "TASK_FAILED"
    assert (await api.post("/_sandbox/tasks/nope/kill", json={})).status_code == 404
    await api.delete("/v2/queue/f/delay")
    await marathon_sandbox.wait_idle()
    [replacement] = marathon_sandbox.state.all_tasks()
    killed = await api.post(f"/_sandbox/tasks/{replacement.id}/kill", json={"state": "TASK_KILLED"})
    assert killed.status_code == 200
    await marathon_sandbox.wait_idle()
    assert len(marathon_sandbox.state.all_tasks()) == 1


async def test_unhealthy_task_stops_listening_and_healthy_again_listens(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    await api.post("/v2/apps", json=APP)
    await marathon_sandbox.wait_idle()
    [task] = (await api.get("/v2/tasks")).json()["tasks"]
    address = f"http://{task['host']}:{task['ports'][0]}/health"
    assert (await api.get(address)).status_code == 200
    sick = await api.put(f"/_sandbox/tasks/{task['id']}/health", json={"healthy": False})
    assert sick.json() == {"taskId": task["id"], "healthy": False}
    try:
        await api.get(address)
        raise AssertionError("an unhealthy task still answered")
    except httpx.ConnectError:
        pass
    await api.put(f"/_sandbox/tasks/{task['id']}/health", json={"healthy": True})
    assert (await api.get(address)).status_code == 200


async def test_latency_errors_freeze_state_and_reset(api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox) -> None:
    settings = await api.put("/_sandbox/faults", json={"latencyMs": 30, "errorEvery": 2, "errorStatus": 502})
    assert settings.json()["errorEvery"] == 2
    statuses = [(await api.get("/v2/apps")).status_code for _ in range(4)]
    assert statuses == [200, 502, 200, 502]
    loop = asyncio.get_running_loop()
    began = loop.time()
    await api.get("/ping")
    assert loop.time() - began >= 0.03
    await api.put("/_sandbox/faults", json={"errorEvery": 0, "latencyMs": 0, "freezeDeployments": True})
    await api.post("/v2/apps", json=APP)
    state = (await api.get("/_sandbox/state")).json()
    assert state["deployments"] == 1 and state["faults"]["freezeDeployments"] is True and len(state["agents"]) == 3
    assert state["agents"][0]["host"] == "127.0.0.2"
    await api.post("/_sandbox/reset")
    await marathon_sandbox.wait_idle()
    assert (await api.get("/_sandbox/faults")).json()["freezeDeployments"] is False
    added = await api.post("/_sandbox/agents", json={"cpus": 1, "mem": 512})
    assert added.status_code == 201 and added.json()["host"] == "127.0.0.5"
    assert (await api.post("/_sandbox/agents/9/lose")).status_code == 404


async def read_events(url: str, params: dict[str, Any], stop_after: int, sink: list[dict[str, Any]]) -> None:
    """Read SSE frames into `sink` until `stop_after` events arrived."""
    headers = {"Accept": "text/event-stream"}
    async with (
        httpx.AsyncClient(timeout=10.0) as client,
        client.stream("GET", url, params=params, headers=headers) as stream,
    ):
        event_name = None
        async for line in stream.aiter_lines():
            if line.startswith("event: "):
                event_name = line[len("event: ") :]
            elif line.startswith("data: "):
                data = json.loads(line[len("data: ") :])
                assert data["eventType"] == event_name and "timestamp" in data
                sink.append(data)
                if len(sink) >= stop_after:
                    return


async def test_event_stream_needs_the_accept_header_and_filters_by_type(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    assert (await api.get("/v2/events")).status_code == 405
    everything: list[dict[str, Any]] = []
    deployments: list[dict[str, Any]] = []
    readers = [
        asyncio.create_task(read_events(f"{marathon_sandbox.url}/v2/events", {}, 6, everything)),
        asyncio.create_task(
            read_events(
                f"{marathon_sandbox.url}/v2/events",
                {"event_type": ["deployment_success", "status_update_event"]},
                3,
                deployments,
            )
        ),
    ]
    await until(lambda: len(marathon_sandbox.state.bus.subscriptions) == 2, "two subscribers")
    await api.post("/v2/apps", json=APP)
    await asyncio.wait_for(asyncio.gather(*readers), 10)
    assert everything[0]["eventType"] == "event_stream_attached" and "remoteAddress" in everything[0]
    assert [e["eventType"] for e in deployments] == ["status_update_event", "status_update_event", "deployment_success"]
    assert deployments[-1]["plan"]["steps"][0]["actions"] == [{"action": "StartApplication", "app": "/f"}]
    await until(lambda: not marathon_sandbox.state.bus.subscriptions, "subscribers detached")


async def test_group_change_success_names_the_group_the_change_edits(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    """The id each resource passes to GroupManager.updateRoot: an app's parent group (recorded async-worker
    stream: /asgard-dev for /asgard-dev/bla), the root for bulk changes, the URL group's parent for groups."""
    bla = {**APP, "id": "/asgard-dev/bla"}
    answers = [
        await api.post("/v2/apps", json=bla),
        await api.put("/v2/apps/asgard-dev/bla", params={"force": "true"}, json={"instances": 2}),
        await api.post("/v2/apps", json=APP),
        await api.put("/v2/apps", params={"force": "true"}, json=[{"id": "/f", "instances": 0}]),
        await api.put("/v2/groups/prod/web", json={"apps": [{**APP, "id": "api"}]}),
        await api.delete("/v2/groups/prod/web", params={"force": "true"}),
        await api.delete("/v2/apps/asgard-dev/bla"),
    ]
    changes = [(e["groupId"], e["version"]) for e in marathon_sandbox.state.bus.history
               if e["eventType"] == "group_change_success"]
    created_version = answers[0].json()["version"]
    versions = [created_version] + [answer.json()["version"] for answer in answers[1:]]
    assert changes == list(zip(["/asgard-dev", "/asgard-dev", "/", "/", "/prod", "/prod", "/asgard-dev"],
                               versions, strict=True))


WHOLE_MS = "a whole number of milliseconds from 0 to 3600000"
# (row id, method, route, body, words the 400 message must carry): every fault route checks its body.
BAD_FAULT_BODIES: list[tuple[str, str, str, Any, list[str]]] = [
    ("latency-not-a-number", "PUT", "/_sandbox/faults", {"latencyMs": "abc"}, ["latencyMs", WHOLE_MS, '"abc"']),
    ("latency-negative", "PUT", "/_sandbox/faults", {"latencyMs": -5}, ["latencyMs", WHOLE_MS]),
    ("error-every-fraction", "PUT", "/_sandbox/faults", {"errorEvery": 0.5}, ["errorEvery", "whole number", "0.5"]),
    ("error-every-negative", "PUT", "/_sandbox/faults", {"errorEvery": -1}, ["errorEvery", "n >= 0"]),
    ("error-status-not-an-error", "PUT", "/_sandbox/faults", {"errorEvery": 2, "errorStatus": 200},
     ["errorStatus", "400 to 599", "200"]),
    ("freeze-not-a-flag", "PUT", "/_sandbox/faults", {"freezeDeployments": "yes"},
     ["freezeDeployments", "true or false"]),
    ("unknown-key", "PUT", "/_sandbox/faults", {"latencyMs": 10, "latency": 10},
     ["unknown field 'latency'", "latencyMs"]),
    ("not-an-object", "PUT", "/_sandbox/faults", [1, 2], ["takes a JSON object", "latencyMs"]),
    ("not-json", "PUT", "/_sandbox/faults", b"{latencyMs: 5", ["not JSON"]),
    ("reset-takes-nothing", "POST", "/_sandbox/reset", {"all": True}, ["unknown field 'all'", "no fields"]),
    ("kill-unknown-state", "POST", "/_sandbox/tasks/{task}/kill", {"state": "TASK_GONE"},
     ["state", "one of TASK_FAILED, TASK_FINISHED, TASK_KILLED, TASK_LOST, TASK_UNREACHABLE"]),
    ("kill-reason-not-a-reason", "POST", "/_sandbox/tasks/{task}/kill", {"state": "TASK_LOST", "reason": "gone"},
     ["reason", "REASON_SLAVE_REMOVED"]),
    ("kill-reason-without-lost", "POST", "/_sandbox/tasks/{task}/kill",
     {"state": "TASK_FAILED", "reason": "REASON_SLAVE_REMOVED"}, ["reason is read for TASK_LOST only"]),
    ("kill-message-not-text", "POST", "/_sandbox/tasks/{task}/kill", {"message": 5}, ["message", "a string"]),
    ("health-missing", "PUT", "/_sandbox/tasks/{task}/health", {}, ["healthy is required", "true or false"]),
    ("health-not-a-flag", "PUT", "/_sandbox/tasks/{task}/health", {"healthy": "no"}, ["healthy", "true or false"]),
    ("agent-negative-cpus", "POST", "/_sandbox/agents", {"cpus": -1}, ["cpus", "a number >= 0"]),
    ("agent-mem-text", "POST", "/_sandbox/agents", {"mem": "lots"}, ["mem", ">= 0"]),
    ("agent-port-range-reversed", "POST", "/_sandbox/agents", {"portRange": [32000, 31000]},
     ["portRange", "1 <= low <= high <= 65535"]),
    ("agent-unknown-key", "POST", "/_sandbox/agents", {"gpus": 1}, ["unknown field 'gpus'", "cpus"]),
    ("lose-takes-nothing", "POST", "/_sandbox/agents/1/lose", {"now": True}, ["unknown field 'now'"]),
]


@pytest.mark.parametrize(("method", "route", "body", "words"), [r[1:] for r in BAD_FAULT_BODIES],
                         ids=[r[0] for r in BAD_FAULT_BODIES])
async def test_fault_api_refuses_bad_bodies_with_400_naming_the_field(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox, method: str, route: str, body: Any, words: list[str]
) -> None:
    await api.post("/v2/apps", json=APP)
    await marathon_sandbox.wait_idle()
    [task] = marathon_sandbox.state.all_tasks()
    before = (await api.get("/_sandbox/state")).json()
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = await api.request(method, route.format(task=task.id), content=content)
    assert answer.status_code == 400, answer.text
    assert answer.headers["Content-Type"].startswith("application/json") and list(answer.json()) == ["message"]
    for word in words:
        assert word in answer.json()["message"], answer.json()
    assert (await api.get("/_sandbox/state")).json() == before  # nothing was applied
    assert task.healthy_flag and task.state.value == "TASK_RUNNING"


async def test_in_process_fault_methods_refuse_what_the_api_refuses(marathon_sandbox: MarathonSandbox) -> None:
    with pytest.raises(ValueError, match="errorEvery must be a whole number"):
        marathon_sandbox.fail_every(0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="errorStatus must be an HTTP error status"):
        marathon_sandbox.fail_every(2, status=200)
    with pytest.raises(ValueError, match="latencyMs"):
        marathon_sandbox.set_latency(-1)
    with pytest.raises(ValueError, match="cpus must be a number >= 0"):
        marathon_sandbox.add_agent(cpus=-2)
    assert marathon_sandbox.faults.to_json(False) == {"latencyMs": 0, "errorEvery": 0, "errorStatus": 503,
                                                      "requestsSeen": 0, "freezeDeployments": False}
