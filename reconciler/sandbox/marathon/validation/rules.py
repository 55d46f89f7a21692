"""Marathon's semantic rules on app and group bodies (sandbox layer): AppValidation.scala and
SchedulingValidation.scala in Marathon's words, as 422 `details` [{"path", "errors"}]. RAML numeric
limits are worded as accord words them ("got -1.0, expected 0.0 or more"): range errors are 422
(FACTS.md §7). Bodies reach these rules only once reading has type-checked them.
"""

from __future__ import annotations

import re
from typing import Any

from reconciler.sandbox.marathon.validation.findings import Findings, Json, is_number
from reconciler.sandbox.marathon.validation.path_ids import canonical_path, check_nested_id, check_path_id

CMD_ARGS_CONTAINER = "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."
ROLLBACK_ONLY_ID = "The 'version' field may only be combined with the 'id' field."
BAD_OPERATOR = "operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER, UNLIKE or IS"
ILLEGAL_CONSTRAINT = "illegal constraint specification"
IS_ONLY_TEXT = (
    "IS only supports Mesos text and float values (see http://mesos.apache.org/documentation/latest/attributes-resources/)"
)
GROUP_BY_INT = "GROUP BY must define an integer value or else no value at all"
OPERATORS = frozenset({"UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER", "IS"})
BAD_PORT_INDEX = "Health check port indices must address an element of the ports array or container port mappings."
INACTIVE_AFTER_EXPUNGE = "inactiveAfterSeconds ({}) must be less or equal to expungeAfterSeconds, which is {}"
MARATHON_PROTOCOLS = frozenset({"HTTP", "HTTPS", "TCP"})
SECRETS = "secrets"  # Features.SECRETS, enabled with `--enable_features secrets`
# Validation.featureEnabled, word for word (the closing parenthesis without an opening one is Marathon's).
FEATURE_DISABLED = "Feature {0} is not enabled. Enable with --enable_features {0})"
# EnvVarValidationMessages.UseOfSecretRefsRequiresSecretFeature; SecretValidation.secretValidator.
SECRET_REFS_NEED_FEATURE = "use of secret-references in the environment requires the secrets feature to be enabled"
UNDEFINED_SECRET = "references an undefined secret"
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


def _check_minimum(body: Json, name: str, minimum: float | int, path: str, found: Findings) -> None:
    value: Any = body.get(name)
    if is_number(value) and value < minimum:
        double = name in DOUBLE_FIELDS
        got, expected = scala_number(value, double=double), scala_number(minimum, double=double)
        found.add(f"{path}/{name}", f"got {got}, expected {expected} or more")


def _check_upgrade_strategy(strategy: Json, path: str, found: Findings) -> None:
    for name in ("minimumHealthCapacity", "maximumOverCapacity"):
        value: Any = strategy.get(name)
        if is_number(value) and not 0.0 <= value <= 1.0:
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
    """SchedulingValidation.complyWithAppConstraintRules and complyWithConstraintRules, in their words:
    operators are case-insensitive; CLUSTER takes any value or none; IS takes none or a Mesos text."""
    if not 2 <= len(constraint) <= 3:
        return "Each constraint must have either 2 or 3 fields"
    field, operator = constraint[0], constraint[1].upper()
    value = constraint[2] if len(constraint) == 3 else None
    if not field:
        return ILLEGAL_CONSTRAINT
    if operator not in OPERATORS:
        return BAD_OPERATOR
    if operator == "UNIQUE":
        return None if value is None else "UNIQUE does not accept a value"
    if operator == "GROUP_BY":
        return None if value is None or _is_int(value) else GROUP_BY_INT
    if operator == "MAX_PER":
        return None if value is not None and _is_int(value) else "MAX_PER requires an integer value"
    if operator == "IS":
        return None if re.fullmatch(r"[a-zA-Z0-9_/.-]*", value or "") else IS_ONLY_TEXT
    if operator in ("LIKE", "UNLIKE"):
        return _regex_problem(value)
    return None  # CLUSTER: "value is completely optional"


