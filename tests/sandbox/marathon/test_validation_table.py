"""Table of what Marathon refuses, checked against the sandbox's validation (sandbox layer tests).

Each row is one invalid body, the JSON path Marathon reports and the error text at that path; the
wording comes from Marathon's validators (AppValidation.scala, SchedulingValidation.scala,
PathId.scala) or play-json's reader keys. Valid bodies come from the published reference examples.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox.marathon.validation import (
    JsonLimitError,
    JsonTypeError,
    canonical_path,
    scala_number,
    validate_app,
    validate_app_update,
    validate_group,
)

SEGMENT_ERROR = (
    "must fully match regular expression "
    r"'^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])|(\.|\.\.)$'"
)
RESERVED_ERROR = "must not end with any of the following reserved keywords: restart, tasks, versions"
CMD_ERROR = "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."
OPERATOR_ERROR = "operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER, UNLIKE or IS"
IS_ONLY_TEXT = (
    "IS only supports Mesos text and float values (see http://mesos.apache.org/documentation/latest/attributes-resources/)"
)
PORT_INDEX_ERROR = "Health check port indices must address an element of the ports array or container port mappings."


def app(**fields: Any) -> dict[str, Any]:
    """A valid app body with `fields` replacing or adding keys."""
    return {"id": "/web", "cmd": "sleep 1000", **fields}


def hc(**fields: Any) -> dict[str, Any]:
    return app(healthChecks=[{"protocol": "HTTP", "portIndex": 0, **fields}])


# (row id, body, path, one error Marathon reports at that path) -> 422 details
INVALID_APPS: list[tuple[str, dict[str, Any], str, str]] = [
    ("id-uppercase", app(id="/Web"), "/id", SEGMENT_ERROR),
    ("id-underscore", app(id="/my_app"), "/id", SEGMENT_ERROR),
    ("id-leading-dash", app(id="/-web"), "/id", SEGMENT_ERROR),
    ("id-trailing-dash", app(id="/web-"), "/id", SEGMENT_ERROR),
    ("id-space", app(id="/a b"), "/id", SEGMENT_ERROR),
    ("id-symbols", app(id="/a#$%b"), "/id", SEGMENT_ERROR),
    ("id-bad-middle-segment", app(id="/prod/Front/web"), "/id", SEGMENT_ERROR),
    ("id-double-dot-label", app(id="/a..b"), "/id", SEGMENT_ERROR),
    ("id-reserved-restart", app(id="/web/restart"), "/id", RESERVED_ERROR),
    ("id-reserved-tasks", app(id="/tasks"), "/id", RESERVED_ERROR),
    ("id-reserved-versions", app(id="/a/versions"), "/id", RESERVED_ERROR),
    ("id-root", app(id="/"), "/id", "Path must contain at least one path element"),
    ("cmd-and-args", app(args=["sleep", "1"]), "/", CMD_ERROR),
    ("no-cmd-args-container", {"id": "/web"}, "/", CMD_ERROR),
    ("cmd-args-and-container", app(args=["a"], container={"type": "DOCKER", "docker": {"image": "nginx"}}), "/",
     CMD_ERROR),
    ("empty-cmd", app(cmd=""), "/", CMD_ERROR),
    ("cpus-negative", app(cpus=-3), "/cpus", "got -3.0, expected 0.001 or more"),
    ("cpus-zero", app(cpus=0), "/cpus", "got 0.0, expected 0.001 or more"),
    ("mem-negative", app(mem=-3.0), "/mem", "got -3.0, expected 0.0 or more"),
    ("disk-negative", app(disk=-0.5), "/disk", "got -0.5, expected 0.0 or more"),
    ("gpus-negative", app(gpus=-1), "/gpus", "got -1, expected 0 or more"),
    ("instances-negative", app(instances=-3), "/instances", "got -3, expected 0 or more"),
    ("backoff-seconds-negative", app(backoffSeconds=-1), "/backoffSeconds", "got -1, expected 0 or more"),
    ("backoff-factor-below-one", app(backoffFactor=0.5), "/backoffFactor", "got 0.5, expected 1.0 or more"),
    ("max-launch-delay-negative", app(maxLaunchDelaySeconds=-5), "/maxLaunchDelaySeconds",
     "got -5, expected 0 or more"),
    ("kill-grace-negative", app(taskKillGracePeriodSeconds=-1), "/taskKillGracePeriodSeconds",
     "got -1, expected 0 or more"),
    ("min-health-above-one", app(upgradeStrategy={"minimumHealthCapacity": 1.2}),
     "/upgradeStrategy/minimumHealthCapacity", "got 1.2, expected between 0.0 and 1.0"),
    ("min-health-negative", app(upgradeStrategy={"minimumHealthCapacity": -1.2}),
     "/upgradeStrategy/minimumHealthCapacity", "got -1.2, expected between 0.0 and 1.0"),
    ("over-capacity-above-one", app(upgradeStrategy={"minimumHealthCapacity": 0.5, "maximumOverCapacity": 1.2}),
     "/upgradeStrategy/maximumOverCapacity", "got 1.2, expected between 0.0 and 1.0"),
    ("over-capacity-negative", app(upgradeStrategy={"maximumOverCapacity": -0.1}),
     "/upgradeStrategy/maximumOverCapacity", "got -0.1, expected between 0.0 and 1.0"),
    ("hc-port-index-out-of-range", hc(portIndex=1), "/healthChecks(0)", PORT_INDEX_ERROR),
    ("hc-port-index-no-ports", app(portDefinitions=[], healthChecks=[{"protocol": "TCP"}]), "/healthChecks(0)",
     PORT_INDEX_ERROR),
    ("hc-port-and-port-index", hc(port=8080), "/healthChecks(0)",
     "Health check must specify either a port or a portIndex, not both."),
    ("hc-interval-negative", hc(intervalSeconds=-1), "/healthChecks(0)/intervalSeconds", "got -1, expected 0 or more"),
    ("hc-grace-negative", hc(gracePeriodSeconds=-10), "/healthChecks(0)/gracePeriodSeconds",
     "got -10, expected 0 or more"),
    ("hc-failures-negative", hc(maxConsecutiveFailures=-1), "/healthChecks(0)/maxConsecutiveFailures",
     "got -1, expected 0 or more"),
    ("hc-command-missing", app(healthChecks=[{"protocol": "COMMAND"}]), "/healthChecks(0)/command",
     "must not be empty"),
    ("hc-two-mesos-checks", app(healthChecks=[{"protocol": "MESOS_HTTP"}, {"protocol": "MESOS_TCP"}]), "/",
     "AppDefinition can contain at most one Mesos health check"),
    ("constraint-one-field", app(constraints=[["hostname"]]), "/constraints(0)",
     "Each constraint must have either 2 or 3 fields"),
    ("constraint-four-fields", app(constraints=[["hostname", "CLUSTER", "a", "b"]]), "/constraints(0)",
     "Each constraint must have either 2 or 3 fields"),
    # SchedulingValidation.complyWithAppConstraintRules / complyWithConstraintRules (v1.10.26), their messages.
    ("constraint-unknown-operator", app(constraints=[["hostname", "EVERYWHERE"]]), "/constraints(0)", OPERATOR_ERROR),
    ("constraint-empty-field", app(constraints=[["", "CLUSTER", "a"]]), "/constraints(0)",
     "illegal constraint specification"),
    ("constraint-unique-with-value", app(constraints=[["hostname", "UNIQUE", "x"]]), "/constraints(0)",
     "UNIQUE does not accept a value"),
    ("constraint-unique-with-empty-value", app(constraints=[["hostname", "UNIQUE", ""]]), "/constraints(0)",
     "UNIQUE does not accept a value"),
    ("constraint-is-with-space", app(constraints=[["rack", "IS", "a b"]]), "/constraints(0)", IS_ONLY_TEXT),
    ("constraint-is-range", app(constraints=[["rack", "is", "[0-9]"]]), "/constraints(0)", IS_ONLY_TEXT),
    ("constraint-group-by-not-number", app(constraints=[["rack", "GROUP_BY", "many"]]), "/constraints(0)",
     "GROUP BY must define an integer value or else no value at all"),
    ("constraint-max-per-not-number", app(constraints=[["rack", "MAX_PER", "two"]]), "/constraints(0)",
     "MAX_PER requires an integer value"),
    ("constraint-max-per-no-value", app(constraints=[["rack", "MAX_PER"]]), "/constraints(0)",
     "MAX_PER requires an integer value"),
    ("constraint-like-no-value", app(constraints=[["hostname", "LIKE"]]), "/constraints(0)",
     "LIKE and UNLIKE require a non-empty, regular expression value"),
    ("constraint-unlike-bad-regex", app(constraints=[["hostname", "UNLIKE", "a["]]), "/constraints(0)",
     "is not a valid regular expression"),
    ("constraint-second-of-two", app(constraints=[["hostname", "UNIQUE"], ["rack", "MAX_PER"]]), "/constraints(1)",
     "MAX_PER requires an integer value"),
    ("dependency-uppercase", app(dependencies=["/Prod/db"]), "/dependencies(0)", SEGMENT_ERROR),
    ("dependency-second-bad", app(dependencies=["/prod/db", "/prod/cache_"]), "/dependencies(1)", SEGMENT_ERROR),
    ("port-names-duplicate", app(portDefinitions=[{"port": 0, "name": "http"}, {"port": 0, "name": "http"}]),
     "/portDefinitions", "Port names must be unique."),
    ("ports-duplicate", app(portDefinitions=[{"port": 9000}, {"port": 9000}]), "/portDefinitions",
     "Ports must be unique."),
    ("mapping-names-duplicate", app(container={"type": "DOCKER", "docker": {"image": "nginx"}, "portMappings": [
        {"containerPort": 80, "name": "web"}, {"containerPort": 81, "name": "web"}]},
        networks=[{"mode": "container/bridge"}]), "/container/portMappings", "Port names must be unique."),
    ("docker-without-docker", app(container={"type": "DOCKER"}), "/container/docker", "must not be empty"),
    ("docker-empty-image", app(container={"type": "DOCKER", "docker": {"image": ""}}), "/container/docker/image",
     "must not be empty"),
    ("mappings-with-host-network", app(networks=[{"mode": "host"}], container={
        "type": "DOCKER", "docker": {"image": "nginx"}, "portMappings": [{"containerPort": 80}]}), "/",
     "portMappings are not allowed with host-networking"),
    ("port-definitions-on-bridge", app(networks=[{"mode": "container/bridge"}], portDefinitions=[{"port": 0}]), "/",
     "portDefinitions are only allowed with host-networking"),
    ("unreachable-inactive-above-expunge", app(unreachableStrategy={"inactiveAfterSeconds": 600,
                                                                    "expungeAfterSeconds": 300}),
     "/unreachableStrategy/inactiveAfterSeconds",
     "inactiveAfterSeconds (600) must be less or equal to expungeAfterSeconds, which is 300"),
    ("unreachable-expunge-defaults-to-zero", app(unreachableStrategy={"inactiveAfterSeconds": 60}),
     "/unreachableStrategy/inactiveAfterSeconds",
     "inactiveAfterSeconds (60) must be less or equal to expungeAfterSeconds, which is 0"),
]

BRIDGE = [{"mode": "container/bridge"}]


def mapped(**mapping: Any) -> dict[str, Any]:
    """A bridged docker app with one port mapping."""
    return app(networks=BRIDGE, container={"type": "DOCKER", "docker": {"image": "nginx"},
                                           "portMappings": [{"containerPort": 80, **mapping}]})


# (row id, body, path, play-json key) -> JsonLimitError (422 "Invalid JSON"): RAML numbers.AnyPort is 0-65535,
# checked by the generated readers (Reads.min / Reads.max), not by accord.
OUT_OF_LIMITS: list[tuple[str, dict[str, Any], str, str]] = [
    ("port-definition-above-65535", app(portDefinitions=[{"port": 70000}]), "/portDefinitions(0)/port", "error.max"),
    ("port-definition-negative", app(portDefinitions=[{"port": 0}, {"port": -1}]), "/portDefinitions(1)/port",
     "error.min"),
    ("mapping-container-port-above", mapped(containerPort=65536), "/container/portMappings(0)/containerPort",
     "error.max"),
    ("mapping-host-port-negative", mapped(hostPort=-5), "/container/portMappings(0)/hostPort", "error.min"),
    ("mapping-service-port-above", mapped(servicePort=99999), "/container/portMappings(0)/servicePort", "error.max"),
    ("hc-port-above", app(healthChecks=[{"protocol": "TCP", "port": 70000}]), "/healthChecks(0)/port", "error.max"),
]

# (row id, body, path, play-json key) -> JsonTypeError (422 "Invalid JSON", MarathonExceptionMapper)
WRONG_TYPES: list[tuple[str, object, str, str]] = [
    ("body-not-object", ["not", "an", "app"], "/", "error.expected.jsobject"),
    ("id-missing", {"cmd": "sleep 1"}, "/id", "error.path.missing"),
    ("id-number", app(id=123), "/id", "error.expected.jsstring"),
    ("cpus-string", app(cpus="0.5"), "/cpus", "error.expected.jsnumber"),
    ("mem-bool", app(mem=True), "/mem", "error.expected.jsnumber"),
    ("disk-object", app(disk={}), "/disk", "error.expected.jsnumber"),
    ("instances-string", app(instances="3"), "/instances", "error.expected.jsnumber"),
    ("instances-fraction", app(instances=1.5), "/instances", "error.expected.int"),
    ("cmd-list", app(cmd=["sleep", "1"]), "/cmd", "error.expected.jsstring"),
    ("args-string", {"id": "/web", "args": "sleep 1"}, "/args", "error.expected.jsarray"),
    ("args-item-number", {"id": "/web", "args": ["sleep", 1]}, "/args(1)", "error.expected.jsstring"),
    ("label-value-number", app(labels={"tier": 1}), "/labels/tier", "error.expected.jsstring"),
    ("label-value-bool", app(labels={"public": True}), "/labels/public", "error.expected.jsstring"),
    ("labels-list", app(labels=["a"]), "/labels", "error.expected.jsobject"),
    ("env-value-number", app(env={"PORT": 8080}), "/env/PORT", "error.expected.jsstring"),
    ("env-secret-not-string", app(env={"DB": {"secret": 1}}), "/env/DB", "error.expected.jsstring"),
    ("kill-selection-unknown", app(killSelection="RANDOM"), "/killSelection", "error.unknown.enum.literal"),
    ("hc-protocol-unknown", hc(protocol="MARATHON_HTTP"), "/healthChecks(0)/protocol", "error.unknown.enum.literal"),
    ("hc-interval-string", hc(intervalSeconds="10"), "/healthChecks(0)/intervalSeconds", "error.expected.jsnumber"),
    ("network-mode-unknown", app(networks=[{"mode": "overlay"}]), "/networks(0)/mode", "error.unknown.enum.literal"),
    ("container-type-unknown", app(container={"type": "RKT"}), "/container/type", "error.unknown.enum.literal"),
    ("docker-image-missing", app(container={"type": "DOCKER", "docker": {}}), "/container/docker/image",
     "error.path.missing"),
    ("constraint-not-list", app(constraints=["hostname:UNIQUE"]), "/constraints(0)", "error.expected.jsarray"),
    ("constraint-field-number", app(constraints=[["hostname", "MAX_PER", 2]]), "/constraints(0)(2)",
     "error.expected.jsstring"),
    ("upgrade-strategy-string", app(upgradeStrategy="rolling"), "/upgradeStrategy", "error.expected.jsobject"),
    ("require-ports-string", app(requirePorts="yes"), "/requirePorts", "error.expected.jsboolean"),
    ("dependencies-string", app(dependencies="/db"), "/dependencies", "error.expected.jsarray"),
]


def detail_errors(details: list[dict[str, object]], path: str) -> list[object]:
    """The errors reported at `path` (empty when the path has none)."""
    return [e for d in details if d["path"] == path for e in d["errors"]]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("body", "path", "error"), [r[1:] for r in INVALID_APPS], ids=[r[0] for r in INVALID_APPS])
def test_invalid_app_is_refused_with_marathons_detail(body: dict[str, Any], path: str, error: str) -> None:
    details = validate_app(body)
    assert error in detail_errors(details, path), details
    assert all(set(d) == {"path", "errors"} for d in details)


@pytest.mark.parametrize(("body", "path", "error"), [r[1:] for r in WRONG_TYPES], ids=[r[0] for r in WRONG_TYPES])
def test_wrong_json_type_raises_play_json_key(body: object, path: str, error: str) -> None:
    with pytest.raises(JsonTypeError) as caught:
        validate_app(body)
    assert error in detail_errors(caught.value.details, path), caught.value.details


@pytest.mark.parametrize(("body", "path", "error"), [r[1:] for r in OUT_OF_LIMITS], ids=[r[0] for r in OUT_OF_LIMITS])
def test_value_beyond_a_raml_limit_is_422_invalid_json(body: dict[str, Any], path: str, error: str) -> None:
    with pytest.raises(JsonLimitError) as caught:
        validate_app(body)
    assert caught.value.status == 422
    assert caught.value.details == [{"path": path, "errors": [error]}]


def test_limit_and_type_errors_together_are_422_too() -> None:
    """MarathonExceptionMapper.exceptionStatusEntity: 422 when every JsResultException error carries a
    validation error, which play-json's type errors (`error.expected.*`) do (corrected FACTS §1)."""
    with pytest.raises(JsonTypeError) as caught:
        validate_app(app(portDefinitions=[{"port": 70000}], cpus="1"))
    assert caught.value.status == 422 and not isinstance(caught.value, JsonLimitError)
    assert detail_errors(caught.value.details, "/portDefinitions(0)/port") == ["error.max"]


