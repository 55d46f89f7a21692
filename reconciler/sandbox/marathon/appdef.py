"""App definitions as Marathon 1.9 stores and shows them (sandbox layer).

Definitions are plain JSON dicts: `normalise` fills Marathon's defaults (AppNormalization), `render`
drops empty collections the way the 1.5+ RAML serialiser does, `is_scale_only` tells a scale from
an upgrade (AppDefinition.isOnlyScaleChange).
"""

from __future__ import annotations

import copy
from typing import Any

from reconciler.sandbox.marathon.model import JsonDict

APP_DEFAULTS: JsonDict = {
    "instances": 1,
    "cpus": 1,
    "mem": 128,
    "disk": 0,
    "gpus": 0,
    "executor": "",
    "backoffSeconds": 1,
    "backoffFactor": 1.15,
    "maxLaunchDelaySeconds": 300,
    "labels": {},
    "requirePorts": False,
    "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1},
    "killSelection": "YOUNGEST_FIRST",
    "unreachableStrategy": {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0},
    "role": "*",
}
HEALTH_DEFAULTS: JsonDict = {
    "gracePeriodSeconds": 300,
    "intervalSeconds": 60,
    "timeoutSeconds": 20,
    "maxConsecutiveFailures": 3,
    "delaySeconds": 15,
}
# NetworkTranslation of a pre-1.5 `container.docker.network` (NONE has none: Marathon refuses it).
DOCKER_NETWORK_MODES = {"BRIDGE": "container/bridge", "USER": "container", "HOST": "host"}
HTTP_PROTOCOLS = frozenset({"HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS"})
# Omitted when empty by the 1.5+ serialiser (pragma.raml omitEmpty).
OMIT_WHEN_EMPTY = ("args", "constraints", "env", "fetch", "healthChecks", "dependencies", "readinessChecks", "secrets")
# The App type's properties (docs/docs/rest-api/public/api/v2/types/app.raml); the generated play-json reader
# reads these and ignores any other top-level key, which is thus neither stored, shown nor compared.
APP_FIELDS = frozenset(
    {
        "id", "acceptedResourceRoles", "args", "backoffFactor", "backoffSeconds", "cmd", "constraints", "container",
        "cpus", "dependencies", "disk", "env", "executor", "executorResources", "fetch", "healthChecks", "check",
        "instances", "labels", "maxLaunchDelaySeconds", "mem", "gpus", "ipAddress", "networks", "ports",
        "portDefinitions", "readinessChecks", "residency", "resourceLimits", "requirePorts", "secrets",
        "taskKillGracePeriodSeconds", "upgradeStrategy", "uris", "user", "version", "versionInfo", "killSelection",
        "unreachableStrategy", "tty", "role",
    }
)
# Runtime fields of a GET body; never part of a stored definition.
RUNTIME_FIELDS = frozenset(
    {
        "version",
        "versionInfo",
        "tasks",
        "tasksStaged",
        "tasksRunning",
        "tasksHealthy",
        "tasksUnhealthy",
        "deployments",
        "lastTaskFailure",
        "readinessCheckResults",
        "taskStats",
        "counts",
    }
)


def resolve_id(raw: str, base: str = "/") -> str:
    """Make `raw` absolute against `base`, resolving `.` and `..` like PathId.canonicalPath."""
    parts = [] if raw.startswith("/") else [p for p in base.split("/") if p]
    for segment in raw.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if parts:
                parts.pop()
            continue
        parts.append(segment)
    return "/" + "/".join(parts)


def is_host_networked(defn: JsonDict) -> bool:
    networks = defn.get("networks") or [{"mode": "host"}]
    modes = {n.get("mode", "container") for n in networks if isinstance(n, dict)}
    docker = (defn.get("container") or {}).get("docker") or {}
    return "host" in modes and docker.get("network", "HOST") == "HOST"


