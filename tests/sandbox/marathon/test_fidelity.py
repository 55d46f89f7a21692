"""Fidelity of the Marathon sandbox to the published API (sandbox layer tests, real HTTP on loopback).

The reference example bodies are sent to the sandbox: request examples must be accepted; for each
response example the sandbox's answer to the same kind of request must carry the same keys (every
key the 1.5+ example has, except collections the 1.5+ serialiser omits when empty) with the same
JSON types; every app the sandbox shows validates against AppDefinition.json (v1.7.236, Draft 4).
Invalid bodies sent over HTTP get the 422 / 400 bodies of the validation table.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from reconciler.sandbox.marathon.validation import canonical_path, validate_app
from tests.sandbox.marathon.test_validation_table import INVALID_APPS, WRONG_TYPES

pytestmark = pytest.mark.reference

EXAMPLES = "marathon/examples"
DEADLINE_SECONDS = 30.0
# The 1.5+ RAML serialiser omits these when empty (FACTS.md §3); deprecated fields are not emitted.
OMITTED_WHEN_EMPTY = {"args", "constraints", "env", "fetch", "healthChecks", "dependencies", "readinessChecks",
                      "secrets", "labels", "volumes", "parameters", "portMappings", "portDefinitions", "tasks",
                      "deployments", "currentActions", "readinessCheckResults", "affectedPods", "pods", "groups",
                      "apps", "ipAddresses", "healthCheckResults", "servicePorts", "ports", "localVolumes",
                      # An absent optional object, e.g. a command app's container: the generated RAML writer
                      # drops every JsNull field (type-generator .../treehugger/ObjectVisitor.scala line 155,
                      # mesosphere/marathon v1.10.26); the old docs example still shows `"container": null`.
                      "container"}
NOT_EMITTED = {"ports", "uris", "ipAddress", "cmd", "user", "executor", "storeUrls", "taskKillGracePeriodSeconds"}
# Pre-1.5 places the docs examples still show; AppNormalization moves them to `networks` and
# `container.portMappings` (FACTS.md §13), as the recorded 1.5 answers show.
MOVED = ("/container/docker/network", "/container/docker/portMappings")
# Keys of the 1.5+ examples that depend on what the example cluster had (Mesos attributes, regions,
# pods, authentication, readiness checks): a sandbox without those features has no value to show.
CLUSTER_SPECIFIC = {"region", "zone", "role", "affectedPods", "lastTaskFailure", "taskStats", "readinessCheckResults",
                    "acceptedResourceRoles", "residency", "secrets", "event_subscriber", "processedOffersSummary",
                    "lastUnusedOffers", "unreachableStrategy", "mesos_leader_ui_url", "http_config",
                    "zookeeper_config", "marathon_config", "buildref", "frameworkId", "localVolumes", "pods"}
# Maps whose keys are the user's own data: their type is compared, not their keys.
USER_DATA = {"env", "labels"}
# AppInfo keys: status the server computes, never part of a definition that is posted.
STATUS_KEYS = {"tasksStaged", "tasksRunning", "tasksHealthy", "tasksUnhealthy", "deployments", "tasks",
               "lastTaskFailure", "readinessCheckResults", "taskStats", "tasksStats"}
# Exempt from `additionalProperties: false` of AppDefinition.json (v1.7.236), which describes
# definitions only: status keys, and definition keys newer than that schema.
SCHEMA_EXEMPT = STATUS_KEYS | {"role", "tty", "check", "resourceLimits"}


# --- the sandbox over real HTTP -------------------------------------------------------------------


@pytest.fixture
async def marathon(api: httpx.AsyncClient) -> httpx.AsyncClient:
    """The sandbox fixtures' client (a fresh sandbox per test, millisecond timings)."""
    return api


