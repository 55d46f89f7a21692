"""Builders for planner tests: desired apps, the Marathon state a plan leaves, and Marathon's shapes.

`marathon_shape` renders a stored definition the way a given Marathon version answers a GET
(defaults filled in, assigned ports, empty collections omitted or sent, legacy fields), following
../shared/reference/marathon/FACTS.md §3, §8 and §13. Our own data, written from those facts.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from reconciler.core.model import Actual, ActualApp, Desired, DesiredApp, DesiredEnvironment
from reconciler.core.naming import group_of
from reconciler.core.plan import PlanOptions, build_plan
from reconciler.core.simulate import simulate_apply

EMPTY = Actual(apps={})


class MarathonVersion(StrEnum):
    V0_15 = "0.15"
    V1_3 = "1.3"
    V1_5 = "1.5+"


def desired_app(name: str, environment: str = "int", instances: int = 1, **definition: Any) -> DesiredApp:
    """`definition` holds Marathon fields; `deps` and `force` are the reconciler's settings."""
    app_id = f"/{environment}/{name}"
    dependencies = tuple(definition.pop("deps", ()))
    force = bool(definition.pop("force", False))
    body = {"id": app_id, "instances": instances, **definition}
    return DesiredApp(app_id, environment, name, body, instances, dependencies=dependencies, force=force)


def desired_of(*apps: DesiredApp, revision: str = "r1") -> Desired:
    envs = sorted({app.env for app in apps})
    environments = {
        env: DesiredEnvironment(env, group_of(env), apps=tuple(a.name for a in apps if a.env == env)) for env in envs
    }
    return Desired(environments=environments, apps={app.app_id: app for app in apps}, revision=revision)


def applied(desired: Desired, actual: Actual = EMPTY, options: PlanOptions | None = None) -> Actual:
    """What Marathon holds once the plan for `desired` has been applied to `actual`."""
    return simulate_apply(build_plan(desired, actual, options or PlanOptions()), actual)


def with_definition(actual: Actual, app_id: str, **changes: Any) -> Actual:
    """`actual` after someone changed top-level fields of one app in Marathon (None removes a field)."""
    app = actual.apps[app_id]
    definition = {**app.definition, **changes}
    definition = {key: value for key, value in definition.items() if value is not None}
    return Actual(apps={**actual.apps, app_id: ActualApp(app_id, definition, app.instances)})


def with_instances(actual: Actual, app_id: str, instances: int) -> Actual:
    app = actual.apps[app_id]
    return Actual(apps={**actual.apps, app_id: ActualApp(app_id, dict(app.definition), instances)})


def unmanaged(app_id: str, **definition: Any) -> ActualApp:
    return ActualApp(app_id, {"id": app_id, "cmd": "sleep 1", **definition}, 1)


def as_float(value: Any) -> Any:
    """Old Marathon versions wrote numbers as doubles (`"mem": 32.0`)."""
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def shaped_health_check(check: Mapping[str, Any], version: MarathonVersion) -> dict[str, Any]:
    filled: dict[str, Any] = {
        "protocol": "HTTP",
        "gracePeriodSeconds": 300,
        "intervalSeconds": 60,
        "timeoutSeconds": 20,
        "maxConsecutiveFailures": 3,
        "ignoreHttp1xx": False,
    }
    filled.update(check)
    if filled["protocol"] in ("HTTP", "HTTPS", "MESOS_HTTP"):
        filled.setdefault("path", "/")
    if "port" not in filled:
        filled.setdefault("portIndex", 0)
    if version == MarathonVersion.V1_5:
        filled.setdefault("delaySeconds", 15)
    return filled


def shaped_container(container: Mapping[str, Any], version: MarathonVersion, port: int) -> dict[str, Any]:
    container = copy.deepcopy(dict(container))
    container.setdefault("type", "DOCKER")
    docker = container.setdefault("docker", {})
    docker.setdefault("forcePullImage", False)
    docker.setdefault("privileged", False)
    docker.setdefault("parameters", [])
    container.setdefault("volumes", [])
    where = docker if version != MarathonVersion.V1_5 else container
    mappings = docker.pop("portMappings", None) or container.pop("portMappings", None) or []
    shaped = []
    for index, mapping in enumerate(mappings):
        item = {"protocol": "tcp", "hostPort": 0, "labels": {}, **mapping}
        if not item.get("servicePort"):
            item["servicePort"] = port + index
        shaped.append(item)
    if shaped:
        where["portMappings"] = shaped
    return container