def normalise(body: JsonDict, app_id: str) -> JsonDict:
    """A full stored definition from a request body: defaults filled, deprecated fields mapped."""
    # null reads as absent (optional RAML fields): a replacing PUT with `container: null` has no container.
    defn = {
        key: copy.deepcopy(value)
        for key, value in body.items()
        if key in APP_FIELDS and key not in RUNTIME_FIELDS and value is not None
    }
    defn["id"] = app_id
    for key, value in APP_DEFAULTS.items():
        if defn.get(key) is None:
            defn[key] = copy.deepcopy(value)
    _migrate_docker_networking(defn)
    if not defn.get("networks"):
        defn["networks"] = [{"mode": "host"}]
    if not is_host_networked(defn):
        defn["requirePorts"] = False  # AppNormalization: requirePorts only applies to host networking
    _normalise_ports(defn)
    _normalise_fetch(defn)
    defn["healthChecks"] = [_normalise_health_check(hc) for hc in defn.get("healthChecks") or []]
    # Operators are read case-insensitively and kept as the protobuf enum (ConstraintConversion).
    defn["constraints"] = [[c[0], str(c[1]).upper(), *c[2:]] for c in defn.get("constraints") or []]
    parent = app_id.rsplit("/", 1)[0] or "/"
    defn["dependencies"] = [resolve_id(str(dep), parent) for dep in defn.get("dependencies") or []]
    if "upgradeStrategy" in body and isinstance(body["upgradeStrategy"], dict):
        defn["upgradeStrategy"] = {**APP_DEFAULTS["upgradeStrategy"], **body["upgradeStrategy"]}
    if "unreachableStrategy" in body and isinstance(body["unreachableStrategy"], dict):
        defn["unreachableStrategy"] = {**APP_DEFAULTS["unreachableStrategy"], **body["unreachableStrategy"]}
    return defn


def _migrate_docker_networking(defn: JsonDict) -> None:
    """The pre-1.5 places moved where 1.5+ keeps them (AppNormalization.forDeprecated, NetworkTranslation):
    `container.docker.portMappings` to `container.portMappings`, `container.docker.network` to `networks`.
    Marathon refuses a body that uses both places; the sandbox keeps the 1.5+ one then."""
    container = defn.get("container")
    docker = container.get("docker") if isinstance(container, dict) else None
    if not isinstance(container, dict) or not isinstance(docker, dict):
        return
    legacy_mappings = docker.pop("portMappings", None)
    if legacy_mappings and not container.get("portMappings"):
        container["portMappings"] = legacy_mappings
    mode = DOCKER_NETWORK_MODES.get(str(docker.get("network")).upper())
    if mode is not None:
        if not defn.get("networks"):
            defn["networks"] = [{"mode": mode}]
        del docker["network"]


def _normalise_ports(defn: JsonDict) -> None:
    legacy_ports = defn.pop("ports", None)
    defn.pop("ipAddress", None)
    if not is_host_networked(defn):
        defn.pop("portDefinitions", None)
        _normalise_port_mappings(defn)
        return
    if isinstance(defn.get("container"), dict):
        defn["container"].pop("portMappings", None)  # maybeDropPortMappings: host networking maps no ports
    if defn.get("portDefinitions") is None:
        numbers = legacy_ports if isinstance(legacy_ports, list) else [0]
        defn["portDefinitions"] = [{"port": int(n)} for n in numbers]
    for index, port_def in enumerate(defn["portDefinitions"]):
        port_def.setdefault("port", 0)
        port_def.setdefault("protocol", "tcp")
        if index == 0 and len(defn["portDefinitions"]) == 1:
            port_def.setdefault("name", "default")


def _normalise_port_mappings(defn: JsonDict) -> None:
    """RAML defaults of a mapping: protocol tcp; in bridge mode a missing hostPort is 0
    (AppNormalization.NetworkedContainer: "when in BRIDGE mode, missing host ports default to zero")."""
    bridged = any(isinstance(n, dict) and n.get("mode") == "container/bridge" for n in defn.get("networks") or [])
    for mapping in port_mappings(defn):
        mapping.setdefault("protocol", "tcp")
        if bridged and mapping.get("hostPort") is None:
            mapping["hostPort"] = 0


def _normalise_fetch(defn: JsonDict) -> None:
    uris = defn.pop("uris", None)
    if uris and not defn.get("fetch"):
        defn["fetch"] = [{"uri": uri} for uri in uris]
    for item in defn.get("fetch") or []:
        item.setdefault("extract", True)
        item.setdefault("executable", False)
        item.setdefault("cache", False)


def _normalise_health_check(check: JsonDict) -> JsonDict:
    result = {**HEALTH_DEFAULTS, **check}
    protocol = result.setdefault("protocol", "HTTP")
    if protocol in HTTP_PROTOCOLS:
        result.setdefault("path", "/")
        result.setdefault("ignoreHttp1xx", False)
    if protocol != "COMMAND" and "port" not in result:
        result.setdefault("portIndex", 0)
    if protocol in ("HTTP", "HTTPS", "TCP"):
        result.pop("delaySeconds", None)
        result.setdefault("ipProtocol", "IPv4")
    return result


def render(defn: JsonDict) -> JsonDict:
    """The definition part of an app response: empty collections omitted (1.5+)."""
    out = dict(defn)
    for key in OMIT_WHEN_EMPTY:
        if not out.get(key):
            out.pop(key, None)
    return out