async def eventually(probe: Callable[[], Awaitable[Any]], what: str, timeout: float = DEADLINE_SECONDS) -> Any:
    """The first truthy result of `probe`, polled until `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await probe()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def example(reference_dir: Path, relative: str) -> Any:
    return json.loads((reference_dir / EXAMPLES / relative).read_text())


# --- shape comparison -----------------------------------------------------------------------------


def json_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object", type(None): "null"}[type(value)]


def shape_problems(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Where `actual` lacks a key of `expected` or has another JSON type (allowing omitted-empty keys)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return [p for key, value in expected.items() for p in _key_problems(key, value, actual, path)]
    if isinstance(expected, list) and isinstance(actual, list):
        if expected and actual and isinstance(expected[0], dict):
            return shape_problems(expected[0], actual[0], f"{path}[0]")
        return []
    if expected is None or actual is None or json_type(expected) == json_type(actual):
        return []
    return [f"{path}: example has {json_type(expected)}, sandbox has {json_type(actual)}"]


def _key_problems(key: str, value: Any, actual: dict[str, Any], path: str) -> list[str]:
    where = f"{path}/{key}"
    if key in actual and key in CLUSTER_SPECIFIC | USER_DATA:
        same = value is None or actual[key] is None or json_type(value) == json_type(actual[key])
        return [] if same else [f"{where}: example has {json_type(value)}, sandbox has {json_type(actual[key])}"]
    if key in actual:
        return shape_problems(value, actual[key], where)
    omitted_empty = key in OMITTED_WHEN_EMPTY and value in ([], {}, None)
    if omitted_empty or key in NOT_EMITTED or key in CLUSTER_SPECIFIC or where.endswith(MOVED):
        return []
    return [f"{where}: missing from the sandbox's answer"]


def test_shape_comparison_catches_missing_keys_and_type_changes() -> None:
    expected = {"id": "/a", "instances": 2, "labels": {}, "container": {"docker": {"image": "x", "privileged": False}}}
    assert shape_problems(expected, {"id": "/a", "instances": 2.0, "container": {"docker": {
        "image": "x", "privileged": False}}}) == []
    assert shape_problems(expected, {"id": "/a", "instances": "2", "container": {"docker": {"image": "x"}}}) == [
        "/instances: example has number, sandbox has string",
        "/container/docker/privileged: missing from the sandbox's answer",
    ]


# --- request examples are accepted ----------------------------------------------------------------

APP_REQUESTS = [
    "app-definitions-v0.15.7/Docker.json", "app-definitions-v0.15.7/Play.json",
    "app-definitions-v0.15.7/PythonSimpleHTTPServer.json", "app-definitions-v0.15.7/Rails.json",
    "app-definitions-v0.15.7/Tomcat-Docker.json", "app-definitions-v0.15.7/Tomcat.json",
    "app-definitions-v0.15.7/bridge.json", "app-definitions-v0.15.7/labels.json",
    "articles-master/requests/app-simple.json", "v2-docs-master/app-check-http-example.json",
]


@pytest.mark.parametrize("relative", APP_REQUESTS)
async def test_app_request_examples_are_created(marathon: httpx.AsyncClient, reference_dir: Path,
                                                relative: str) -> None:
    body = example(reference_dir, relative)
    response = await marathon.post("/v2/apps", json=body)
    assert response.status_code == 201, response.text
    app_id = "/" + body["id"].lstrip("/")
    assert response.json()["id"] == app_id
    shown = (await marathon.get(f"/v2/apps{app_id}")).json()["app"]
    assert shown["id"] == app_id


async def test_bulk_and_patch_examples_are_accepted(marathon: httpx.AsyncClient, reference_dir: Path) -> None:
    created = await marathon.put("/v2/apps", json=example(reference_dir, "v2-docs-master/apps_create.json"))
    assert created.status_code == 200, created.text
    assert set(created.json()) == {"deploymentId", "version"}
    patched = await marathon.patch("/v2/apps", json=example(reference_dir, "v2-docs-master/apps_patch.json"))
    assert patched.status_code == 200, patched.text
    shown = (await marathon.get("/v2/apps/test/sleep60")).json()["app"]
    assert shown["cpus"] == 0.3


def app_ids(group: dict[str, Any], base: str = "/") -> list[str]:
    """Absolute ids of every app in a group body, relative ids resolved against their group."""
    group_id = canonical_path(group.get("id", ""), base)
    own = [canonical_path(app["id"], group_id) for app in group.get("apps", [])]
    return own + [i for sub in group.get("groups", []) for i in app_ids(sub, group_id)]


async def test_group_request_example_is_accepted(marathon: httpx.AsyncClient, reference_dir: Path) -> None:
    """v0.15.7's Group.json (the v2 docs' group.json is a GET answer, compared further down)."""
    body = example(reference_dir, "app-definitions-v0.15.7/Group.json")
    response = await marathon.post("/v2/groups", json=body)
    assert response.status_code == 201, response.text
    expected = app_ids(body)
    assert len(expected) >= 2
    for app_id in expected:
        assert (await marathon.get(f"/v2/apps{app_id}")).status_code == 200, app_id


# --- responses have the examples' keys and types --------------------------------------------------


def creatable(app: dict[str, Any]) -> dict[str, Any]:
    """A published app made postable: no status keys, no version, and not both cmd and args."""
    body = {k: v for k, v in copy.deepcopy(app).items() if k not in STATUS_KEYS | {"version", "versionInfo"}}
    if body.get("cmd") and body.get("args"):
        del body["args"]
    body.pop("secrets", None)
    body["env"] = {k: v for k, v in body.get("env", {}).items() if isinstance(v, str)}
    # The 1.x example lists ["hostname", "UNIQUE", ""]; 1.10 refuses a UNIQUE value, even "" (SchedulingValidation
    # .complyWithConstraintRules: `c.value.fold(Success)(_ => failure(ConstraintUniqueDoesNotAcceptValue))`).
    body["constraints"] = [c[:2] if c[1:] == ["UNIQUE", ""] else c for c in body.get("constraints", [])]
    return body


async def running_tasks(marathon: httpx.AsyncClient, app_id: str, count: int) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]]:
        tasks = (await marathon.get(f"/v2/apps{app_id}/tasks")).json()["tasks"]
        return tasks if len([t for t in tasks if t.get("state") == "TASK_RUNNING"]) >= count else []

    return list(await eventually(probe, f"{count} running task(s) of {app_id}"))


async def test_app_list_answer_matches_the_example(marathon: httpx.AsyncClient, reference_dir: Path) -> None:
    published = example(reference_dir, "v2-docs-master/app_list.json")
    body = creatable(published["apps"][0]) | {"instances": 1, "cpus": 0.1, "mem": 16}
    assert (await marathon.post("/v2/apps", json=body)).status_code == 201
    await running_tasks(marathon, body["id"], 1)
    listed = (await marathon.get("/v2/apps", params={"embed": "apps.tasks"})).json()
    assert shape_problems(published, listed) == []


async def test_app_answer_matches_the_example(marathon: httpx.AsyncClient, reference_dir: Path) -> None:
    published = example(reference_dir, "v2-docs-master/app.json")  # the bare app, as in {"app": ...}
    body = creatable(published) | {"instances": 1, "cpus": 0.1, "mem": 16}
    response = await marathon.post("/v2/apps", json=body)
    assert response.status_code == 201, response.text
    single = (await marathon.get(f"/v2/apps{body['id']}")).json()
    published.pop("args")  # the example has cmd and args together, which Marathon refuses; cmd was kept
    published.pop("portDefinitions")  # 1.5+ omits them for a bridged container (FACTS.md §3)
    assert shape_problems(published, single["app"]) == []
    docker = published["container"]["docker"]
    assert single["app"]["networks"] == [{"mode": "container/bridge"}]
    assert shape_problems(docker["portMappings"], single["app"]["container"]["portMappings"]) == []


async def test_task_answers_match_the_examples(marathon: httpx.AsyncClient, reference_dir: Path) -> None:
    assert (await marathon.post("/v2/apps", json={"id": "/tools/web", "cmd": "sleep 1000", "cpus": 0.1,
                                                  "mem": 16, "instances": 2})).status_code == 201
    await running_tasks(marathon, "/tools/web", 2)
    tasks = (await marathon.get("/v2/tasks")).json()
    assert shape_problems(example(reference_dir, "v2-docs-master/tasks.json"), tasks) == []
    app_tasks = (await marathon.get("/v2/apps/tools/web/tasks")).json()
    assert shape_problems(example(reference_dir, "v2-docs-master/app_tasks.json"), app_tasks) == []


async def test_deployment_and_queue_answers_match_the_examples(marathon: httpx.AsyncClient,
                                                               reference_dir: Path) -> None:
    # No agent offers 1000 cpus: the deployment keeps running and the app waits in the queue.
    queued = creatable(example(reference_dir, "v2-docs-master/queue.json")["queue"][0]["app"])
    response = await marathon.post("/v2/apps", json=queued | {"cpus": 1000, "instances": 1})
    assert response.status_code == 201, response.text
    deployments = await eventually(lambda: _json(marathon, "/v2/deployments"), "a running deployment")
    assert shape_problems(example(reference_dir, "v2-docs-master/deployments.json"), deployments) == []
    queue = await eventually(lambda: _json(marathon, "/v2/queue", "queue"), "a queued app")
    assert shape_problems(example(reference_dir, "v2-docs-master/queue.json"), {"queue": queue}) == []


async def _json(marathon: httpx.AsyncClient, url: str, key: str | None = None) -> Any:
    body = (await marathon.get(url)).json()
    return body[key] if key else body


async def test_group_and_info_answers_match_the_examples(marathon: httpx.AsyncClient, reference_dir: Path) -> None:
    published = example(reference_dir, "v2-docs-master/group.json")
    tools = published["groups"][0]
    body = {"id": "/tools", "apps": [creatable(a) | {"instances": 0} for a in tools["apps"]]}
    assert (await marathon.put("/v2/groups/tools", json=body)).status_code in (200, 201)
    root = (await marathon.get("/v2/groups")).json()
    assert shape_problems(published, root) == []
    info = (await marathon.get("/v2/info")).json()
    assert shape_problems(example(reference_dir, "v2-docs-master/info.json"), info) == []


# --- every app the sandbox shows fits AppDefinition.json -------------------------------------------


async def test_every_shown_app_validates_against_the_schema(marathon: httpx.AsyncClient, reference_dir: Path) -> None:
    schema = json.loads((reference_dir / "marathon/schema/json-schema/v1.7.236/AppDefinition.json").read_text())
    validator = jsonschema.Draft4Validator(schema)
    for relative in ("app-definitions-v0.15.7/bridge.json", "app-definitions-v0.15.7/labels.json",
                     "v2-docs-master/app-check-http-example.json"):
        assert (await marathon.post("/v2/apps", json=example(reference_dir, relative))).status_code == 201
    await marathon.put("/v2/apps", json=example(reference_dir, "v2-docs-master/apps_create.json"))
    apps = (await marathon.get("/v2/apps", params={"embed": ["apps.tasks", "apps.lastTaskFailure"]})).json()["apps"]
    assert len(apps) == 5
    for app in apps:
        definition = {k: v for k, v in app.items() if k not in SCHEMA_EXEMPT}
        problems = [f"{app['id']}{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(definition)]
        assert problems == []


# --- invalid bodies over HTTP -----------------------------------------------------------------------

HTTP_INVALID = [r for r in INVALID_APPS if r[0] in {
    "id-uppercase", "id-reserved-restart", "cmd-and-args", "cpus-negative", "instances-negative",
    "min-health-above-one", "backoff-factor-below-one", "hc-port-index-out-of-range", "constraint-unknown-operator",
    "dependency-uppercase", "port-names-duplicate", "docker-empty-image"}]
HTTP_WRONG_TYPES = [r for r in WRONG_TYPES if r[0] in {"id-number", "cpus-string", "label-value-number",
                                                       "kill-selection-unknown"}]


@pytest.mark.parametrize(("body", "path", "error"), [r[1:] for r in HTTP_INVALID], ids=[r[0] for r in HTTP_INVALID])
async def test_invalid_app_over_http_is_422_with_the_same_details(marathon: httpx.AsyncClient,
                                                                  body: dict[str, Any], path: str,
                                                                  error: str) -> None:
    response = await marathon.post("/v2/apps", json=body)
    assert response.status_code == 422, response.text
    answer = response.json()
    assert set(answer) == {"message", "details"} and isinstance(answer["message"], str)
    assert answer["details"] == validate_app(body)
    assert any(d["path"] == path and error in d["errors"] for d in answer["details"])
    assert (await marathon.get("/v2/apps")).json() == {"apps": []}


@pytest.mark.parametrize(("body", "path", "error"), [r[1:] for r in HTTP_WRONG_TYPES],
                         ids=[r[0] for r in HTTP_WRONG_TYPES])
async def test_wrong_json_types_over_http_are_invalid_json(marathon: httpx.AsyncClient, body: dict[str, Any],
                                                           path: str, error: str) -> None:
    response = await marathon.post("/v2/apps", json=body)
    # Corrected FACTS §1: MarathonExceptionMapper.exceptionStatusEntity answers a JsResultException whose
    # every error is a validation error (play-json's `error.expected.*` are) with 422.
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["message"] == "Invalid JSON"
    assert {"path": path, "errors": [error]} in answer["details"]


@pytest.mark.parametrize("raw", [b"{", b"{\"id\": \"/a\",}", b"not json"])
async def test_malformed_json_is_400(marathon: httpx.AsyncClient, raw: bytes) -> None:
    response = await marathon.post("/v2/apps", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["message"] == "Invalid JSON"


async def test_rollback_with_other_fields_over_http_is_422(marathon: httpx.AsyncClient) -> None:
    assert (await marathon.post("/v2/apps", json={"id": "/web", "cmd": "sleep 1", "instances": 0})).status_code == 201
    shown = (await marathon.get("/v2/apps/web")).json()["app"]
    response = await marathon.put("/v2/apps/web", json={"version": shown["version"], "cmd": "sleep 2"})
    assert response.status_code == 422, response.text
    assert response.json()["details"] == [
        {"path": "/", "errors": ["The 'version' field may only be combined with the 'id' field."]}]


async def test_group_with_app_outside_it_over_http_is_422(marathon: httpx.AsyncClient) -> None:
    response = await marathon.post("/v2/groups", json={"id": "/group", "apps": [{"id": "/app", "cmd": "sleep 1"}]})
    assert response.status_code == 422, response.text
    assert response.json()["details"] == [
        {"path": "/apps(0)/id", "errors": ["Identifier is not child of /group. Hint: use relative paths."]}]


async def test_a_pre_15_app_reads_back_as_marathon_15_showed_it(marathon: httpx.AsyncClient,
                                                                reference_dir: Path) -> None:
    """AppNormalization: `docker.portMappings` move to `container.portMappings`, `docker.network` becomes
    `networks`, requirePorts is false off host networking; the recorded 0.x app, posted, reads back in the
    shape the recorded 1.5 answer has for it, and its task starts (its service port is no host port)."""
    def recorded(name: str) -> dict[str, Any]:
        return dict(json.loads((reference_dir / f"marathon/recorded/{name}").read_text())["apps"][0])

    old, migrated = recorded("marathon-lb__zdd_app_blue.json"), recorded("marathon-lb__zdd_app_blue_marathon1.5.json")
    response = await marathon.post("/v2/apps", json=creatable(old) | {"instances": 1, "requirePorts": True})
    assert response.status_code == 201, response.text
    shown = (await marathon.get("/v2/apps/nginx-green")).json()["app"]
    assert (shown["networks"], shown["requirePorts"]) == (migrated["networks"], False)
    assert shown["container"]["docker"] == migrated["container"]["docker"]
    unlabelled = [{k: v for k, v in m.items() if k != "labels"} for m in migrated["container"]["portMappings"]]
    assert shown["container"]["portMappings"] == unlabelled and "portDefinitions" not in shown
    [task] = await running_tasks(marathon, "/nginx-green", 1)
    assert task["servicePorts"] == [10000]
