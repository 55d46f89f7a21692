"""AppMemo and MarathonClient.observe: an app whose JSON is unchanged is not decoded again, and any
change to an app or to one of its tasks (state, health, version, a task added or gone) is seen on the next read."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest

from reconciler.core.model import TaskState
from reconciler.errors import RemoteError
from reconciler.marathon import MarathonClient, wire
from reconciler.marathon.app_memo import AppMemo
from reconciler.marathon.translate import to_actual_app


def task(app_id: str, n: int, *, state: str = "TASK_RUNNING", alive: bool = True) -> dict[str, Any]:
    return {
        "id": f"{app_id.strip('/').replace('/', '_')}.{n}",
        "appId": app_id,
        "host": "agent-1",
        "ports": [31000 + n],
        "state": state,
        "version": "2026-01-01T00:00:00.000Z",
        "startedAt": "2026-01-01T00:00:01.000Z",
        "healthCheckResults": [{"alive": alive, "firstSuccess": "2026-01-01T00:00:02.000Z", "taskId": f"t{n}"}],
    }


def app(app_id: str, instances: int = 2, **extra: Any) -> dict[str, Any]:
    body = {
        "id": app_id,
        "instances": instances,
        "cmd": "serve",
        "cpus": 0.1,
        "mem": 32,
        "labels": {"team": "a"},
        "version": "2026-01-01T00:00:00.000Z",
        "versionInfo": {"lastConfigChangeAt": "2026-01-01T00:00:00.000Z"},
        "tasks": [task(app_id, n) for n in range(instances)],
        "deployments": [],
    }
    return body | extra


def fresh(apps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Each read parses a new body: the memo never sees the same objects twice.
    return copy.deepcopy(apps)


def test_an_unchanged_app_is_handed_back_without_decoding_and_equals_a_fresh_translation() -> None:
    memo = AppMemo()
    apps = [app("/e/a"), app("/e/b", 1)]
    first = memo.translate(fresh(apps))
    second = memo.translate(fresh(apps))
    assert second["/e/a"] is first["/e/a"] and second["/e/b"] is first["/e/b"]
    assert second["/e/a"] == to_actual_app(wire.App.model_validate(apps[0]))


def change_task_state(apps: list[dict[str, Any]]) -> None:
    apps[0]["tasks"][1]["state"] = "TASK_FAILED"


def change_task_health(apps: list[dict[str, Any]]) -> None:
    apps[0]["tasks"][0]["healthCheckResults"][0]["alive"] = False


def add_task(apps: list[dict[str, Any]]) -> None:
    apps[0]["tasks"].append(task("/e/a", 7))


def drop_task(apps: list[dict[str, Any]]) -> None:
    apps[0]["tasks"].pop()


def change_definition(apps: list[dict[str, Any]]) -> None:
    apps[0]["labels"]["team"] = "b"


def change_instances(apps: list[dict[str, Any]]) -> None:
    apps[0]["instances"] = 5


def start_deployment(apps: list[dict[str, Any]]) -> None:
    apps[0]["deployments"] = [{"id": "d-1"}]


@pytest.mark.parametrize(
    "change",
    [change_task_state, change_task_health, add_task, drop_task, change_definition, change_instances, start_deployment],
)
def test_a_changed_app_or_task_is_seen_on_the_next_read(change: Any) -> None:
    memo = AppMemo()
    apps = [app("/e/a"), app("/e/b", 1)]
    first = memo.translate(fresh(apps))
    change(apps)
    second = memo.translate(fresh(apps))
    assert second["/e/a"] == to_actual_app(wire.App.model_validate(apps[0]))
    assert second["/e/a"] != first["/e/a"]
    assert second["/e/b"] is first["/e/b"]


def test_a_task_state_change_reaches_the_translated_task() -> None:
    memo = AppMemo()
    apps = [app("/e/a")]
    memo.translate(fresh(apps))
    change_task_state(apps)
    states = [t.state for t in memo.translate(fresh(apps))["/e/a"].tasks]
    assert states == [TaskState.RUNNING, TaskState.FAILED]


def test_gone_apps_are_forgotten_and_a_returning_app_is_decoded_again() -> None:
    memo = AppMemo()
    memo.translate(fresh([app("/e/a"), app("/e/b")]))
    assert set(memo.translate(fresh([app("/e/b")]))) == {"/e/b"} and len(memo) == 1
    back = memo.translate(fresh([app("/e/a", 3), app("/e/b")]))
    assert back["/e/a"].instances == 3 and len(back["/e/a"].tasks) == 3


def test_an_invalid_app_is_refused_even_after_a_valid_one_was_remembered() -> None:
    memo = AppMemo()
    memo.translate(fresh([app("/e/a")]))
    broken = app("/e/a")
    broken["instances"] = "many"
    with pytest.raises(ValueError, match=r"apps\.0\.instances"):
        memo.translate([broken])
    with pytest.raises(ValueError, match="apps"):
        memo.translate({"id": "/e/a"})


async def test_observe_sees_a_task_change_between_two_reads_of_the_same_client() -> None:
    apps = [app("/e/a"), app("/e/b", 1)]
    client = MarathonClient(
        "http://marathon.test:8080",
        transport=httpx.MockTransport(
            lambda request: httpx.Response(200, json={"apps": apps} if request.url.path == "/v2/apps" else [])
        ),
    )
    async with client:
        first = await client.observe()
        change_task_health(apps)
        second = await client.observe()
        third = await client.observe()
    assert [t.healthy for t in first.apps["/e/a"].tasks] == [True, True]
    assert [t.healthy for t in second.apps["/e/a"].tasks] == [False, True]
    assert third.apps["/e/a"] is second.apps["/e/a"] and third.apps["/e/b"] is first.apps["/e/b"]


async def test_observe_names_the_call_when_the_apps_body_is_not_a_list() -> None:
    client = MarathonClient(
        "http://marathon.test:8080",
        transport=httpx.MockTransport(
            lambda request: httpx.Response(200, json={"apps": {"x": 1}} if request.url.path == "/v2/apps" else [])
        ),
        backoff_seconds=0.0,
    )
    async with client:
        with pytest.raises(RemoteError, match=r"/v2/apps.*apps: Input should be a valid list"):
            await client.observe()


def test_a_number_that_changes_type_only_is_decoded_again() -> None:
    """`1` and `1.0` are equal in Python; the fingerprint (compact JSON) tells them apart."""
    memo = AppMemo()
    apps = [app("/e/a")]
    first = memo.translate(fresh(apps))
    apps[0]["mem"] = 32.0
    second = memo.translate(fresh(apps))
    assert second["/e/a"] is not first["/e/a"]
    assert second["/e/a"] == to_actual_app(wire.App.model_validate(apps[0]))


def test_an_app_beyond_what_the_fingerprint_serialises_is_translated_every_time() -> None:
    memo = AppMemo()
    apps = [app("/e/a"), app("/e/b", 1)]
    apps[0]["fetch"] = [{"uri": "http://x", "size": 2**70}]  # beyond 64 bits: orjson will not write it
    first = memo.translate(fresh(apps))
    second = memo.translate(fresh(apps))
    assert second["/e/a"] == first["/e/a"] and second["/e/a"] is not first["/e/a"]
    assert second["/e/b"] is first["/e/b"]


async def test_an_answer_byte_for_byte_the_previous_one_is_not_parsed_and_any_other_is() -> None:
    apps = [app("/e/a"), app("/e/b", 1)]
    parsed: list[int] = []
    client = MarathonClient(
        "http://marathon.test:8080",
        transport=httpx.MockTransport(
            lambda request: httpx.Response(200, json={"apps": apps} if request.url.path == "/v2/apps" else [])
        ),
    )
    async with client:
        real = client._apps.translate
        client._apps.translate = lambda raw, content=None, **how: parsed.append(1) or real(raw, content, **how)  # type: ignore[method-assign]
        first = await client.observe()
        second = await client.observe()
        change_task_state(apps)
        third = await client.observe()
    assert len(parsed) == 2  # the first read and the changed one
    assert second.apps == first.apps and second.apps["/e/a"] is first.apps["/e/a"]
    assert second.apps is not first.apps  # a mapping of its own: a caller changing it changes no other read
    assert [t.state for t in third.apps["/e/a"].tasks] == [TaskState.RUNNING, TaskState.FAILED]


async def test_a_client_that_observes_once_remembers_nothing_and_reads_the_same() -> None:
    apps = [app("/e/a"), app("/e/b", 1)]
    answered = httpx.MockTransport(
        lambda request: httpx.Response(200, json={"apps": apps} if request.url.path == "/v2/apps" else [])
    )
    async with MarathonClient("http://marathon.test:8080", transport=answered, remember_apps=False) as once:
        first = await once.observe()
        second = await once.observe()
        assert len(once._apps) == 0
    async with MarathonClient("http://marathon.test:8080", transport=answered) as remembering:
        remembered = await remembering.observe()
    assert first.apps == second.apps == remembered.apps
    assert repr(first.apps) == repr(remembered.apps)
    # Read again from the answer each time: nothing was kept to tell it was the same.
    assert second.apps["/e/a"] is not first.apps["/e/a"]


@pytest.mark.parametrize("lenient", ["NaN", "Infinity", "-Infinity", "1e400"])
async def test_an_app_whose_null_became_what_only_the_lenient_parser_reads_is_decoded_again(lenient: str) -> None:
    """orjson refuses NaN, the infinities and a number beyond a double, so the standard parser reads such an
    answer (gc_pause.parsed_json); orjson then writes each of those floats as `null`, the very bytes of
    the app before: a fingerprint of them would hand back the stale app. So would one of NaN after an
    infinity."""
    body = json.dumps({"apps": [app("/e/a", backoffFactor=None), app("/e/b", 1)]}).encode()
    other = "Infinity" if lenient == "NaN" else "NaN"
    null = b'"backoffFactor": null'
    changed = [body.replace(null, b'"backoffFactor": ' + value.encode()) for value in (lenient, other)]
    answers = [body, *changed, body]
    client = MarathonClient(
        "http://marathon.test:8080",
        transport=httpx.MockTransport(
            lambda request: httpx.Response(200, content=answers.pop(0) if request.url.path == "/v2/apps" else b"[]")
        ),
    )
    async with client:
        reads = [await client.observe() for _ in range(4)]
    factors = [read.apps["/e/a"].definition["backoffFactor"] for read in reads]
    assert repr(factors) == repr([None, json.loads(lenient), json.loads(other), None])
    assert reads[3].apps == reads[0].apps