def config_part(defn: JsonDict) -> JsonDict:
    return {key: value for key, value in defn.items() if key != "instances"}


def is_scale_only(stored: JsonDict, target: JsonDict) -> bool:
    return config_part(stored) == config_part(target) and stored.get("instances") != target.get("instances")


def port_mappings(defn: JsonDict) -> list[JsonDict]:
    """The container's port mappings (`normalise` has moved any pre-1.5 `docker.portMappings` here)."""
    container = defn.get("container") or {}
    mappings: list[JsonDict] = container.get("portMappings") or []
    return mappings


def service_port_slots(defn: JsonDict) -> list[tuple[JsonDict, str]]:
    """Where the app's service ports live: each port definition's `port`, else each mapping's `servicePort`."""
    if defn.get("portDefinitions"):
        return [(port_def, "port") for port_def in defn["portDefinitions"]]
    return [(mapping, "servicePort") for mapping in port_mappings(defn)]


def service_ports(defn: JsonDict) -> list[int]:
    return [int(item.get(key) or 0) for item, key in service_port_slots(defn)]


def requested_host_ports(defn: JsonDict) -> list[int]:
    """The agent ports one task of this app needs, in order; 0 is any free one. With `requirePorts`
    each port definition's own port, else any; a container mapping's non-zero `hostPort` is required
    as it is (Marathon's PortsMatcher), a mapping without `hostPort` needs no agent port."""
    if defn.get("portDefinitions"):
        if defn.get("requirePorts"):
            return service_ports(defn)
        return [0] * len(defn["portDefinitions"])
    return [int(m["hostPort"] or 0) for m in port_mappings(defn) if m.get("hostPort") is not None]


class ServicePorts:
    """The service ports one change may not hand out, and the lowest free one of the span (the sandbox
    hands out the lowest). Ports are only ever added during a change, so the search goes on from where the
    last one ended instead of walking the span from its start for every app (quadratic at 10,000 apps)."""

    def __init__(self, taken: set[int], span: tuple[int, int]) -> None:
        self.taken, self.span = taken, span
        self._next = span[0]

    def take(self, port: int) -> None:
        self.taken.add(port)

    def lowest_free(self) -> int:
        while self._next < self.span[1] and self._next in self.taken:
            self._next += 1
        if self._next >= self.span[1]:
            raise ValueError(
                f"no free service port left in {self.span[0]}-{self.span[1]}; remove apps or widen the range"
            )
        return self._next


def assign_service_ports(defn: JsonDict, previous: JsonDict | None, ports: ServicePorts) -> None:
    """Give every service port left at 0 (port definitions and container port mappings alike) a free one
    from the span; an app keeps its earlier ones (GroupManagerImpl.assignDynamicServicePorts)."""
    if defn.get("requirePorts"):
        return
    slots = service_port_slots(defn)
    wanted = {int(item[key]) for item, key in slots if item.get(key)}
    low, high = ports.span
    reusable = [p for p in service_ports(previous or {}) if low <= p < high and p not in wanted]
    for item, key in slots:
        if item.get(key):
            continue
        port = reusable.pop(0) if reusable else ports.lowest_free()
        item[key] = port
        ports.take(port)


def merge_partial(stored: JsonDict, body: JsonDict) -> JsonDict:
    """PUT/PATCH with partialUpdate: each present top-level field replaces the stored one. A null one
    keeps it: every AppUpdate field is optional and merges as `update.x.orElse(app.x)`
    (AppConversion.appUpdateRamlReader), so no value clears e.g. a container."""
    merged: dict[str, Any] = {key: copy.deepcopy(value) for key, value in stored.items()}
    for key, value in body.items():
        if key not in RUNTIME_FIELDS and key != "id" and value is not None:
            merged[key] = copy.deepcopy(value)
    if "ports" in body and "portDefinitions" not in body:
        merged.pop("portDefinitions", None)
    docker = (body.get("container") or {}).get("docker") or {}
    if docker.get("network") is not None and "networks" not in body:
        merged.pop("networks", None)  # forDeprecatedUpdates: the update's docker network names the networks
    return merged


def unreachable_after(defn: JsonDict, key: str) -> float | None:
    """`inactiveAfterSeconds` or `expungeAfterSeconds` of the app's unreachableStrategy; None when the
    strategy is "disabled" (UnreachableDisabled: unreachable instances are never replaced nor expunged)."""
    strategy = defn.get("unreachableStrategy")
    if not isinstance(strategy, dict):
        return None
    return float(strategy.get(key, 0))