def shaped_ports(definition: dict[str, Any], version: MarathonVersion, port: int) -> None:
    """Host networking: Marathon assigns service ports and (1.x) names the default definition."""
    if definition.get("networks", [{"mode": "host"}]) != [{"mode": "host"}]:
        return
    if "container" in definition and definition["container"].get("docker", {}).get("network") == "BRIDGE":
        return
    requested = definition.pop("portDefinitions", None) or [{"port": 0, "name": "default"}]
    assigned = [{"protocol": "tcp", **item, "port": item.get("port") or port + i} for i, item in enumerate(requested)]
    if version == MarathonVersion.V0_15:
        definition["ports"] = [item["port"] for item in assigned]
        return
    definition["portDefinitions"] = assigned
    if version == MarathonVersion.V1_3:
        definition["ports"] = [item["port"] for item in assigned]


def shaped_network(definition: dict[str, Any], version: MarathonVersion) -> None:
    """1.5+ moved `container.docker.network` to `networks`; older versions keep it in docker."""
    docker = definition.get("container", {}).get("docker", {})
    if version == MarathonVersion.V1_5 and "network" in docker:
        mode = {"BRIDGE": "container/bridge", "HOST": "host", "USER": "container"}[docker.pop("network")]
        definition["networks"] = [{"mode": mode}]
    elif version == MarathonVersion.V1_5:
        definition.setdefault("networks", [{"mode": "host"}])


TOP_LEVEL_FILLED = {
    "cpus": 1,
    "mem": 128,
    "disk": 0,
    "backoffSeconds": 1,
    "backoffFactor": 1.15,
    "requirePorts": False,
    "executor": "",
    "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1},
}
COLLECTIONS = {
    "args": None,
    "user": None,
    "env": {},
    "constraints": [],
    "uris": [],
    "fetch": [],
    "storeUrls": [],
    "dependencies": [],
    "healthChecks": [],
    "labels": {},
    "ipAddress": None,
    "container": None,
    "acceptedResourceRoles": None,
}


def fill_version_defaults(definition: dict[str, Any], version: MarathonVersion) -> None:
    for key, value in TOP_LEVEL_FILLED.items():
        definition.setdefault(key, copy.deepcopy(value))
    definition.setdefault("maxLaunchDelaySeconds", 300 if version == MarathonVersion.V1_5 else 3600)
    if version != MarathonVersion.V0_15:
        definition.setdefault("gpus", 0)
        definition.setdefault("killSelection", "YOUNGEST_FIRST")
        definition.setdefault("unreachableStrategy", {"inactiveAfterSeconds": 300, "expungeAfterSeconds": 600})
    if version == MarathonVersion.V1_5:
        definition["unreachableStrategy"] = {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0}
        for key in [k for k, v in definition.items() if v in ([], {}, None)]:
            del definition[key]  # the RAML serializer omits empty collections
    else:
        for key, value in COLLECTIONS.items():
            definition.setdefault(key, copy.deepcopy(value))
        if version == MarathonVersion.V1_3:
            definition.setdefault("secrets", {})  # 1.3 and 1.4 send the empty map; 0.15 has no secrets
        for key in ("cpus", "mem", "disk"):
            definition[key] = as_float(definition[key])


def status_fields(app_id: str, instances: int) -> dict[str, Any]:
    return {
        "version": "2017-07-19T17:34:41.967Z",
        "versionInfo": {"lastScalingAt": "2017-07-19T17:34:41.967Z", "lastConfigChangeAt": "2017-07-19T17:34:41.967Z"},
        "tasksStaged": 0,
        "tasksRunning": instances,
        "tasksHealthy": 0,
        "tasksUnhealthy": 0,
        "deployments": [],
    }


def marathon_shape(definition: Mapping[str, Any], version: MarathonVersion, port: int = 10000) -> dict[str, Any]:
    """`definition` as Marathon `version` answers `GET /v2/apps` once it stored it."""
    shaped = copy.deepcopy(dict(definition))
    if "container" in shaped:
        shaped["container"] = shaped_container(shaped["container"], version, port)
    if "healthChecks" in shaped:
        shaped["healthChecks"] = [shaped_health_check(check, version) for check in reversed(shaped["healthChecks"])]
    if "fetch" in shaped:
        shaped["fetch"] = [{"executable": False, "extract": True, "cache": False, **f} for f in shaped["fetch"]]
    shaped_ports(shaped, version, port + 100)
    shaped_network(shaped, version)
    fill_version_defaults(shaped, version)
    shaped.update(status_fields(str(shaped["id"]), int(shaped.get("instances", 1))))
    return shaped


def marathon_state(actual: Actual, version: MarathonVersion) -> Actual:
    """Every app of `actual` as `version` would report it."""
    apps = {
        app_id: ActualApp(app_id, marathon_shape(app.definition, version, 10000 + 10 * index), app.instances)
        for index, (app_id, app) in enumerate(sorted(actual.apps.items()))
    }
    return Actual(apps=apps)
