"""No phantom drift: what each Marathon version answers for an app we wrote compares equal to the spec.

Marathon fills defaults, assigns ports, omits (1.5+) or sends (older) empty collections, writes
numbers as doubles and moved networking fields in 1.5; none of that may become an action. GET
answers written for these tests (answers/, from FACTS.md) go through the same check; the contract
tests feed the real recorded answers of ../shared/reference through it too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.hashing import definition_hash
from reconciler.core.model import ActionKind, Actual, ActualApp, DesiredApp
from reconciler.core.naming import APP_LABEL, ENV_LABEL, HASH_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE
from reconciler.core.plan import build_plan
from tests.unit.core.planner_builders import MarathonVersion, applied, desired_app, desired_of, marathon_state

BRIDGED = desired_app(
    "api",
    instances=2,
    cmd="java -jar api.jar",
    cpus=0.5,
    mem=512,
    container={
        "type": "DOCKER",
        "docker": {
            "image": "registry.example.internal/api:1.4.2",
            "network": "BRIDGE",
            "portMappings": [{"containerPort": 8080}],
        },
        "volumes": [{"containerPath": "/data", "hostPath": "/srv/api", "mode": "RW"}],
    },
    healthChecks=[{"protocol": "HTTP", "path": "/health", "portIndex": 0}, {"protocol": "TCP", "intervalSeconds": 10}],
    env={"JAVA_OPTS": "-Xmx400m"},
    labels={"team": "users"},
    constraints=[["hostname", "UNIQUE"], ["rack", "GROUP_BY", "2"]],
    dependencies=["/int/db", "/int/cache"],
    upgradeStrategy={"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5},
    fetch=[{"uri": "https://example.internal/config.tgz"}],
)
HOST_NET = desired_app(
    "worker",
    cmd="./worker --port $PORT0",
    args=None,
    portDefinitions=[{"port": 0, "name": "http"}, {"port": 0, "name": "admin"}],
    healthChecks=[{"protocol": "COMMAND", "command": {"value": "true"}}],
    backoffSeconds=1,
    maxLaunchDelaySeconds=300,
)
PLAIN = desired_app("cache", cmd="redis-server", mem=64.0, instances=3)
PORTLESS_OLD_SAFE = desired_app("db", cmd="mysqld", cpus=1, env={}, labels={}, constraints=[], healthChecks=[])
APPS = {
    "bridged docker app": BRIDGED,
    "host networking, named ports": HOST_NET,
    "plain": PLAIN,
    "empty collections": PORTLESS_OLD_SAFE,
}


# Marathon 0.15 has no named port definitions, so a spec cannot ask for them there.
SHAPE_CASES = [
    (name, version)
    for name in sorted(APPS)
    for version in MarathonVersion
    if not (version == MarathonVersion.V0_15 and APPS[name] is HOST_NET)
]


@pytest.mark.parametrize(("name", "version"), SHAPE_CASES)
def test_marathon_shapes_are_not_drift(name: str, version: MarathonVersion) -> None:
    app = APPS[name]
    desired = desired_of(app)
    observed = marathon_state(applied(desired), version)
    plan = build_plan(desired, observed)
    assert plan.actions == (), [a.line() for a in plan.actions]


@pytest.mark.parametrize("version", list(MarathonVersion))
def test_real_drift_shows_through_every_shape(version: MarathonVersion) -> None:
    desired = desired_of(BRIDGED)
    observed = marathon_state(applied(desired), version)
    definition = json.loads(json.dumps(observed.apps[BRIDGED.app_id].definition))
    definition["container"]["docker"]["image"] = "registry.example.internal/api:hotfix"
    definition["healthChecks"][0]["timeoutSeconds"] = 2
    drifted = Actual(apps={BRIDGED.app_id: ActualApp(BRIDGED.app_id, definition, 2)})
    (action,) = build_plan(desired, drifted).actions
    assert action.kind == ActionKind.UPDATE
    paths = [change.path for change in action.changes]
    assert "/container/docker/image" in paths
    assert any(path.startswith("/healthChecks/") and path.endswith("/timeoutSeconds") for path in paths)


# GET answers, each with the fields an operator would have written in a spec for that app.
ANSWERS = Path(__file__).parent / "answers"
OWN_ANSWERS = [
    ("marathon-1.5-bridge.json", "/shop/web"),
    ("marathon-0.15-host.json", "/shop/worker"),
    ("marathon-1.5-bridge-two-checks.json", "/shop/cart"),
]
SPEC_FIELDS = ("id", "cmd", "cpus", "mem", "env", "labels", "constraints", "healthChecks", "instances")


def recorded_apps(path: Path) -> list[dict[str, Any]]:
    body = json.loads(path.read_text())
    if isinstance(body, list):
        return body
    return body["apps"] if "apps" in body else [body["app"]]


def spec_for(app: dict[str, Any]) -> dict[str, Any]:
    """What a spec author writes for `app`: a few fields, health checks reduced to their essentials."""
    spec = {key: app[key] for key in SPEC_FIELDS if app.get(key) not in (None, [], {})}
    if "healthChecks" in spec:
        essentials = ("protocol", "path", "port", "gracePeriodSeconds", "intervalSeconds", "timeoutSeconds")
        spec["healthChecks"] = [{k: v for k, v in check.items() if k in essentials} for check in app["healthChecks"]]
    container = app.get("container")
    if container:
        docker = container["docker"]
        mappings = container.get("portMappings") or docker.get("portMappings") or []
        spec["container"] = {
            "docker": {"image": docker["image"], "forcePullImage": docker["forcePullImage"]},
            "portMappings": [{k: v for k, v in m.items() if k in ("containerPort", "name")} for m in mappings],
        }
        spec["networks"] = [{"mode": "container/bridge"}]
    return spec


def assert_answer_is_not_drift(answer: Path, app_id: str) -> None:
    """The app of `answer` (a GET /v2/apps or /v2/apps/{id} body) against the spec written for it:
    no action."""
    (recorded,) = [a for a in recorded_apps(answer) if a["id"] == app_id]
    spec = spec_for(recorded)
    ownership = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, ENV_LABEL: "ref", APP_LABEL: app_id.strip("/")}
    spec["labels"] = {**spec.get("labels", {}), **ownership}
    app = DesiredApp(app_id, "ref", app_id.strip("/"), spec, int(recorded["instances"]))
    observed = {**recorded, "labels": {**spec["labels"], HASH_LABEL: definition_hash(spec)}}
    actual = Actual(apps={app_id: ActualApp(app_id, observed, int(recorded["instances"]))})
    plan = build_plan(desired_of(app), actual)
    assert plan.actions == (), [a.line() for a in plan.actions]


@pytest.mark.parametrize(("file_name", "app_id"), OWN_ANSWERS)
def test_marathon_answers_are_not_drift(file_name: str, app_id: str) -> None:
    assert_answer_is_not_drift(ANSWERS / file_name, app_id)


def test_a_changed_field_in_an_answer_is_drift() -> None:
    """The check above can fail: the same answer with a field someone edited in Marathon is an update."""
    (recorded,) = recorded_apps(ANSWERS / "marathon-0.15-host.json")
    spec = spec_for(recorded)
    spec["labels"] = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, ENV_LABEL: "ref", APP_LABEL: "shop/worker"}
    edited = {**recorded, "env": {"QUEUE": "refunds"}, "labels": {**spec["labels"], HASH_LABEL: definition_hash(spec)}}
    app = DesiredApp("/shop/worker", "ref", "shop/worker", spec, 3)
    (action,) = build_plan(desired_of(app), Actual(apps={"/shop/worker": ActualApp("/shop/worker", edited, 3)})).actions
    assert action.kind == ActionKind.UPDATE and [c.path for c in action.changes] == ["/env/QUEUE"]


@pytest.mark.parametrize("version", list(MarathonVersion))
def test_spec_change_on_a_marathon_shaped_app_lists_only_real_changes(version: MarathonVersion) -> None:
    """Defaults Marathon filled in for fields the spec never set are not "reset" on the next change."""
    observed = marathon_state(applied(desired_of(PLAIN)), version)
    changed = desired_app("cache", cmd="redis-server --appendonly yes", mem=64, instances=3)
    (action,) = build_plan(desired_of(changed), observed).actions
    assert action.kind == ActionKind.UPDATE
    assert [change.path for change in action.changes] == ["/cmd"]
    assert action.body is not None and "cpus" not in action.body and "upgradeStrategy" not in action.body
