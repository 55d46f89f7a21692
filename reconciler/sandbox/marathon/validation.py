"""Marathon's request validation for the embedded sandbox (sandbox layer).

Reading (play-json over the RAML types) raises `JsonTypeError` with play-json keys such as
`error.expected.jsstring`; the semantic rules of AppValidation.scala, SchedulingValidation.scala and
PathId.scala return the 422 `details` [{"path", "errors"}] in Marathon's words. RAML numeric limits
are worded as accord words them ("got -1.0, expected 0.0 or more"): range errors are 422 (FACTS.md §7).
Port fields (RAML numbers.AnyPort, 0-65535) are limits of the generated play-json readers instead:
`error.min` / `error.max`, which Marathon 1.5+ answers 422 {"message": "Invalid JSON", "details"}.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union

Details = list[dict[str, object]]
Json = Mapping[str, Any]  # a body that reading has already type-checked


class JsonTypeError(Exception):
    """A body whose JSON types are wrong; the sandbox answers 400 {"message": "Invalid JSON", "details"}."""

    status = 400

    def __init__(self, details: Details) -> None:
        super().__init__(f"Invalid JSON: {details}")
        self.details = details


class JsonLimitError(JsonTypeError):
    """Only reader limits failed (a port above 65535): MarathonExceptionMapper answers a JsResultException
    whose every path carries validation errors with 422, same body (RestResource.entity)."""

    status = 422


class Findings:
    """Errors grouped by JSON path in the order found, as Marathon groups violations per path."""

    def __init__(self) -> None:
        self.by_path: dict[str, list[str]] = {}

    def __bool__(self) -> bool:
        return bool(self.by_path)

    def add(self, path: str, error: str) -> None:
        errors = self.by_path.setdefault(path or "/", [])
        if error not in errors:
            errors.append(error)

    def details(self) -> Details:
        return [{"path": path, "errors": list(errors)} for path, errors in self.by_path.items()]


@dataclass(frozen=True)
class Choice:
    """A RAML enum; play-json reads it case-insensitively (generated `s.toLowerCase match`)."""

    values: tuple[str, ...]


@dataclass(frozen=True)
class ListOf:
    item: Kind


@dataclass(frozen=True)
class Obj:
    fields: Mapping[str, Kind] = field(default_factory=dict)
    required: tuple[str, ...] = ()


Kind = Union[str, Choice, ListOf, Obj]  # noqa: UP007 - a recursive alias needs the string-free Union form

PORT = "port"  # numbers.AnyPort: an integer from 0 to 65535
PORT_RANGE = (0, 65535)
LIMIT_ERRORS = frozenset({"error.min", "error.max"})
PROTOCOLS = Choice(("HTTP", "HTTPS", "TCP", "COMMAND", "MESOS_TCP", "MESOS_HTTP", "MESOS_HTTPS"))
LABELS = "labels"
PORT_MAPPING = Obj({"containerPort": PORT, "hostPort": PORT, "servicePort": PORT, "name": "string",
                    "protocol": "string", "labels": LABELS, "networkNames": ListOf("string")})
HEALTH_CHECK = Obj({
    "protocol": PROTOCOLS, "portIndex": PORT, "port": PORT, "path": "string", "gracePeriodSeconds": "int",
    "intervalSeconds": "int", "timeoutSeconds": "int", "maxConsecutiveFailures": "int", "delaySeconds": "int",
    "ignoreHttp1xx": "bool", "command": Obj({"value": "string"}), "ipProtocol": Choice(("IPv4", "IPv6")),
})
CONTAINER = Obj({
    "type": Choice(("MESOS", "DOCKER")),
    "docker": Obj({"image": "string", "network": Choice(("BRIDGE", "HOST", "NONE", "USER")),
                   "privileged": "bool", "forcePullImage": "bool", "portMappings": ListOf(PORT_MAPPING),
                   "parameters": ListOf(Obj({"key": "string", "value": "string"}))}, required=("image",)),
    "portMappings": ListOf(PORT_MAPPING), "volumes": ListOf("object"),
})
APP = Obj({
    "id": "string", "cmd": "string", "args": ListOf("string"), "user": "string", "executor": "string",
    "cpus": "number", "mem": "number", "disk": "number", "gpus": "int", "instances": "int",
    "backoffSeconds": "int", "backoffFactor": "number", "maxLaunchDelaySeconds": "int",
    "taskKillGracePeriodSeconds": "int", "requirePorts": "bool", "tty": "bool", "version": "string",
    "role": "string", "env": "env", "labels": LABELS, "secrets": "object",
    "constraints": ListOf(ListOf("string")), "dependencies": ListOf("string"),
    "acceptedResourceRoles": ListOf("string"), "uris": ListOf("string"), "ports": ListOf("int"),
    "fetch": ListOf(Obj({"uri": "string", "extract": "bool", "executable": "bool", "cache": "bool"})),
    "healthChecks": ListOf(HEALTH_CHECK), "readinessChecks": ListOf("object"),
    "portDefinitions": ListOf(Obj({"port": PORT, "name": "string", "protocol": "string", "labels": LABELS})),
    "networks": ListOf(Obj({"mode": Choice(("container", "container/bridge", "host")), "name": "string",
                            "labels": LABELS})),
    "container": CONTAINER,
    "upgradeStrategy": Obj({"minimumHealthCapacity": "number", "maximumOverCapacity": "number"}),
    "killSelection": Choice(("YOUNGEST_FIRST", "OLDEST_FIRST")),
    "unreachableStrategy": "any", "residency": "object", "ipAddress": "object", "versionInfo": "object",
})
# Group bodies: apps are full app definitions, groups recurse (checked by `read_group`).
GROUP = Obj({"id": "string", "apps": ListOf(APP), "groups": ListOf("object"), "dependencies": ListOf("string"),
             "version": "string", "scaleBy": "number", "enforceRole": "bool", "pods": ListOf("object")})

# play-json's key for each JSON type a reader expects.
EXPECTED = {"string": "error.expected.jsstring", "number": "error.expected.jsnumber", "int": "error.expected.jsnumber",
            PORT: "error.expected.jsnumber",
            "bool": "error.expected.jsboolean", "object": "error.expected.jsobject", LABELS: "error.expected.jsobject",
            "env": "error.expected.jsobject"}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _read_scalar(value: object, kind: str, path: str, found: Findings) -> None:
    """One leaf: play-json answers `error.expected.<type>` (ints that are fractions: `error.expected.int`)."""
    ok = {
        "string": isinstance(value, str), "number": _is_number(value), "int": _is_number(value),
        PORT: _is_number(value), "bool": isinstance(value, bool), "object": isinstance(value, dict), "any": True,
    }.get(kind, isinstance(value, dict))
    if not ok:
        found.add(path, EXPECTED[kind])
    elif kind in ("int", PORT) and isinstance(value, float) and not value.is_integer():
        found.add(path, "error.expected.int")
    elif kind == PORT and isinstance(value, int | float):
        _read_limits(value, PORT_RANGE, path, found)
    elif kind in (LABELS, "env") and isinstance(value, dict):
        _read_map(value, kind, path, found)


def _read_limits(value: float, limits: tuple[int, int], path: str, found: Findings) -> None:
    """RAML minimum / maximum as the generated readers check them (play-json Reads.min / Reads.max)."""
    if value < limits[0]:
        found.add(path, "error.min")
    elif value > limits[1]:
        found.add(path, "error.max")


def _read_map(value: Mapping[str, object], kind: str, path: str, found: Findings) -> None:
    """Labels are string to string; env values are a string or {"secret": "<name>"}."""
    for key, item in value.items():
        is_secret = kind == "env" and isinstance(item, dict) and isinstance(item.get("secret"), str)
        if not isinstance(item, str) and not is_secret:
            found.add(f"{path}/{key}", "error.expected.jsstring")


def read(value: object, kind: Kind, path: str, found: Findings) -> None:
    """Check `value` against `kind` as play-json would; null is an absent optional field."""
    if isinstance(kind, str):
        _read_scalar(value, kind, path, found)
    elif isinstance(kind, Choice):
        if not isinstance(value, str) or value.lower() not in {v.lower() for v in kind.values}:
            found.add(path, "error.unknown.enum.literal")
    elif isinstance(kind, ListOf):
        if not isinstance(value, list):
            found.add(path, "error.expected.jsarray")
            return
        for index, item in enumerate(value):
            read(item, kind.item, f"{path}({index})", found)
    elif not isinstance(value, dict):
        found.add(path, "error.expected.jsobject")
    else:
        _read_object(value, kind, path, found)


def _read_object(value: Mapping[str, object], kind: Obj, path: str, found: Findings) -> None:
    for name in kind.required:
        if name not in value:
            found.add(f"{path}/{name}", "error.path.missing")
    for name, sub in kind.fields.items():
        if value.get(name) is not None:
            read(value[name], sub, f"{path}/{name}", found)


def _raise_type_errors(found: Findings) -> None:
    if not found:
        return
    only_limits = all(error in LIMIT_ERRORS for errors in found.by_path.values() for error in errors)
    raise (JsonLimitError if only_limits else JsonTypeError)(found.details())


def validate_app(body: object, *, base: str = "/") -> Details:
    """Marathon 422 `details` entries [{"path": "/id", "errors": ["..."]}] for an app definition; [] when valid.

    Raises JsonTypeError for wrong JSON types (string where a number is expected, etc.), as play-json does.
    `base` is the group a relative id resolves against (root for POST /v2/apps).
    """
    found = Findings()
    read(body, APP, "", found)
    if isinstance(body, dict) and "id" not in body:
        found.add("/id", "error.path.missing")
    _raise_type_errors(found)
    assert isinstance(body, dict)  # read() reported anything else
    _check_app(body, "", found, base=base)
    return found.details()


def validate_app_update(body: object) -> Details:
    """422 `details` for a PUT/PATCH partial app body (the rollback rule among them); [] when valid."""
    found = Findings()
    read(body, APP, "", found)
    _raise_type_errors(found)
    assert isinstance(body, dict)
    _check_app_update(body, found)
    return found.details()


def validate_group(body: object, *, group_id: str) -> Details:
    """422 `details` for a group body that becomes the group `group_id`; nested paths like /apps(0)/id.

    App and subgroup ids resolve against `group_id` and must be its direct children
    (PathId.validPathWithBase); a relative body `id` is resolved the same way by the caller.
    """
    found = Findings()
    _read_group(body, "", found)
    _raise_type_errors(found)
    assert isinstance(body, dict)
    _check_group(body, "", found, group_id=canonical_path(group_id))
    return found.details()


def _read_group(body: object, path: str, found: Findings) -> None:
    read(body, GROUP, path, found)
    if isinstance(body, dict) and isinstance(body.get("groups"), list):
        for index, sub in enumerate(body["groups"]):
            _read_group(sub, f"{path}/groups({index})", found)


# --- semantic rules (422) -------------------------------------------------------------------------

# PathId.scala ID_PATH_SEGMENT_PATTERN, quoted verbatim in its error message.
SEGMENT_PATTERN = r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])|(\.|\.\.)$"
SEGMENT = re.compile(SEGMENT_PATTERN)
RESERVED = ("restart", "tasks", "versions")
BAD_SEGMENT = f"must fully match regular expression '{SEGMENT_PATTERN}'"
RESERVED_LAST = f"must not end with any of the following reserved keywords: {', '.join(RESERVED)}"
CMD_ARGS_CONTAINER = "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."
ROLLBACK_ONLY_ID = "The 'version' field may only be combined with the 'id' field."
BAD_OPERATOR = "Constraint operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER or UNLIKE"
BAD_PORT_INDEX = "Health check port indices must address an element of the ports array or container port mappings."
INACTIVE_AFTER_EXPUNGE = "inactiveAfterSeconds ({}) must be less or equal to expungeAfterSeconds, which is {}"
MARATHON_PROTOCOLS = frozenset({"HTTP", "HTTPS", "TCP"})
MESOS_PROTOCOLS = frozenset({"COMMAND", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP"})

# RAML minimums (app.raml, healthCheck.raml); accord words them "got X, expected Y or more".
APP_MINIMUMS: dict[str, float | int] = {
    "cpus": 0.001, "mem": 0.0, "disk": 0.0, "gpus": 0, "instances": 0, "backoffSeconds": 0,
    "backoffFactor": 1.0, "maxLaunchDelaySeconds": 0, "taskKillGracePeriodSeconds": 0,
}
DOUBLE_FIELDS = frozenset({"cpus", "mem", "disk", "backoffFactor", "minimumHealthCapacity", "maximumOverCapacity"})
HEALTH_MINIMUMS = ("gracePeriodSeconds", "intervalSeconds", "maxConsecutiveFailures", "delaySeconds")


def scala_number(value: float | int, *, double: bool) -> str:
    """A number as Scala prints it in accord messages: doubles as `-3.0`, `0.001`, `1.0E-4`; ints as `-3`."""
    if not double:
        return str(int(value))
    number = float(value)
    if number == 0 or 1e-3 <= abs(number) < 1e7:
        return repr(number)
    mantissa, exponent = f"{number:.15E}".split("E")
    return f"{float(mantissa)!r}E{int(exponent)}"


def canonical_path(raw: str, base: str = "/") -> str:
    """The absolute id of `raw` resolved against `base` (PathId.canonicalPath: `.` and `..` resolve)."""
    parts = [] if raw.startswith("/") else [p for p in base.split("/") if p]
    for segment in (p for p in raw.split("/") if p):
        if segment == "..":
            parts = parts[:-1]
        elif segment != ".":
            parts.append(segment)
    return "/" + "/".join(parts)


def _check_path_id(raw: str, path: str, found: Findings, *, reserved: bool = True) -> None:
    """PathId.pathIdValidator: every segment matches the pattern; the last is not a reserved word."""
    segments = [p for p in raw.split("/") if p]
    if not segments:
        found.add(path, "Path must contain at least one path element")
    if any(not SEGMENT.fullmatch(segment) for segment in segments):
        found.add(path, BAD_SEGMENT)
    if reserved and segments and segments[-1] in RESERVED:
        found.add(path, RESERVED_LAST)


def _check_minimum(body: Json, name: str, minimum: float | int, path: str, found: Findings) -> None:
    value: Any = body.get(name)
    if _is_number(value) and value < minimum:
        double = name in DOUBLE_FIELDS
        got, expected = scala_number(value, double=double), scala_number(minimum, double=double)
        found.add(f"{path}/{name}", f"got {got}, expected {expected} or more")


def _check_upgrade_strategy(strategy: Json, path: str, found: Findings) -> None:
    for name in ("minimumHealthCapacity", "maximumOverCapacity"):
        value: Any = strategy.get(name)
        if _is_number(value) and not 0.0 <= value <= 1.0:
            found.add(f"{path}/{name}", f"got {scala_number(value, double=True)}, expected between 0.0 and 1.0")


def _has_container_image(container: Any) -> bool:
    """containsCmdArgsOrContainer: a container counts when it names an image for its engine."""
    if not isinstance(container, dict):
        return False
    engine = str(container.get("type") or "DOCKER").upper()
    return (container.get("docker") is not None and engine in ("DOCKER", "MESOS")) or (
        container.get("appc") is not None and engine == "MESOS")


def _check_command(app: Json, path: str, found: Findings) -> None:
    has_cmd, has_args = bool(app.get("cmd")), bool(app.get("args"))
    if not ((has_cmd ^ has_args) or (not (has_cmd and has_args) and _has_container_image(app.get("container")))):
        found.add(path or "/", CMD_ARGS_CONTAINER)
    if app.get("cmd") == "":
        found.add(f"{path}/cmd", "must not be empty")


def _check_container(container: Json, path: str, found: Findings) -> None:
    engine = str(container.get("type") or "DOCKER").upper()
    docker = container.get("docker")
    if engine == "DOCKER" and docker is None:
        found.add(f"{path}/docker", "must not be empty")
    if isinstance(docker, dict) and docker.get("image") == "":
        found.add(f"{path}/docker/image", "must not be empty")
    for where in ("portMappings", "docker/portMappings"):
        owner = docker if where.startswith("docker") else container
        mappings = owner.get("portMappings") if isinstance(owner, dict) else None
        if isinstance(mappings, list):
            _check_unique_names(mappings, f"{path}/{where}", found)


def _check_unique_names(ports: list[Json], path: str, found: Findings) -> None:
    names = [p["name"] for p in ports if p.get("name") is not None]
    if len(names) != len(set(names)):
        found.add(path, "Port names must be unique.")


def _check_port_definitions(app: Json, path: str, found: Findings) -> None:
    definitions = app.get("portDefinitions")
    if not isinstance(definitions, list):
        return
    _check_unique_names(definitions, f"{path}/portDefinitions", found)
    fixed = [d.get("port") for d in definitions if d.get("port") not in (None, 0)]
    if len(fixed) != len(set(fixed)):
        found.add(f"{path}/portDefinitions", "Ports must be unique.")


def _port_count(app: Json) -> int:
    """How many host ports a health check's portIndex may address (AppValidation.portIndices)."""
    container = app.get("container")
    mappings = container.get("portMappings") if isinstance(container, dict) else None
    docker = container.get("docker") if isinstance(container, dict) else None
    mappings = mappings or (docker.get("portMappings") if isinstance(docker, dict) else None)
    if mappings:
        return len(mappings)
    definitions = app.get("portDefinitions")
    return 1 if definitions is None else len(definitions)