def test_table_is_large_enough_to_mean_something() -> None:
    assert len(INVALID_APPS) + len(WRONG_TYPES) >= 40


VALID_VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("minimal", app()),
    ("args-only", {"id": "/web", "args": ["sleep", "1"]}),
    ("docker-only", {"id": "/web", "container": {"type": "DOCKER", "docker": {"image": "nginx"}}}),
    ("relative-id", app(id="web")),
    ("dotted-labels-id", app(id="/prod/web.v2/api-1")),
    ("dot-segments-resolve", app(id="/prod/./web")),
    ("enum-any-case", app(killSelection="oldest_first", healthChecks=[{"protocol": "http"}])),
    ("port-zero-repeats", app(portDefinitions=[{"port": 0}, {"port": 0}])),
    ("constraints-all-operators", app(constraints=[
        ["hostname", "UNIQUE"], ["rack", "CLUSTER", "r1"], ["rack", "GROUP_BY"], ["rack", "GROUP_BY", "3"],
        ["hostname", "LIKE", "srv.*"], ["hostname", "UNLIKE", "db.*"], ["rack", "MAX_PER", "2"], ["zone", "IS", "a"]])),
    # SchedulingValidationTest: operators in any case; CLUSTER and IS without a value; IS with a Mesos text.
    ("constraints-lowercase-operators", app(constraints=[["hostname", "unique"], ["rack", "cluster", "r1"],
                                                         ["rack", "Max_Per", "2"]])),
    ("constraints-without-values", app(constraints=[["hostname", "CLUSTER"], ["rack", "IS"],
                                                    ["rack", "CLUSTER", ""], ["hostname", "LIKE", ""]])),
    ("constraint-is-text", app(constraints=[["attribute", "IS", "value-1.2/3_4"]])),
    ("hc-port-instead-of-index", app(healthChecks=[{"protocol": "TCP", "port": 8080}])),
    ("hc-command", app(healthChecks=[{"protocol": "COMMAND", "command": {"value": "true"}}])),
    ("nulls-are-absent", app(cpus=None, labels=None)),
    ("ports-at-the-limits", app(portDefinitions=[{"port": 0}, {"port": 65535}])),
    ("unreachable-inactive-equal-expunge", app(unreachableStrategy={"inactiveAfterSeconds": 300,
                                                                    "expungeAfterSeconds": 300})),
    ("unreachable-disabled", app(unreachableStrategy="disabled")),
    ("bounds-inclusive", app(instances=0, backoffFactor=1.0, upgradeStrategy={
        "minimumHealthCapacity": 0.0, "maximumOverCapacity": 1.0})),
]


