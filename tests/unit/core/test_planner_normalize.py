"""Normalisation rules, one row each: spellings that must compare equal, and ones that must not."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.core.normalize import normalize_definition, resolve_dependency
from reconciler.core.ports import adopt_assigned_ports

SAME: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "absent == null == [] == {}",
        {"id": "/a"},
        {"id": "/a", "args": None, "env": {}, "constraints": [], "container": None},
    ),
    ("numbers as numbers", {"id": "/a", "cpus": 0.5, "mem": 32}, {"id": "/a", "cpus": 0.5, "mem": 32.0}),
    ("status fields", {"id": "/a"}, {"id": "/a", "version": "v", "tasksRunning": 2, "deployments": [], "instances": 9}),
    (
        "top-level defaults",
        {"id": "/a"},
        {"id": "/a", "cpus": 1, "mem": 128, "disk": 0, "gpus": 0, "backoffFactor": 1.15},
    ),
    (
        "both launch-delay defaults",
        {"id": "/a", "maxLaunchDelaySeconds": 300},
        {"id": "/a", "maxLaunchDelaySeconds": 3600},
    ),
    (
        "unreachable strategy defaults",
        {"id": "/a"},
        {"id": "/a", "unreachableStrategy": {"inactiveAfterSeconds": 300, "expungeAfterSeconds": 600}},
    ),
    ("host networking is the default", {"id": "/a"}, {"id": "/a", "networks": [{"mode": "host"}]}),
    (
        "health check defaults",
        {"id": "/a", "healthChecks": [{"path": "/h"}]},
        {
            "id": "/a",
            "healthChecks": [
                {
                    "path": "/h",
                    "protocol": "HTTP",
                    "portIndex": 0,
                    "gracePeriodSeconds": 300,
                    "intervalSeconds": 60,
                    "timeoutSeconds": 20,
                    "maxConsecutiveFailures": 3,
                    "ignoreHttp1xx": False,
                    "delaySeconds": 15,
                }
            ],
        },
    ),
    (
        "health checks are a set",
        {"id": "/a", "healthChecks": [{"path": "/a"}, {"protocol": "TCP"}]},
        {"id": "/a", "healthChecks": [{"protocol": "TCP"}, {"path": "/a"}]},
    ),
    (
        "constraints are a set",
        {"id": "/a", "constraints": [["a", "UNIQUE"], ["b", "CLUSTER", "x"]]},
        {"id": "/a", "constraints": [["b", "CLUSTER", "x"], ["a", "UNIQUE"]]},
    ),
    (
        "relative dependencies",
        {"id": "/e/a", "dependencies": ["db", "../f/x"]},
        {"id": "/e/a", "dependencies": ["/f/x", "/e/db"]},
    ),
    (
        "docker defaults",
        {"id": "/a", "container": {"docker": {"image": "i"}}},
        {
            "id": "/a",
            "container": {
                "type": "DOCKER",
                "docker": {"image": "i", "forcePullImage": False, "privileged": False, "parameters": []},
                "volumes": [],
            },
        },
    ),
    (
        "docker network -> networks, docker portMappings -> container portMappings",
        {
            "id": "/a",
            "container": {"docker": {"image": "i", "network": "BRIDGE", "portMappings": [{"containerPort": 80}]}},
        },
        {
            "id": "/a",
            "networks": [{"mode": "container/bridge"}],
            "container": {
                "docker": {"image": "i"},
                "portMappings": [{"containerPort": 80, "hostPort": 0, "protocol": "tcp", "labels": {}}],
            },
        },
    ),
    ("uris -> fetch", {"id": "/a", "fetch": [{"uri": "u"}]}, {"id": "/a", "uris": ["u"]}),
    (
        "fetch defaults",
        {"id": "/a", "fetch": [{"uri": "u"}]},
        {"id": "/a", "fetch": [{"uri": "u", "extract": True, "cache": False, "executable": False}]},
    ),
    (
        "ports -> portDefinitions",
        {"id": "/a", "portDefinitions": [{"port": 8080, "protocol": "tcp"}]},
        {"id": "/a", "ports": [8080]},
    ),
    (
        "upgrade strategy defaults",
        {"id": "/a"},
        {"id": "/a", "upgradeStrategy": {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1}},
    ),
    (
        "our hash and revision labels",
        {"id": "/a", "labels": {"t": "x"}},
        {"id": "/a", "labels": {"t": "x", "reconciler.definition-hash": "h", "reconciler.revision": "r"}},
    ),
]

DIFFERENT: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "non-default nested value",
        {"id": "/a", "healthChecks": [{"path": "/h"}]},
        {"id": "/a", "healthChecks": [{"path": "/h", "intervalSeconds": 5}]},
    ),
    (
        "privileged docker",
        {"id": "/a", "container": {"docker": {"image": "i"}}},
        {"id": "/a", "container": {"docker": {"image": "i", "privileged": True}}},
    ),
    ("port definitions keep their order", {"id": "/a", "ports": [1, 2]}, {"id": "/a", "ports": [2, 1]}),
    ("env member", {"id": "/a", "env": {"A": "1"}}, {"id": "/a", "env": {"A": "1", "B": ""}}),
    ("other labels count", {"id": "/a", "labels": {"t": "x"}}, {"id": "/a", "labels": {"t": "y"}}),
]


@pytest.mark.parametrize(("name", "one", "other"), SAME, ids=[row[0] for row in SAME])
def test_spellings_that_normalise_alike(name: str, one: dict[str, Any], other: dict[str, Any]) -> None:
    assert normalize_definition(one) == normalize_definition(other), name


@pytest.mark.parametrize(("name", "one", "other"), DIFFERENT, ids=[row[0] for row in DIFFERENT])
def test_differences_that_survive_normalisation(name: str, one: dict[str, Any], other: dict[str, Any]) -> None:
    assert normalize_definition(one) != normalize_definition(other), name


def test_normalisation_leaves_its_input_alone() -> None:
    definition = {"id": "/a", "container": {"docker": {"image": "i", "network": "BRIDGE"}}, "env": {}}
    normalize_definition(definition)
    assert definition == {"id": "/a", "container": {"docker": {"image": "i", "network": "BRIDGE"}}, "env": {}}


@pytest.mark.parametrize(
    ("desired", "actual", "expected"),
    [
        (
            {"portDefinitions": [{}, {"name": "admin"}]},
            {"portDefinitions": [{"port": 10001}, {"port": 10002}]},
            [{"port": 10001}, {"port": 10002, "name": "admin"}],
        ),
        ({"portDefinitions": [{"port": 80}]}, {"portDefinitions": [{"port": 10001}]}, [{"port": 80}]),
        ({"portDefinitions": [{}, {}]}, {"portDefinitions": [{"port": 10001}]}, [{"port": 10001}, {}]),
    ],
)
def test_assigned_ports_are_adopted_only_where_the_spec_asked_for_any(desired: Any, actual: Any, expected: Any) -> None:
    assert adopt_assigned_ports(desired, actual)["portDefinitions"] == expected


def test_assigned_service_ports_are_adopted() -> None:
    desired = {"container": {"portMappings": [{"containerPort": 80}]}}
    actual = {"container": {"portMappings": [{"containerPort": 80, "servicePort": 10019}]}}
    assert adopt_assigned_ports(desired, actual) == actual


@pytest.mark.parametrize(
    ("app_id", "dependency", "expected"),
    [("/e/a", "db", "/e/db"), ("/e/a", "/x/y", "/x/y"), ("/e/a", "../f/db", "/f/db"), ("/a", "db", "/db")],
)
def test_dependencies_resolve_against_the_apps_group(app_id: str, dependency: str, expected: str) -> None:
    assert resolve_dependency(app_id, dependency) == expected