def _check_health_check(check: Json, ports: int, path: str, found: Findings) -> None:
    for name in HEALTH_MINIMUMS:
        _check_minimum(check, name, 0, path, found)
    protocol = str(check.get("protocol") or "HTTP").upper()
    if check.get("port") is not None and check.get("portIndex") is not None:
        found.add(path, "Health check must specify either a port or a portIndex, not both.")
    elif protocol in MARATHON_PROTOCOLS and check.get("command") is None:
        index = check.get("portIndex")
        valid = 0 <= index < ports if isinstance(index, int) else check.get("port") is not None or ports == 1
        if not valid:
            found.add(path, BAD_PORT_INDEX)
    if protocol == "COMMAND" and check.get("command") is None:
        found.add(f"{path}/command", "must not be empty")


def _check_health_checks(app: Json, path: str, found: Findings) -> None:
    checks = app.get("healthChecks")
    if not isinstance(checks, list):
        return
    ports = _port_count(app)
    for index, check in enumerate(checks):
        _check_health_check(check, ports, f"{path}/healthChecks({index})", found)
    mesos = [c for c in checks if str(c.get("protocol") or "HTTP").upper() in MESOS_PROTOCOLS and not c.get("command")]
    if len(mesos) > 1:
        found.add(path or "/", "AppDefinition can contain at most one Mesos health check")


