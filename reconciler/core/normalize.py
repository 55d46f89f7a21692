"""Normalisation before comparing (pure core): one canonical shape for every Marathon version.

Desired and actual definitions both go through `normalize_definition`, so equal meanings compare
equal. The rules (docs/glossary.md repeats them with their sources in the reference FACTS):
- status fields and `instances` are dropped (instances is compared on its own);
- the hash and revision labels are dropped (the hash is compared on its own);
- numbers compare as numbers: `1.0` == `1`;
- absent == null == [] == {} for every collection, at every depth (Marathon 1.5+ omits empties,
  older versions send `[]`, `{}` or `null`);
- legacy shapes are rewritten to 1.5+: `uris` -> `fetch`, `ports` -> `portDefinitions` (where the
  1.5+ field is absent, on host networking only), `container.docker.network` -> `networks`,
  `container.docker.portMappings` -> `container.portMappings` (these two win over the 1.5+ fields, as
  on a Marathon write);
- values Marathon fills in are stripped where they equal its default (`TOP_LEVEL_DEFAULTS`,
  `NESTED_DEFAULTS`), so "unset" and "set to the default" are the same;
- `port: 0` / `servicePort: 0` mean "assign one": equal to whatever port Marathon assigned;
- set-like lists (constraints, dependencies, acceptedResourceRoles, healthChecks) are sorted,
  relative dependencies are made absolute against the app's group.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Container, Mapping
from typing import Any, Final

from reconciler.core.compact import compact_members, compact_value, is_empty
from reconciler.core.hashing import UNHASHED_LABELS, canonical_json

# Read-only fields Marathon adds to a GET answer (FACTS §3 "Response app", §14).
STATUS_FIELDS = frozenset(
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
        "instances",
    }
)

# Top-level defaults Marathon fills in (FACTS §3, §13): a field holding one of these equals "unset".
TOP_LEVEL_DEFAULTS: Mapping[str, tuple[Any, ...]] = {
    "cpus": (1,),
    "mem": (128,),
    "disk": (0,),
    "gpus": (0,),
    "backoffSeconds": (1,),
    "backoffFactor": (1.15,),
    "maxLaunchDelaySeconds": (300, 3600),  # 3600 up to 1.7, 300 from 1.8
    "killSelection": ("YOUNGEST_FIRST",),
    "requirePorts": (False,),
    "executor": ("",),
    "tty": (False,),
    "acceptedResourceRoles": (["*"],),
    "networks": ([{"mode": "host"}],),
    # 0/0 from 1.4.6 on, 300/600 before the migration (FACTS §13)
    "unreachableStrategy": (
        {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0},
        {"inactiveAfterSeconds": 300, "expungeAfterSeconds": 600},
    ),
}

HEALTH_CHECK_DEFAULTS: Mapping[str, Any] = {
    "gracePeriodSeconds": 300,
    "intervalSeconds": 60,
    "timeoutSeconds": 20,
    "maxConsecutiveFailures": 3,
    "protocol": "HTTP",
    "path": "/",
    "portIndex": 0,
    "ignoreHttp1xx": False,
    "delaySeconds": 15,
    "ipProtocol": "IPv4",
}
PORT_DEFINITION_DEFAULTS: Mapping[str, Any] = {"protocol": "tcp", "port": 0}
PORT_MAPPING_DEFAULTS: Mapping[str, Any] = {"protocol": "tcp", "hostPort": 0, "servicePort": 0}
DOCKER_DEFAULTS: Mapping[str, Any] = {"forcePullImage": False, "privileged": False}
FETCH_DEFAULTS: Mapping[str, Any] = {"executable": False, "extract": True, "cache": False}
UPGRADE_STRATEGY_DEFAULTS: Mapping[str, Any] = {"minimumHealthCapacity": 1, "maximumOverCapacity": 1}

# What an update sends for a top-level field the spec no longer sets but Marathon holds at another
# value: with partialUpdate=true an absent field keeps its old value, so it must be reset explicitly.
RESET_VALUES: Mapping[str, Any] = {
    "args": [],
    "constraints": [],
    "dependencies": [],
    "env": {},
    "fetch": [],
    "healthChecks": [],
    "readinessChecks": [],
    "secrets": {},
    "acceptedResourceRoles": ["*"],
    "cpus": 1,
    "mem": 128,
    "disk": 0,
    "gpus": 0,
    "backoffSeconds": 1,
    "backoffFactor": 1.15,
    "maxLaunchDelaySeconds": 300,
    "killSelection": "YOUNGEST_FIRST",
    "requirePorts": False,
    "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1},
    # No value clears a container in a partial update (`update.container.orElse(app.container)`,
    # AppConversion.appUpdateRamlReader): null marks a write that must replace the whole app.
    "container": None,
}


def replaces_whole(body: Mapping[str, Any]) -> bool:
    """Whether a write body clears a field (null) and so goes out with `partialUpdate=false`: Marathon
    then reads it as a complete app (AppsResource.canonicalAppUpdateFromJson, CompleteReplacement),
    where null is absent and absent is the default; in a partial update null would keep the old value."""
    return any(value is None for value in body.values())

# Marathon 0.x/1.4 `container.docker.network` and the 1.5+ `networks` mode it became.
DOCKER_NETWORK_MODES: Mapping[str, str] = {"HOST": "host", "BRIDGE": "container/bridge", "USER": "container"}

NESTED_DEFAULT_FIELDS = ("healthChecks", "portDefinitions", "fetch", "upgradeStrategy", "container")
SET_LIKE_FIELDS = ("constraints", "dependencies", "acceptedResourceRoles", "healthChecks")


def strip_defaults(obj: Any, defaults: Mapping[str, Any]) -> Any:
    """`obj` without the members that equal Marathon's default for them."""
    if not isinstance(obj, dict):
        return obj
    return {key: value for key, value in obj.items() if not (key in defaults and defaults[key] == value)}


