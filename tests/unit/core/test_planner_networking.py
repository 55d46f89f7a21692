"""Switching an app between host and bridge networking: the write clears what Marathon would refuse
beside a container network (its stored port definitions), and Marathon's answer afterwards is no drift."""

from __future__ import annotations

from reconciler.core.model import ActionKind, Actual, ActualApp
from reconciler.core.normalize import normalize_definition, replaces_whole
from reconciler.core.plan import build_plan
from reconciler.core.ports import networking_resets
from reconciler.core.simulate import simulate_apply
from tests.unit.core.planner_builders import MarathonVersion, applied, desired_app, desired_of, marathon_state

DOCKER = {"type": "DOCKER", "docker": {"image": "api:1"}}
HOST = desired_app(
    "api",
    container=DOCKER,
    networks=[{"mode": "host"}],
    portDefinitions=[{"port": 31080, "name": "http"}],
    requirePorts=True,
)
BRIDGE = desired_app(
    "api",
    container={**DOCKER, "portMappings": [{"containerPort": 8080, "hostPort": 0, "name": "http"}]},
    networks=[{"mode": "container/bridge"}],
)


def test_host_to_bridge_sends_empty_port_definitions() -> None:
    observed = marathon_state(applied(desired_of(HOST)), MarathonVersion.V1_5)
    (action,) = build_plan(desired_of(BRIDGE), observed).actions
    assert action.kind == ActionKind.UPDATE and action.body is not None
    assert action.body["portDefinitions"] == []
    assert action.body["requirePorts"] is False  # the spec no longer pins: reset as well
    assert "/portDefinitions" in [change.path for change in action.changes]


def test_a_hand_made_switch_to_host_is_undone_with_the_reset_too() -> None:
    desired = desired_of(BRIDGE)
    observed = marathon_state(applied(desired), MarathonVersion.V1_5)
    app = observed.apps[BRIDGE.app_id]
    hand_made = {**app.definition, "networks": [{"mode": "host"}], "portDefinitions": [{"port": 10001}]}
    drifted = Actual(apps={app.app_id: ActualApp(app.app_id, hand_made, app.instances)})
    (action,) = build_plan(desired, drifted).actions
    assert action.reason.startswith("drift") and action.body is not None
    assert action.body["portDefinitions"] == []


def test_bridge_to_host_and_both_settled_states_plan_nothing_more() -> None:
    for before, after in ((BRIDGE, HOST), (HOST, BRIDGE)):
        observed = marathon_state(applied(desired_of(before)), MarathonVersion.V1_5)
        switched = marathon_state(applied(desired_of(after), observed), MarathonVersion.V1_5)
        assert build_plan(desired_of(after), switched).actions == ()


def test_no_reset_for_host_networking_or_when_marathon_holds_no_port_definitions() -> None:
    host = normalize_definition(HOST.definition)
    bridge = normalize_definition(BRIDGE.definition)
    assert networking_resets(host, host) == {}
    assert networking_resets(bridge, bridge) == {}
    assert networking_resets(host, bridge) == {}
    assert networking_resets(bridge, host) == {"portDefinitions": []}
    command = normalize_definition(desired_app("worker", cmd="run").definition)  # no networks: host
    assert networking_resets(command, host) == {}


def test_legacy_ports_of_a_bridged_app_are_its_service_ports_not_port_definitions() -> None:
    """Marathon before 1.5 lists a bridged app's mapping service ports in `ports`: no reset, no drift."""
    legacy = {
        "id": "/int/api",
        "ports": [10100],
        "container": {"type": "DOCKER", "docker": {"image": "api:1", "network": "BRIDGE"}},
    }
    assert "portDefinitions" not in normalize_definition(legacy)
    host = {"id": "/int/api", "ports": [10100]}
    assert normalize_definition(host)["portDefinitions"] == [{"port": 10100}]


def test_a_spec_that_drops_its_docker_container_replaces_the_whole_app() -> None:
    """A partial update keeps any field its body leaves out or sends as null (`container =
    update.container.orElse(app.container)`, src/main/scala/mesosphere/marathon/raml/AppConversion.scala
    line 220, mesosphere/marathon v1.10.26), so the write clears the container with null and goes out
    with partialUpdate=false (replaces_whole), where Marathon reads the body as a complete app."""
    command = desired_app("api", cmd="serve")
    observed = marathon_state(applied(desired_of(BRIDGE)), MarathonVersion.V1_5)
    (action,) = build_plan(desired_of(command), observed).actions
    assert action.kind == ActionKind.UPDATE and action.body is not None
    assert action.body["container"] is None and replaces_whole(action.body)
    assert "/container" in [change.path for change in action.changes]
    after = marathon_state(simulate_apply(build_plan(desired_of(command), observed), observed), MarathonVersion.V1_5)
    assert "container" not in after.apps["/int/api"].definition
    assert build_plan(desired_of(command), after).actions == ()  # Marathon's answer afterwards is no drift


def test_only_a_cleared_field_makes_a_write_replace_the_whole_app() -> None:
    observed = marathon_state(applied(desired_of(BRIDGE)), MarathonVersion.V1_5)
    image = {**DOCKER, "docker": {"image": "api:2"}}
    moved = desired_app("api", container=image, networks=[{"mode": "container/bridge"}])
    (action,) = build_plan(desired_of(moved), observed).actions
    assert action.body is not None and not replaces_whole(action.body)