def constraint_problem(constraint: list[str]) -> str | None:
    """SchedulingValidation.complyWithAppConstraintRules (plus IS, whose value is required)."""
    if not 2 <= len(constraint) <= 3:
        return "Each constraint must have either 2 or 3 fields"
    operator, value = constraint[1], constraint[2] if len(constraint) == 3 else None
    if operator not in ("UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER", "IS"):
        return BAD_OPERATOR
    if operator == "UNIQUE":
        # Marathon 1.x itself answers ["hostname", "UNIQUE", ""] (v2 docs app_list.json): accept it back.
        return "Value specified but not used" if value else None
    if operator in ("CLUSTER", "IS"):
        return "Missing value" if value is None else None
    if operator in ("GROUP_BY", "MAX_PER"):
        if value is None or re.fullmatch(r"[+-]?\d+", value):
            return None
        return ("Value was specified but is not a number" if operator == "GROUP_BY"
                else "Value was not specified or is not a number")
    return _regex_problem(value)


def _regex_problem(value: str | None) -> str | None:
    if value is None:
        return "A regular expression value must be provided"
    try:
        re.compile(value)
    except re.error:
        return f"'{value}' is not a valid regular expression"
    return None


def _check_lists(app: Json, path: str, found: Findings) -> None:
    for index, constraint in enumerate(app.get("constraints") or []):
        problem = constraint_problem(constraint)
        if problem:
            found.add(f"{path}/constraints({index})", problem)
    for index, dependency in enumerate(app.get("dependencies") or []):
        _check_path_id(dependency, f"{path}/dependencies({index})", found)


