"""The plain-JSON reading of an app (marathon/plain_json.py) against the pydantic one it stands in for.

Every app here goes through both: `AppMemo().translate` (the plain reading, pydantic when it declines)
and the reading before it existed (`wire.AppList` validation, then `to_actual_app`). They must give
the same ActualApps, equal AND with the same repr (so `1` against `1.0` or `True` differs), or the same
error, word for word. Malformed variants replace, drop or rename every field the plain reading looks at.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from reconciler.marathon.app_memo import AppMemo
from reconciler.marathon.plain_json import actual_app_of_json
from tests.unit.marathon.app_readings import (
    FAILING,
    HEALTHY,
    Json,
    assert_same_reading,
    full_app,
    full_task,
    memo_reading,
    pydantic_reading,
)

PLAIN_APPS: dict[str, dict[str, Json]] = {
    "every field": full_app(),
    "Marathon 1.5+ omitting what is empty": {"id": "/web", "instances": 1, "networks": [{"mode": "host"}]},
    "only an id": {"id": "/bare"},
    "id not first, labels before instances": {"cmd": "x", "labels": {"a": "b"}, "id": "/e/x", "instances": 3},
    "nulls of Marathon up to 1.4": full_app(
        labels=None,
        version=None,
        versionInfo=None,
        deployments=None,
        lastTaskFailure=None,
        readinessCheckResults=None,
        taskStats=None,
        tasks=[full_task(ports=None, servicePorts=None, ipAddresses=None, healthCheckResults=None, slaveId=None)],
    ),
    "tasks null": full_app(tasks=None),
    "0.x task: no state, no appId": full_app(
        tasks=[{"id": "web.1", "host": "h", "ports": [1], "startedAt": "2015-08-26T20:23:44.678Z"},
               {"id": "web.2", "host": "h", "ports": [], "stagedAt": "2015-08-26T20:23:44.678Z"}]
    ),
    "task in a state Marathon added later": full_app(tasks=[full_task(state="TASK_SOMETHING_NEW")]),
    "health results without times": full_app(tasks=[full_task(healthCheckResults=[{"alive": False}])]),
    "empty texts where a value is optional": full_app(
        version="", versionInfo={"lastConfigChangeAt": ""}, tasks=[full_task(appId="", version="", slaveId="")]
    ),
    "numbers of every JSON kind in the definition": full_app(
        cpus=1, mem=1.0, disk=0, gpus=False, maxLaunchDelaySeconds=2**70, backoffSeconds=-1.5e-3
    ),
    "secrets and an env secret reference (Marathon 1.5+)": full_app(
        env={"DB_USER": "orders", "DB_PASSWORD": {"secret": "db-password"}},
        secrets={"db-password": {"source": "/shop/orders/db-password"}},
    ),
    "empty secrets as Marathon 1.3 and 1.4 send them": full_app(env={}, secrets={}),
    "fields named like pydantic's own attributes": full_app(model_config=1, definition={"x": 1}, _private="p"),
    "versionInfo and deployments with fields of their own": full_app(
        versionInfo={"lastConfigChangeAt": "2026-01-01T00:00:00.000Z", "future": [1]},
        deployments=[{"id": "d-1", "future": True}],
    ),
}


@pytest.mark.parametrize("raw", list(PLAIN_APPS.values()), ids=list(PLAIN_APPS))
def test_a_plainly_typed_app_is_read_without_pydantic_as_pydantic_reads_it(raw: dict[str, Json]) -> None:
    assert actual_app_of_json(copy.deepcopy(raw)) is not None
    assert_same_reading([raw])


def test_the_definition_keeps_the_order_pydantic_dumps_it_in() -> None:
    actual = actual_app_of_json({"cmd": "x", "labels": {}, "tasks": [], "instances": 3, "id": "/e/x", "mem": 1})
    assert actual is not None
    assert list(actual.definition) == ["id", "instances", "labels", "cmd", "mem"]


# Values of every JSON type, several of which pydantic converts (1.0 and "1" to 1, 0 and "true" to a bool).
REPLACEMENTS: list[Json] = [
    None, True, False, 0, 1, 2, -1, 1.0, 2.5, "", "1", "true", "x", [], [1], ["x"], {}, {"a": 1},
]


def field_paths(value: Json, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every value inside `value` (dict keys and list positions), depth first."""
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield (*path, key)
        yield from field_paths(child, (*path, key))


