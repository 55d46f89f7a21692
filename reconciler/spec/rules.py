"""Rules over a complete app (spec layer): what its fields must satisfy together, checked after the
types are known (chart rendered, overlays applied). A broken rule is a problem at the field it is
about, never a reason to drop the app: the app stays in its environment, so nothing that names it
(dependencies, functional overrides) fails after it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from reconciler.errors import SpecProblem
from reconciler.spec.documents import ConcreteApp
from reconciler.spec.fields import (
    HTTP_PROTOCOLS,
    RESERVED_LABEL_PREFIX,
    EnvSecretRef,
    HealthCheckSpec,
    HealthProtocol,
    Network,
    PortProtocol,
)
from reconciler.spec.problems import closest_hint
from reconciler.spec.source import DataPath, Mark, Marks


@dataclass(frozen=True)
class Finding:
    """A broken rule. `paths`: where to report it, best first (the first the spec author wrote wins)."""

    paths: tuple[DataPath, ...]
    message: str
    hint: str | None = None


def _runs_something(app: ConcreteApp) -> Iterator[Finding]:
    if app.image is None and app.cmd is None and not app.args:
        yield Finding(
            ((),),
            "the app runs nothing: give `image` (Docker) or `cmd`/`args`",
            "add `image: <docker image>`, or `cmd: <shell command>` for a command on the agent",
        )


def _cmd_or_args(app: ConcreteApp) -> Iterator[Finding]:
    if app.cmd is not None and app.args:
        yield Finding(
            (("args",), ("cmd",)),
            "give either `cmd` or `args`, not both (Marathon refuses both)",
            "keep `cmd` (one shell line, run by /bin/sh -c) or `args` (the command as a list), remove the other",
        )


def _network(app: ConcreteApp) -> Iterator[Finding]:
    if app.image is None and app.network is not None:
        yield Finding(
            (("network",),), "`network` applies to Docker apps (with `image`) only", "remove `network`, or add `image`"
        )


def _labels(app: ConcreteApp) -> Iterator[Finding]:
    for key in app.labels or {}:
        if key.startswith(RESERVED_LABEL_PREFIX):
            yield Finding(
                (("labels", key),),
                f"label '{key}': labels starting with '{RESERVED_LABEL_PREFIX}' are the reconciler's own",
                f"rename the label without the `{RESERVED_LABEL_PREFIX}` prefix: the reconciler sets those itself",
            )


def _secret_names(app: ConcreteApp) -> Iterator[Finding]:
    if "" in (app.secrets or {}):
        yield Finding(
            (("secrets", ""), ("secrets",)),
            "a secret without a name: Marathon refuses it (`must not be empty`)",
            "name the secret (`db-password: {source: ...}`): env variables reference it by that name",
        )


def _secret_references(app: ConcreteApp) -> Iterator[Finding]:
    """An env reference to a secret the app does not declare: Marathon refuses it with `references an
    undefined secret` (SecretValidation.secretValidator)."""
    declared = sorted(app.secrets or {})
    for name, value in (app.env or {}).items():
        if isinstance(value, EnvSecretRef) and value.secret not in declared:
            close = closest_hint(value.secret, declared) if declared else None
            declare = f"declare it: `secrets: {{{value.secret}: {{source: <path in the secret store>}}}}`"
            yield Finding(
                (("env", name, "secret"), ("env", name)),
                f"env {name}: secret '{value.secret}' is not declared in the app's `secrets`",
                f"{close[:-1]}, or {declare}" if close and close.startswith("did you mean") else declare,
            )


def _health_checks(app: ConcreteApp) -> Iterator[Finding]:
    for index, check in enumerate(app.health_checks or ()):
        yield from _health_check(check, ("healthChecks", index))


def _health_check(check: HealthCheckSpec, where: DataPath) -> Iterator[Finding]:
    command = HealthProtocol.COMMAND
    if check.protocol == command and not check.command:
        message = "a COMMAND health check needs `command` (the shell command to run)"
        yield Finding(((*where, "command"),), message, "add `command: <shell command>` (exit code 0: healthy)")
    if check.protocol != command and check.command:
        message = f"`command` belongs to COMMAND health checks, not {check.protocol}"
        yield Finding(((*where, "command"),), message, "remove `command`, or set `protocol: COMMAND`")
    if check.path is not None and check.protocol not in HTTP_PROTOCOLS:
        message = f"`path` applies only to HTTP health checks, not {check.protocol}"
        hint = "remove `path`, or use protocol HTTP, HTTPS, MESOS_HTTP or MESOS_HTTPS"
        yield Finding(((*where, "path"),), message, hint)
    if check.port is not None and check.port_index is not None:
        hint = "keep `portIndex` (an index into `ports`) or `port` (a fixed port number), remove the other"
        yield Finding(((*where, "portIndex"), (*where, "port")), "give either `port` or `portIndex`, not both", hint)


def _bridged(app: ConcreteApp) -> bool:
    return app.image is not None and app.network != Network.HOST


def _ports(app: ConcreteApp) -> Iterator[Finding]:
    if _bridged(app):
        return
    for index, port in enumerate(app.ports or ()):
        if port.container_port is not None:
            message = "`containerPort` needs a bridged Docker app (`image`); use `hostPort` otherwise"
            yield Finding((("ports", index, "containerPort"),), message)
        if port.protocol == PortProtocol.UDP_TCP:
            message = "protocol 'udp,tcp' needs a bridged Docker app; declare two host ports instead"
            yield Finding((("ports", index, "protocol"),), message)


def _host_ports(app: ConcreteApp) -> Iterator[Finding]:
    """On host networking Marathon has one number per port (`portDefinitions[].port`): the service port,
    and with `requirePorts` (app-wide) the agent port too. A spec that asks for more cannot be written."""
    if _bridged(app):
        return
    ports = list(app.ports or ())
    pinned = [index for index, port in enumerate(ports) if port.host_port]
    for index, port in enumerate(ports):
        if port.host_port and port.service_port and port.service_port != port.host_port:
            message = (
                f"servicePort {port.service_port} differs from hostPort {port.host_port}: on host networking a"
                " pinned agent port is also the service port (Marathon `requirePorts`)"
            )
            hint = "remove `servicePort` (it is the hostPort), or use a bridged Docker app to map one to the other"
            yield Finding((("ports", index, "servicePort"),), message, hint)
        if pinned and not port.host_port:
            message = (
                f"ports[{pinned[0]}] pins hostPort {ports[pinned[0]].host_port}, so Marathon requires every port"
                " of the app on the agent (`requirePorts`), but this one has no hostPort"
            )
            hint = "give every port a `hostPort`, or none (then the agent picks free ports)"
            yield Finding((("ports", index, "hostPort"),), message, hint)


def _port_names(app: ConcreteApp) -> Iterator[Finding]:
    first: dict[str, int] = {}
    for index, port in enumerate(app.ports or ()):
        if port.name is None:
            continue
        if port.name in first:
            message = (
                f"port name '{port.name}' is also the name of ports[{first[port.name]}]"
                ' (Marathon: "Port names must be unique.")'
            )
            yield Finding((("ports", index, "name"),), message, "give each port its own name")
        first.setdefault(port.name, index)


def port_count(app: ConcreteApp) -> int:
    """How many ports a health check's `portIndex` may address, as Marathon counts them: a bridged Docker
    app has the ports it maps; another app its `ports`, or Marathon's one default port without `ports`.
    """
    if _bridged(app):
        return len(app.ports or ())
    return 1 if app.ports is None else len(app.ports)


def _port_indexes(app: ConcreteApp) -> Iterator[Finding]:
    count = port_count(app)
    for index, check in enumerate(app.health_checks or ()):
        if check.port_index is None or check.protocol == HealthProtocol.COMMAND or check.port_index < count:
            continue
        message = (
            f'portIndex {check.port_index} addresses no port: the app has {count} (Marathon: "Health check port'
            ' indices must address an element of the ports array or container port mappings.")'
        )
        hint = f"use an index below {count} (0 is the first of `ports`)" if count else "add the port to `ports`"
        yield Finding((("healthChecks", index, "portIndex"),), message, hint)


def _instances(app: ConcreteApp) -> Iterator[Finding]:
    if app.autoscale is None or app.instances is None:
        return
    low, high = app.autoscale.min_instances, app.autoscale.max_instances
    if not low <= app.instances <= high:
        yield Finding(
            (("instances",), ("autoscale",)),
            f"instances ({app.instances}) is outside autoscale min..max ({low}..{high})",
            f"set `instances` between {low} and {high}, or leave it out (the app then starts with {low})",
        )


def _task_metrics(app: ConcreteApp) -> Iterator[Finding]:
    """No metrics source reads named per-task metrics yet: a `taskMetric` would never be read."""
    for index, metric in enumerate(app.autoscale.metrics if app.autoscale else ()):
        if metric.task_metric is None:
            continue
        where = ("autoscale", "metrics", index, "taskMetric")
        yield Finding(
            ((*where, "source"), where),
            f"taskMetric (source {metric.task_metric.source!r}) is not supported yet: the controller's sources"
            " read cpu and mem per task (Mesos agent statistics) and Prometheus queries, no named task metric",
            "use `prometheus: {query: ..., target: {averageValue: N}}` for a per-task average"
            " (`reconciler autoscale simulate` still replays taskMetric samples)",
        )


Rule = Callable[[ConcreteApp], Iterator[Finding]]
EVERY_FIELD = None  # a rule about a field's absence reads every field: a broken one may be the one missing

# Each rule with the fields it reads: it is skipped when one of them was cut out for problems.
RULES: tuple[tuple[Rule, frozenset[str] | None], ...] = (
    (_runs_something, EVERY_FIELD),
    (_cmd_or_args, frozenset({"cmd", "args"})),
    (_network, EVERY_FIELD),
    (_labels, frozenset({"labels"})),
    (_secret_names, frozenset({"secrets"})),
    (_secret_references, frozenset({"env", "secrets"})),
    (_ports, EVERY_FIELD),
    (_host_ports, frozenset({"ports", "image", "network"})),
    (_port_names, frozenset({"ports"})),
    (_health_checks, frozenset({"healthChecks"})),
    (_port_indexes, EVERY_FIELD),
    (_instances, frozenset({"instances", "autoscale"})),
    (_task_metrics, frozenset({"autoscale"})),
)


def app_problems(
    app: ConcreteApp, marks: Marks, entry: Mark, broken: frozenset[str] = frozenset()
) -> list[SpecProblem]:
    """Every broken rule of `app` (marks: of its fields; entry: where its spec file lists it), but for
    rules that read a field in `broken` (cut out for its own problems).
    """
    problems = []
    for rule, reads in RULES:
        if broken and (reads is EVERY_FIELD or reads & broken):
            continue
        for finding in rule(app):
            mark = _place(finding.paths, marks, entry)
            problems.append(SpecProblem(mark.file, mark.line, mark.path, finding.message, finding.hint))
    return problems


def _place(paths: tuple[DataPath, ...], marks: Marks, entry: Mark) -> Mark:
    """The first of `paths` written in the spec file; else the first (a chart template's line)."""
    candidates = [marks.at(path) for path in paths]
    return next((mark for mark in candidates if mark.file == entry.file), candidates[0])