def _is_int(value: str) -> bool:
    """Scala's `toInt` (Integer.parseInt): an optional sign and decimal digits within 32 bits."""
    return re.fullmatch(r"[+-]?\d+", value) is not None and -(2**31) <= int(value) < 2**31


def _regex_problem(value: str | None) -> str | None:
    if value is None:
        return "LIKE and UNLIKE require a non-empty, regular expression value"
    try:
        re.compile(value)
    except re.error:
        return "is not a valid regular expression"
    return None


def _check_lists(app: Json, path: str, found: Findings) -> None:
    for index, constraint in enumerate(app.get("constraints") or []):
        problem = constraint_problem(constraint)
        if problem:
            found.add(f"{path}/constraints({index})", problem)
    for index, dependency in enumerate(app.get("dependencies") or []):
        check_path_id(dependency, f"{path}/dependencies({index})", found)


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
    if is_number(inactive) and is_number(expunge) and inactive > expunge:
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


def _check_secrets(app: Json, path: str, found: Findings, features: frozenset[str]) -> None:
    """AppValidation.validBasicAppDefinition's secret rules: `secrets` only with the feature (then each
    name and source not empty: SecretValidation.secretValidator), env secret references only with the
    feature (EnvVarValidation.envValidator) and, feature or not, only to a declared secret."""
    secrets: Json = app.get("secrets") or {}
    enabled = SECRETS in features
    if secrets and not enabled:
        found.add(f"{path}/secrets", FEATURE_DISABLED.format(SECRETS))
    if enabled:
        for index, name in enumerate(secrets):
            if not name:
                found.add(f"{path}/secrets/keys({index})", "must not be empty")
        for name, secret in secrets.items():
            if secret.get("source") == "":
                found.add(f"{path}/secrets/{name}/source", "must not be empty")
    env: Json = app.get("env") or {}
    references = {name: value["secret"] for name, value in env.items() if isinstance(value, dict)}
    if references and not enabled:
        found.add(f"{path}/env", SECRET_REFS_NEED_FEATURE)
    for name, secret in references.items():
        if secret not in secrets:
            found.add(f"{path}/env/{name}/secret", UNDEFINED_SECRET)


def check_app(app: Json, path: str, found: Findings, *, base: str, features: frozenset[str] = frozenset()) -> None:
    raw_id = str(app.get("id"))
    check_path_id(raw_id, f"{path}/id", found)
    if canonical_path(raw_id, base) == "/" and path == "":
        found.add("/", "must not be root")
    _check_command(app, path, found)
    _check_fields(app, path, found)
    _check_secrets(app, path, found, features)


def check_app_update(update: Json, found: Findings) -> None:
    if isinstance(update.get("id"), str):
        check_path_id(update["id"], "/id", found)
    if "version" in update and set(update) - {"id", "version"}:
        found.add("/", ROLLBACK_ONLY_ID)
    _check_fields(update, "", found)


def check_group(
    group: Json, path: str, found: Findings, *, group_id: str, features: frozenset[str] = frozenset()
) -> None:
    if isinstance(group.get("id"), str) and group.get("id") not in ("", "/"):
        check_path_id(group["id"], f"{path}/id", found, reserved=False)
    app_ids = set()
    for index, app in enumerate(group.get("apps") or []):
        where = f"{path}/apps({index})"
        if "id" not in app:
            found.add(f"{where}/id", "error.path.missing")
            continue
        app_ids.add(check_nested_id(app["id"], group_id, f"{where}/id", found))
        _check_command(app, where, found)
        _check_fields(app, where, found)
        _check_secrets(app, where, found, features)
    _check_subgroups(group, path, found, group_id=group_id, app_ids=app_ids, features=features)


def _check_subgroups(group: Json, path: str, found: Findings, *, group_id: str,
                     app_ids: set[str], features: frozenset[str]) -> None:
    for index, sub in enumerate(group.get("groups") or []):
        where = f"{path}/groups({index})"
        sub_id = check_nested_id(str(sub.get("id", "")), group_id, f"{where}/id", found)
        if sub_id in app_ids:
            found.add(where, "Groups and Applications may not have the same identifier.")
        check_group({k: v for k, v in sub.items() if k != "id"}, where, found, group_id=sub_id, features=features)