@pytest.mark.parametrize("body", [v[1] for v in VALID_VARIANTS], ids=[v[0] for v in VALID_VARIANTS])
def test_valid_variants_pass(body: dict[str, Any]) -> None:
    assert validate_app(body) == []


def test_several_problems_are_all_reported_grouped_by_path() -> None:
    details = validate_app(app(id="/Web", cpus=-1, mem=-1, args=["x"]))
    assert [d["path"] for d in details] == ["/id", "/", "/cpus", "/mem"]


# --- partial updates (PUT/PATCH) -----------------------------------------------------------------


@pytest.mark.parametrize("body", [
    {"version": "2017-07-19T17:34:41.967Z", "cmd": "sleep 5"},
    {"version": "2017-07-19T17:34:41.967Z", "instances": 3},
    {"version": "2017-07-19T17:34:41.967Z", "id": "/web", "labels": {}},
])
def test_rollback_version_combined_with_other_fields_is_refused(body: dict[str, Any]) -> None:
    assert validate_app_update(body) == [
        {"path": "/", "errors": ["The 'version' field may only be combined with the 'id' field."]}]


@pytest.mark.parametrize("body", [
    {"version": "2017-07-19T17:34:41.967Z"},
    {"version": "2017-07-19T17:34:41.967Z", "id": "/web"},
    {"instances": 5},
    {"labels": {"a": "b"}, "env": {"X": "1"}},
    {},
])
def test_partial_updates_that_marathon_accepts(body: dict[str, Any]) -> None:
    assert validate_app_update(body) == []