def _check_networking(app: Json, path: str, found: Findings) -> None:
    modes = {str(n.get("mode") or "container").lower() for n in app.get("networks") or []}
    container = app.get("container")
    mappings = container.get("portMappings") if isinstance(container, dict) else None
    if "host" in modes and mappings:
        found.add(path or "/", "portMappings are not allowed with host-networking")
    if modes - {"host"} and app.get("portDefinitions"):
        found.add(path or "/", "portDefinitions are only allowed with host-networking")


def _check_unreachable_strategy(strategy: Json, path: str, found: Findings) -> None:
    """UnreachableEnabled's validator (state/UnreachableStrategy.scala); both fields default to 0."""
    inactive: Any = strategy.get("inactiveAfterSeconds", 0)
    expunge: Any = strategy.get("expungeAfterSeconds", 0)
    if _is_number(inactive) and _is_number(expunge) and inactive > expunge:
        found.add(f"{path}/inactiveAfterSeconds", INACTIVE_AFTER_EXPUNGE.format(int(inactive), int(expunge)))


def _check_fields(app: Json, path: str, found: Findings) -> None:
    """The rules that hold for any present field, in full definitions and partial updates alike."""
    for name, minimum in APP_MINIMUMS.items():
        _check_minimum(app, name, minimum, path, found)
    if isinstance(app.get("upgradeStrategy"), dict):
        _check_upgrade_strategy(app["upgradeStrategy"], f"{path}/upgradeStrategy", found)
    if isinstance(app.get("unreachableStrategy"), dict):
        _check_unreachable_strategy(app["unreachableStrategy"], f"{path}/unreachableStrategy", found)
    if isinstance(app.get("container"), dict):
        _check_container(app["container"], f"{path}/container", found)
    _check_port_definitions(app, path, found)
    _check_health_checks(app, path, found)
    _check_lists(app, path, found)
    _check_networking(app, path, found)