def strip_each(items: Any, defaults: Mapping[str, Any]) -> Any:
    return [strip_defaults(item, defaults) for item in items] if isinstance(items, list) else items


def rewrite_legacy_top_level(definition: dict[str, Any]) -> None:
    """Pre-1.5 top-level spellings become their 1.5+ equivalents (in place). Runs after
    `rewrite_legacy_container`: the legacy `ports` of a bridged app are its mappings' service ports,
    which Marathon before 1.5 lists there too, not port definitions."""
    uris = definition.pop("uris", None)
    if uris and "fetch" not in definition:
        definition["fetch"] = [{"uri": uri} for uri in uris]
    ports = definition.pop("ports", None)
    if ports and "portDefinitions" not in definition and host_networked(definition):
        definition["portDefinitions"] = [{"port": port} for port in ports]


def rewrite_legacy_container(definition: dict[str, Any]) -> None:
    """`container.docker.network/portMappings` (before 1.5) move to `networks`/`container.portMappings`.

    Where both spellings are present the legacy one wins: Marathon 1.5+ translates it on every write
    (so a partial update that sends it replaces the stored `networks`) and never reports it back.
    """
    container = definition.get("container")
    if not isinstance(container, dict) or not isinstance(container.get("docker"), dict):
        return
    docker = dict(container["docker"])
    container = {**container, "docker": docker}
    network = docker.pop("network", None)
    if network in DOCKER_NETWORK_MODES:
        definition["networks"] = [{"mode": DOCKER_NETWORK_MODES[network]}]
    mappings = docker.pop("portMappings", None)
    if mappings:
        container["portMappings"] = mappings
    definition["container"] = container


def strip_container_defaults(container: Any) -> Any:
    if not isinstance(container, dict):
        return container
    container = dict(container)
    if "docker" in container:
        container["docker"] = strip_defaults(container["docker"], DOCKER_DEFAULTS)
        if container.get("type") == "DOCKER":  # Marathon fills the type in when `docker` is given
            del container["type"]
    if "portMappings" in container:
        container["portMappings"] = strip_each(container["portMappings"], PORT_MAPPING_DEFAULTS)
    return container


def strip_nested_defaults(definition: dict[str, Any]) -> None:
    """Defaults Marathon fills inside nested objects (FACTS §3, §8) are removed (in place)."""
    for key, strip in NESTED_STRIPS.items():
        if key in definition:
            definition[key] = strip(definition[key])


NESTED_STRIPS: Mapping[str, Callable[[Any], Any]] = {
    "healthChecks": lambda v: strip_each(v, HEALTH_CHECK_DEFAULTS),
    "portDefinitions": lambda v: strip_each(v, PORT_DEFINITION_DEFAULTS),
    "fetch": lambda v: strip_each(v, FETCH_DEFAULTS),
    "upgradeStrategy": lambda v: strip_defaults(v, UPGRADE_STRATEGY_DEFAULTS),
    "container": strip_container_defaults,
}


def strip_top_level_defaults(definition: dict[str, Any]) -> None:
    for key, defaults in TOP_LEVEL_DEFAULTS.items():
        if key in definition and definition[key] in defaults:
            del definition[key]


def resolve_dependency(app_id: str, dependency: str) -> str:
    """A relative dependency is resolved against the app's group, as Marathon does."""
    if dependency.startswith("/"):
        return posixpath.normpath(dependency)
    return posixpath.normpath(posixpath.join(posixpath.dirname(app_id) or "/", dependency))


def sort_set_like(definition: dict[str, Any]) -> None:
    """Marathon stores these as sets: their order carries no meaning and may come back shuffled."""
    app_id = str(definition.get("id", "/"))
    if isinstance(definition.get("dependencies"), list):
        definition["dependencies"] = [resolve_dependency(app_id, str(d)) for d in definition["dependencies"]]
    for key in SET_LIKE_FIELDS:
        if isinstance(definition.get(key), list):
            definition[key] = sorted(definition[key], key=canonical_json)


def drop_unhashed_labels(definition: dict[str, Any]) -> None:
    labels = definition.get("labels")
    if isinstance(labels, dict):
        definition["labels"] = {key: value for key, value in labels.items() if key not in UNHASHED_LABELS}