def test_partial_update_checks_only_the_fields_present() -> None:
    assert validate_app_update({"instances": -1}) == [{"path": "/instances", "errors": ["got -1, expected 0 or more"]}]
    assert validate_app_update({"id": "/Web"}) == [{"path": "/id", "errors": [SEGMENT_ERROR]}]


def test_partial_update_type_errors_raise() -> None:
    with pytest.raises(JsonTypeError) as caught:
        validate_app_update({"instances": "five"})
    assert caught.value.details == [{"path": "/instances", "errors": ["error.expected.jsnumber"]}]


# --- groups ---------------------------------------------------------------------------------------


def test_group_app_outside_the_group_is_not_its_child() -> None:
    details = validate_group({"id": "/group", "apps": [{"id": "/app", "cmd": "sleep 1"}]}, group_id="/group")
    not_child = "Identifier is not child of /group. Hint: use relative paths."
    assert details == [{"path": "/apps(0)/id", "errors": [not_child]}]


def test_group_nested_paths_name_app_and_field() -> None:
    body = {"id": "/g", "apps": [{"id": "ok", "cmd": "x"}, {"id": "web", "cmd": "x", "cpus": -1}],
            "groups": [{"id": "sub", "apps": [{"id": "Bad", "cmd": "x"}]}]}
    details = validate_group(body, group_id="/g")
    assert detail_errors(details, "/apps(1)/cpus") == ["got -1.0, expected 0.001 or more"]
    assert detail_errors(details, "/groups(0)/apps(0)/id") == [SEGMENT_ERROR]


