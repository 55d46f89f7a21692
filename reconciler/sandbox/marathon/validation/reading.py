"""Reading request bodies as play-json reads the RAML types (sandbox layer): the field/type table of
apps and groups, and the reader that reports wrong JSON types with play-json's keys such as
`error.expected.jsstring`. Port fields (RAML numbers.AnyPort, 0-65535) are limits of the generated
readers: `error.min` / `error.max`, which Marathon 1.5+ answers 422 {"message": "Invalid JSON", "details"}.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Union

from reconciler.sandbox.marathon.validation.findings import Details, Findings, is_number


class JsonTypeError(Exception):
    """A body whose JSON types are wrong: play-json's JsResultException, every error a validation error,
    which MarathonExceptionMapper.exceptionStatusEntity answers 422 {"message": "Invalid JSON", "details"}."""

    status = 422

    def __init__(self, details: Details) -> None:
        super().__init__(f"Invalid JSON: {details}")
        self.details = details


class JsonLimitError(JsonTypeError):
    """Only reader limits failed (a port above 65535): MarathonExceptionMapper answers a JsResultException
    whose every path carries validation errors with 422, same body (RestResource.entity)."""

    status = 422


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
SECRETS = "secrets"  # a map of raml.SecretDef: {"<name>": {"source": "<path in the secret store>"}}
SECRET_DEF = Obj({"source": "string"}, required=("source",))
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
    "role": "string", "env": "env", "labels": LABELS, "secrets": SECRETS,
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
            "env": "error.expected.jsobject", SECRETS: "error.expected.jsobject"}


def _read_scalar(value: object, kind: str, path: str, found: Findings) -> None:
    """One leaf: play-json answers `error.expected.<type>` (ints that are fractions: `error.expected.int`)."""
    ok = {
        "string": isinstance(value, str), "number": is_number(value), "int": is_number(value),
        PORT: is_number(value), "bool": isinstance(value, bool), "object": isinstance(value, dict), "any": True,
    }.get(kind, isinstance(value, dict))
    if not ok:
        found.add(path, EXPECTED[kind])
    elif kind in ("int", PORT) and isinstance(value, float) and not value.is_integer():
        found.add(path, "error.expected.int")
    elif kind == PORT and isinstance(value, int | float):
        _read_limits(value, PORT_RANGE, path, found)
    elif kind in (LABELS, "env") and isinstance(value, dict):
        _read_map(value, kind, path, found)
    elif kind == SECRETS and isinstance(value, dict):
        for name, secret in value.items():
            read(secret, SECRET_DEF, f"{path}/{name}", found)


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


def raise_type_errors(found: Findings) -> None:
    if not found:
        return
    only_limits = all(error in LIMIT_ERRORS for errors in found.by_path.values() for error in errors)
    raise (JsonLimitError if only_limits else JsonTypeError)(found.details())


def read_group(body: object, path: str, found: Findings) -> None:
    read(body, GROUP, path, found)
    if isinstance(body, dict) and isinstance(body.get("groups"), list):
        for index, sub in enumerate(body["groups"]):
            read_group(sub, f"{path}/groups({index})", found)
