"""The environment Marathon gives a task (sandbox layer): the app's own `env` over Marathon's variables.

Follows mesosphere/marathon 1.9 (src/main/scala/mesosphere/mesos/): `TaskBuilder.commandInfo` merges
`taskContextEnv` (MESOS_TASK_ID, MARATHON_APP_*, the labels of `EnvironmentHelper.labelsToEnvVars`), then
`EnvironmentHelper.portsEnv` with HOST, then the app's string `env` entries, each later part winning.
Secret references in `env` are left out, as `commandInfo` does: only a secrets plugin resolves them.
"""

from __future__ import annotations

import random
import re
from decimal import Decimal
from typing import Any

JsonDict = dict[str, Any]

MAX_ENV_VALUE = 512  # EnvironmentHelper.maxEnvironmentVarLength
LABEL_PREFIX = "MARATHON_APP_LABEL_"  # EnvironmentHelper.labelEnvironmentKeyPrefix
MAX_LABEL_KEY = MAX_ENV_VALUE - len(LABEL_PREFIX)  # EnvironmentHelper.maxVariableLength
RANDOM_PORT = 0  # AppDefinition.RandomPortValue
# ContainerPortGenerator.next: Random.nextInt(65535 - 1024) + 1025.
GENERATED_LOW, GENERATED_HIGH = 1025, 65535


def task_environment(
    defn: JsonDict,
    task_id: str,
    version: str,
    host: str,
    host_ports: list[int],
    rng: random.Random | None = None,
    enforce_role: bool = False,
) -> dict[str, str]:
    """Every variable one task of the app `defn` starts with (TaskBuilder.commandInfo); `host_ports` are
    the agent ports the task holds, in the order placement picked them."""
    requested, bound = port_requests(defn, host_ports)
    own = {key: value for key, value in (defn.get("env") or {}).items() if isinstance(value, str)}
    return {
        **context_environment(defn, task_id, version, enforce_role),
        **ports_environment(requested, bound, rng or random.Random()),
        "HOST": host,
        **own,
    }


def context_environment(defn: JsonDict, task_id: str, version: str, enforce_role: bool) -> dict[str, str]:
    """TaskBuilder.taskContextEnv: the task id, the app's id, version, docker image and resources (a Scala
    Double's and Int's toString), the group role setting, then the labels."""
    container = defn.get("container") or {}
    image = (container.get("docker") or {}).get("image") if container.get("type") == "DOCKER" else None
    env = {
        "MESOS_TASK_ID": task_id,
        "MARATHON_APP_ID": str(defn["id"]),
        "MARATHON_APP_VERSION": version,
        **({"MARATHON_APP_DOCKER_IMAGE": str(image)} if image else {}),
        "MARATHON_APP_RESOURCE_CPUS": java_double(float(defn.get("cpus", 1.0))),
        "MARATHON_APP_RESOURCE_MEM": java_double(float(defn.get("mem", 128.0))),
        "MARATHON_APP_RESOURCE_DISK": java_double(float(defn.get("disk", 0.0))),
        "MARATHON_APP_RESOURCE_GPUS": str(int(defn.get("gpus", 0))),
        "MARATHON_APP_ENFORCE_GROUP_ROLE": "TRUE" if enforce_role else "FALSE",
    }
    return {**env, **labels_environment(defn.get("labels") or {})}


def labels_environment(labels: dict[str, str]) -> dict[str, str]:
    """EnvironmentHelper.labelsToEnvVars: a label whose key has fewer than 493 characters and whose value
    fewer than 512 becomes MARATHON_APP_LABEL_<KEY> (runs of other characters than [a-zA-Z0-9_] made one
    `_`, upper case); MARATHON_APP_LABELS names them, space separated, even when there are none."""
    valid = {
        _escape(key): value
        for key, value in labels.items()
        if len(key) < MAX_LABEL_KEY and len(value) < MAX_ENV_VALUE
    }
    return {"MARATHON_APP_LABELS": " ".join(valid), **{LABEL_PREFIX + key: value for key, value in valid.items()}}


def _escape(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]+", "_", name).upper()


def port_requests(defn: JsonDict, host_ports: list[int]) -> tuple[list[tuple[str | None, int]], list[int | None]]:
    """TaskBuilder.commandInfo's declared ports (name and container port of each mapping when the container
    has mappings, else name and port of each port definition) and the host port bound to each (None for a
    mapping without `hostPort`, which takes no agent port)."""
    mappings = (defn.get("container") or {}).get("portMappings") or []
    if mappings:
        remaining = iter(host_ports)
        bound = [next(remaining, None) if mapping.get("hostPort") is not None else None for mapping in mappings]
        return [(mapping.get("name"), int(mapping.get("containerPort") or 0)) for mapping in mappings], bound
    definitions = defn.get("portDefinitions") or []
    requested = [(item.get("name"), int(item.get("port") or 0)) for item in definitions]
    return requested, [*host_ports[: len(requested)]]


def ports_environment(
    requested: list[tuple[str | None, int]], bound: list[int | None], rng: random.Random
) -> dict[str, str]:
    """EnvironmentHelper.portsEnv: PORT<index> per port, PORT_<requested port> (the effective one for a
    random request) and PORT_<NAME> (the name upper-cased as it is) per port, PORT the first assigned one and
    PORTS all, comma separated. A mapping without host port and with container port 0 gets a generated one."""
    if not bound:
        return {}
    env: dict[str, str] = {}
    generated: dict[int, int] = {}
    consumed = {port for _, port in requested} | {port for port in bound if port is not None}
    for index, host_port in enumerate(bound):
        container_port = requested[index][1] if index < len(requested) else None
        if host_port is not None:
            env[f"PORT{index}"] = str(host_port)
        elif container_port == RANDOM_PORT:
            generated[index] = _generated_port(consumed, rng)
            env[f"PORT{index}"] = str(generated[index])
        elif container_port is not None:
            env[f"PORT{index}"] = str(container_port)
    pairs = list(zip(requested, bound, strict=False))
    for index, ((_, port), host_port) in enumerate(pairs):
        effective = host_port if host_port is not None else generated.get(index, port)
        env[f"PORT_{effective if port == RANDOM_PORT else port}"] = str(effective)
    for index, ((name, port), host_port) in enumerate(pairs):
        if name:
            effective = host_port if host_port is not None else generated.get(index, port)
            env[f"PORT_{name.upper()}"] = str(effective)
    assigned = [port for port in bound if port is not None] + list(generated.values())
    if assigned:
        env["PORT"] = str(assigned[0])
    env["PORTS"] = ",".join(str(port) for port in assigned)
    return env


def _generated_port(consumed: set[int], rng: random.Random) -> int:
    while True:
        port = rng.randint(GENERATED_LOW, GENERATED_HIGH)
        if port not in consumed:
            consumed.add(port)
            return port


def java_double(value: float) -> str:
    """Java's Double.toString: the shortest digits, plain from 10^-3 up to below 10^7 (always with a
    fraction, "1.0"), else computerized scientific notation ("1.0E7", "1.0E-4")."""
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        return repr(float(value))  # Python's repr is plain in this range too
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    assert isinstance(exponent, int)
    shown = "".join(str(digit) for digit in digits)
    power = exponent + len(shown) - 1
    fraction = shown[1:] or "0"
    return f"{'-' if sign else ''}{shown[0]}.{fraction}E{power}"