def test_group_relative_ids_resolve_against_the_group() -> None:
    body = {"id": "/a/b", "apps": [{"id": "web", "cmd": "x"}, {"id": "../b/api", "cmd": "x"}],
            "groups": [{"id": "/a/b/c", "apps": [{"id": "db", "cmd": "x"}]}]}
    assert validate_group(body, group_id="/a/b") == []


def test_group_subgroup_not_child_and_app_group_clash() -> None:
    body = {"id": "/g", "apps": [{"id": "x", "cmd": "y"}], "groups": [{"id": "x"}, {"id": "/other"}]}
    details = validate_group(body, group_id="/g")
    assert detail_errors(details, "/groups(0)") == ["Groups and Applications may not have the same identifier."]
    assert detail_errors(details, "/groups(1)/id") == ["Identifier is not child of /g. Hint: use relative paths."]


def test_group_app_without_id_and_wrong_types() -> None:
    assert validate_group({"apps": [{"cmd": "x"}]}, group_id="/g") == [
        {"path": "/apps(0)/id", "errors": ["error.path.missing"]}]
    with pytest.raises(JsonTypeError) as caught:
        validate_group({"apps": {"id": "x"}}, group_id="/g")
    assert caught.value.details == [{"path": "/apps", "errors": ["error.expected.jsarray"]}]
    with pytest.raises(JsonTypeError) as caught:
        validate_group({"groups": [{"apps": [{"id": "a", "cpus": "1"}]}]}, group_id="/g")
    assert caught.value.details == [{"path": "/groups(0)/apps(0)/cpus", "errors": ["error.expected.jsnumber"]}]