def changed(raw: Json, path: tuple[Any, ...], change: Callable[[Any, Any], None]) -> Json:
    copied = copy.deepcopy(raw)
    parent = copied
    for key in path[:-1]:
        parent = parent[key]
    change(parent, path[-1])
    return copied


def variants(raw: Json) -> Iterator[Json]:
    """`raw` with each value replaced by each of REPLACEMENTS, dropped, or its key renamed to snake_case
    (the Python name pydantic also takes) with its value or with 2.5 (which no field of ours takes)."""
    for path in field_paths(raw):
        for replacement in REPLACEMENTS:
            yield changed(raw, path, replaced_by(replacement))
        if isinstance(path[-1], str):
            yield changed(raw, path, lambda parent, key: parent.pop(key))
            yield changed(raw, path, lambda parent, key: parent.__setitem__(snake(key), parent.pop(key)))
            yield changed(raw, path, lambda parent, key: parent.__setitem__(snake(key), parent.pop(key) and 2.5))


def replaced_by(value: Json) -> Callable[[Any, Any], None]:
    def replace(parent: Any, key: Any) -> None:
        parent[key] = value

    return replace


def snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


SMALL = full_app(
    env={"A": "b"},
    healthChecks=[],
    tasks=[full_task(1, healthCheckResults=[HEALTHY, FAILING])],
    lastTaskFailure={"m": 1},
    taskStats={"t": 1},
    readinessCheckResults=[{"r": 1}],
)


def test_every_variant_of_every_field_reads_or_fails_exactly_as_with_pydantic() -> None:
    declined = accepted = 0
    for raw in variants(SMALL):
        assert_same_reading([raw])
        if actual_app_of_json(copy.deepcopy(raw)) is None:
            declined += 1
        else:
            accepted += 1
    # Both ways are exercised: many variants are still plain (an extra field's value), many are not.
    assert declined > 300 and accepted > 300


def test_a_malformed_app_after_plain_ones_fails_naming_its_position_as_before() -> None:
    raw_apps = [full_app(id="/e/a"), full_app(id="/e/b"), full_app(id="/e/c", tasksRunning=None)]
    reading = memo_reading(raw_apps)
    assert reading == pydantic_reading(raw_apps)
    assert reading.startswith("ValidationError: 1 validation error for AppList\napps.2.tasksRunning")


def test_a_convertible_value_is_read_as_pydantic_converts_it() -> None:
    raw = full_app(instances=2.0, tasks=[full_task(ports=[31001.0], healthCheckResults=[HEALTHY | {"alive": 1}])])
    assert actual_app_of_json(copy.deepcopy(raw)) is None
    [actual] = AppMemo().translate([raw]).values()
    assert repr(actual.instances) == "2" and actual.tasks[0].ports == (31001,) and actual.tasks[0].healthy is True
    assert_same_reading([raw])


def test_a_value_given_under_its_python_name_is_left_to_pydantic() -> None:
    raw = full_app(tasks_running=3, versionInfo={"last_config_change_at": "2026-01-01T00:00:00.000Z"})
    assert actual_app_of_json(copy.deepcopy(raw)) is None
    [actual] = AppMemo().translate([raw]).values()
    assert "tasks_running" not in actual.definition and actual.config_version == "2026-01-01T00:00:00.000Z"
    assert_same_reading([raw])


@pytest.mark.parametrize("raw", [None, 1, "app", ["/e/a"], {"instances": 1}, {"id": 1}, {"id": None}])
def test_what_is_not_an_app_is_declined(raw: Json) -> None:
    assert actual_app_of_json(raw) is None
    assert_same_reading([raw])