def normalize_definition(definition: Mapping[str, Any], members: Container[str] | None = None) -> dict[str, Any]:
    """The canonical form of a Marathon app definition (rules in the module docstring); given `members`,
    only those top-level members of it. Without a legacy shape each member's form is its own."""
    app_id = member_wise_id(definition)
    result = None if app_id is None else normal_members(definition, members, app_id)
    if result is None:
        whole = normalize_whole(definition)
        result = whole if members is None else {key: value for key, value in whole.items() if key in members}
    return result


def normal_members(definition: Mapping[str, Any], members: Container[str] | None, app_id: str) -> dict[str, Any] | None:
    """Each member's normal form, one by one; None for a key that is not a str (str(key) may make two keys
    one: `normalize_whole` settles which wins)."""
    result: dict[str, Any] = {}
    for key, value in definition.items():
        if type(key) is not str:
            return None
        if members is not None and key not in members:
            continue
        kind = type(value)
        if kind is str or kind is int or kind is bool or kind is float:  # most members: only a default removes one
            if kind is float and value.is_integer():
                value = int(value)  # noqa: PLW2901 -- the canonical number replaces the raw one
            if key not in STATUS_FIELDS and value not in TOP_LEVEL_DEFAULTS.get(key, ()):
                result[key] = value
            continue
        normal = normal_member(key, value, app_id)
        if normal is not ABSENT:
            result[key] = normal
    return result


ABSENT: Final[Any] = object()  # a member normalisation removes


def member_wise_id(definition: Mapping[str, Any]) -> str | None:
    """The id `dependencies` resolve against, when no rule reads two members at once; else None.

    Those rules: the legacy `uris`, `ports` and `container.docker.network/portMappings` move to other
    members, and an id that is not a string is read only once it is normalised.
    """
    if type(definition) is not dict or "uris" in definition or "ports" in definition:
        return None
    container = definition.get("container")
    if container is not None and not plain_container(container):
        return None
    app_id = definition.get("id")
    if app_id is None:
        return "/"
    return app_id if type(app_id) is str else None


def plain_container(container: Any) -> bool:
    """A container without the legacy docker `network` and `portMappings` (and a dict: a Mapping goes whole)."""
    if type(container) is not dict:
        return False
    docker = container.get("docker")
    return docker is None or (
        type(docker) is dict and docker.get("network") is None and docker.get("portMappings") is None
    )


def normal_member(key: str, value: Any, app_id: str) -> Any:
    """One member's normal form (the steps of `normalize_whole`, in its order), or ABSENT."""
    if key in STATUS_FIELDS:
        return ABSENT
    if key == "labels" and type(value) is dict and value:
        labels = plain_labels(value)
        if labels is not None:
            return labels
    value = compact_value(value)
    if is_empty(value):
        return ABSENT
    if key == "labels" and type(value) is dict:
        value = {name: label for name, label in value.items() if name not in UNHASHED_LABELS}
    strip = NESTED_STRIPS.get(key)
    if strip is not None:
        # Leaving out members of compact objects leaves them compact, lists keep their elements: only a
        # container's docker can become an empty member, and any value an empty one
        value = compact_value(strip(value)) if key == "container" else strip(value)
        if is_empty(value):
            return ABSENT
    defaults = TOP_LEVEL_DEFAULTS.get(key)
    if defaults is not None and value in defaults:
        return ABSENT
    return sorted_set(key, value, app_id) if key in SET_LIKE_FIELDS else value


def sorted_set(key: str, value: Any, app_id: str) -> Any:
    """A set-like member in `sort_set_like`'s order, dependencies absolute."""
    if type(value) is not list:
        return value
    if key == "dependencies":
        value = [resolve_dependency(app_id, str(dependency)) for dependency in value]
    return sorted(value, key=canonical_json)


def plain_labels(labels: dict[Any, Any]) -> dict[str, str] | None:
    """Labels of strings (Marathon's are) without ours, as compaction then normalisation leave them; else None."""
    kept = {}
    for name, label in labels.items():
        if type(label) is not str or type(name) is not str:
            return None
        if name not in UNHASHED_LABELS:
            kept[name] = label
    return kept


def normalize_whole(definition: Mapping[str, Any]) -> dict[str, Any]:
    """`normalize_definition` step by step over the whole definition, legacy shapes included."""
    if type(definition) is dict:
        result = compact_members(definition, STATUS_FIELDS)
    else:
        result = {key: value for key, value in compact_value(definition).items() if key not in STATUS_FIELDS}
    drop_unhashed_labels(result)
    rewrite_legacy_container(result)
    rewrite_legacy_top_level(result)
    strip_nested_defaults(result)
    for key in NESTED_DEFAULT_FIELDS:  # stripping defaults may have emptied these
        if key in result:
            result[key] = compact_value(result[key])
            if is_empty(result[key]):
                del result[key]
    strip_top_level_defaults(result)
    sort_set_like(result)
    return result


def host_networked(definition: Mapping[str, Any]) -> bool:
    """Whether a normalised definition runs on the agent's network (absent `networks` means host)."""
    networks = definition.get("networks") or [{"mode": "host"}]
    return all(isinstance(network, dict) and network.get("mode") == "host" for network in networks)