# --- small pieces ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "base", "expected"), [
    ("web", "/", "/web"), ("/a/b", "/x", "/a/b"), ("b", "/a", "/a/b"), ("../c", "/a/b", "/a/c"),
    ("./d", "/a", "/a/d"), ("/", "/a", "/"), ("a//b/", "/", "/a/b"),
])
def test_canonical_path(raw: str, base: str, expected: str) -> None:
    assert canonical_path(raw, base) == expected


@pytest.mark.parametrize(("value", "double", "text"), [
    (-3, True, "-3.0"), (-0.5, True, "-0.5"), (0.001, True, "0.001"), (1e-4, True, "1.0E-4"), (-3, False, "-3"),
    (12345678.0, True, "1.2345678E7"),
])
def test_numbers_print_as_scala_does(value: float, double: bool, text: str) -> None:
    assert scala_number(value, double=double) == text


# --- the published examples are valid -------------------------------------------------------------

APP_EXAMPLES = [
    "marathon/examples/app-definitions-v0.15.7/Docker.json",
    "marathon/examples/app-definitions-v0.15.7/Play.json",
    "marathon/examples/app-definitions-v0.15.7/PythonSimpleHTTPServer.json",
    "marathon/examples/app-definitions-v0.15.7/Rails.json",
    "marathon/examples/app-definitions-v0.15.7/Tomcat-Docker.json",
    "marathon/examples/app-definitions-v0.15.7/Tomcat.json",
    "marathon/examples/app-definitions-v0.15.7/bridge.json",
    "marathon/examples/app-definitions-v0.15.7/labels.json",
    "marathon/examples/articles-master/requests/app-simple.json",
    "marathon/examples/v2-docs-master/app-check-http-example.json",
]
APP_LIST_EXAMPLES = [f"marathon/examples/{v}/apps_create.json" for v in ("v2-docs-master", "v2-docs-v1.3.14")]
GROUP_EXAMPLES = [
    "marathon/examples/app-definitions-v0.15.7/Group.json",
    "marathon/examples/benchmark-real-group/155_100.json",
    "marathon/examples/v2-docs-master/group.json",
    "marathon/examples/v2-docs-v1.3.14/group.json",
]