def _check_app(app: Json, path: str, found: Findings, *, base: str) -> None:
    raw_id = str(app.get("id"))
    _check_path_id(raw_id, f"{path}/id", found)
    if canonical_path(raw_id, base) == "/" and path == "":
        found.add("/", "must not be root")
    _check_command(app, path, found)
    _check_fields(app, path, found)


def _check_app_update(update: Json, found: Findings) -> None:
    if isinstance(update.get("id"), str):
        _check_path_id(update["id"], "/id", found)
    if "version" in update and set(update) - {"id", "version"}:
        found.add("/", ROLLBACK_ONLY_ID)
    _check_fields(update, "", found)


def _check_nested_id(raw: str, group_id: str, path: str, found: Findings) -> str:
    """PathId.validPathWithBase: a nested id resolves against its group and must be a direct child."""
    absolute = canonical_path(raw, group_id)
    parent = absolute.rsplit("/", 1)[0] or "/"
    if parent != group_id:
        found.add(path, f"Identifier is not child of {group_id}. Hint: use relative paths.")
    _check_path_id(raw, path, found)
    return absolute


def _check_group(group: Json, path: str, found: Findings, *, group_id: str) -> None:
    if isinstance(group.get("id"), str) and group.get("id") not in ("", "/"):
        _check_path_id(group["id"], f"{path}/id", found, reserved=False)
    app_ids = set()
    for index, app in enumerate(group.get("apps") or []):
        where = f"{path}/apps({index})"
        if "id" not in app:
            found.add(f"{where}/id", "error.path.missing")
            continue
        app_ids.add(_check_nested_id(app["id"], group_id, f"{where}/id", found))
        _check_command(app, where, found)
        _check_fields(app, where, found)
    _check_subgroups(group, path, found, group_id=group_id, app_ids=app_ids)


def _check_subgroups(group: Json, path: str, found: Findings, *, group_id: str,
                     app_ids: set[str]) -> None:
    for index, sub in enumerate(group.get("groups") or []):
        where = f"{path}/groups({index})"
        sub_id = _check_nested_id(str(sub.get("id", "")), group_id, f"{where}/id", found)
        if sub_id in app_ids:
            found.add(where, "Groups and Applications may not have the same identifier.")
        _check_group({k: v for k, v in sub.items() if k != "id"}, where, found, group_id=sub_id)