def load(reference_dir: Path, relative: str) -> Any:
    return json.loads((reference_dir / relative).read_text())


@pytest.mark.reference
@pytest.mark.parametrize("relative", APP_EXAMPLES)
def test_published_app_definitions_are_valid(reference_dir: Path, relative: str) -> None:
    assert validate_app(load(reference_dir, relative)) == []


@pytest.mark.reference
@pytest.mark.parametrize("relative", APP_LIST_EXAMPLES)
def test_published_bulk_app_bodies_are_valid(reference_dir: Path, relative: str) -> None:
    bodies = load(reference_dir, relative)
    assert isinstance(bodies, list) and bodies
    assert [validate_app(body) for body in bodies] == [[] for _ in bodies]


@pytest.mark.reference
@pytest.mark.parametrize("relative", GROUP_EXAMPLES)
def test_published_groups_are_valid(reference_dir: Path, relative: str) -> None:
    body = load(reference_dir, relative)
    assert validate_group(body, group_id=canonical_path(body.get("id", "/"))) == []


@pytest.mark.reference
def test_published_app_with_both_cmd_and_args_is_what_marathon_refuses(reference_dir: Path) -> None:
    """The v2 docs' app.json (a response example) carries cmd and args together: the validator refuses that.
    It declares secrets too, and its PASSWORD references `/db/password`, which it does not declare (its secrets
    are secret1 and secret3): refused without the secrets feature, and with it for the undefined reference."""
    body = load(reference_dir, "marathon/examples/v2-docs-master/app.json")
    undefined = {"path": "/env/PASSWORD/secret", "errors": [UNDEFINED_SECRET]}
    assert validate_app(body) == [
        {"path": "/", "errors": [CMD_ERROR]},
        {"path": "/secrets", "errors": [FEATURE_DISABLED]},
        {"path": "/env", "errors": [SECRET_REFS_NEED_FEATURE]},
        undefined,
    ]
    assert validate_app(body, features=SECRETS) == [{"path": "/", "errors": [CMD_ERROR]}, undefined]


# --- secrets (AppValidation.validBasicAppDefinition, SecretValidation, EnvVarValidation) ---------------------------
# The wording is Marathon's: Validation.featureEnabled (its stray closing parenthesis included, as
# AppsResourceTest "The secrets feature is NOT enabled..." quotes it), EnvVarValidationMessages, and
# SecretValidation ("references an undefined secret" at /env/<NAME>/secret, as AppsResourceTest
# "Create a new app (that uses undefined secret ref) and fails" shows the path). An empty name is
# `s.keys is every(notEmpty)`: `/secrets/keys(0)`, as EnvVarValidationTest shows `/keys(0)` for env's keys.
FEATURE_DISABLED = "Feature secrets is not enabled. Enable with --enable_features secrets)"
SECRET_REFS_NEED_FEATURE = "use of secret-references in the environment requires the secrets feature to be enabled"
UNDEFINED_SECRET = "references an undefined secret"
SECRETS = frozenset({"secrets"})
DECLARED = {"db-password": {"source": "/shop/db/password"}}
REFERENCE = {"DB_PASSWORD": {"secret": "db-password"}, "MODE": "prod"}


@pytest.mark.parametrize(
    ("body", "features", "details"),
    [
        (app(secrets=DECLARED, env=REFERENCE), SECRETS, []),
        (app(secrets=DECLARED), SECRETS, []),
        (app(secrets={}, env={"MODE": "prod"}), frozenset(), []),  # empty secrets need no feature
        (app(secrets=DECLARED), frozenset(), [{"path": "/secrets", "errors": [FEATURE_DISABLED]}]),
        (app(secrets=DECLARED, env=REFERENCE), frozenset(),
         [{"path": "/secrets", "errors": [FEATURE_DISABLED]}, {"path": "/env", "errors": [SECRET_REFS_NEED_FEATURE]}]),
        (app(env=REFERENCE), SECRETS, [{"path": "/env/DB_PASSWORD/secret", "errors": [UNDEFINED_SECRET]}]),
        (app(env=REFERENCE), frozenset(), [{"path": "/env", "errors": [SECRET_REFS_NEED_FEATURE]},
                                           {"path": "/env/DB_PASSWORD/secret", "errors": [UNDEFINED_SECRET]}]),
        (app(secrets={"db-password": {"source": ""}}), SECRETS,
         [{"path": "/secrets/db-password/source", "errors": ["must not be empty"]}]),
        (app(secrets={"": {"source": "/x"}}), SECRETS, [{"path": "/secrets/keys(0)", "errors": ["must not be empty"]}]),
    ],
    ids=["declared-and-referenced", "declared-only", "empty-without-feature", "declared-without-feature",
         "referenced-without-feature", "undeclared-reference", "undeclared-without-feature", "empty-source",
         "empty-name"],
)
def test_secrets_are_accepted_only_as_marathon_accepts_them(
    body: dict[str, Any], features: frozenset[str], details: list[dict[str, Any]]
) -> None:
    assert validate_app(body, features=features) == details


def test_a_group_app_with_secrets_is_refused_without_the_feature_at_its_nested_path() -> None:
    group = {"id": "/shop", "apps": [{"id": "/shop/api", "cmd": "x", "secrets": DECLARED, "env": REFERENCE}]}
    assert validate_group(group, group_id="/shop") == [
        {"path": "/apps(0)/secrets", "errors": [FEATURE_DISABLED]},
        {"path": "/apps(0)/env", "errors": [SECRET_REFS_NEED_FEATURE]},
    ]
    assert validate_group(group, group_id="/shop", features=SECRETS) == []


@pytest.mark.parametrize(
    ("secrets", "path", "error"),
    [({"db": {}}, "/secrets/db/source", "error.path.missing"), ({"db": {"source": 1}}, "/secrets/db/source",
     "error.expected.jsstring"), ({"db": "/x"}, "/secrets/db", "error.expected.jsobject"),
     ("db", "/secrets", "error.expected.jsobject")],
    ids=["no-source", "source-number", "secret-text", "secrets-text"],
)
def test_a_secret_of_the_wrong_json_type_is_invalid_json(secrets: Any, path: str, error: str) -> None:
    with pytest.raises(JsonTypeError) as raised:
        validate_app(app(secrets=secrets), features=SECRETS)
    assert {"path": path, "errors": [error]} in raised.value.details
