"""A concrete app as a Marathon app body (spec layer).

Only fields the spec sets are written (the rest are Marathon's to default), plus the absolute `id`,
`instances`, the ownership labels and, for Docker apps of an environment with `dns`, the container
DNS parameters (`dns-search <env>.query.<domain>`, one `dns` per server). A secret is written as its
reference: `secrets` with each `source`, and `{"secret": "<name>"}` as the value of an env variable.
"""

from __future__ import annotations

import math
from typing import Any

from reconciler.spec.documents import ConcreteApp, DnsSpec
from reconciler.spec.fields import HealthCheckSpec, Network, PortSpec, SpecModel, VolumeSpec


def marathon_body(
    app: ConcreteApp,
    *,
    app_id: str,
    env: str,
    instances: int,
    labels: dict[str, str],
    dependencies: list[str],
    dns: DnsSpec | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"id": app_id, "instances": instances, **_command_and_resources(app)}
    body["labels"] = {**(app.labels or {}), **labels}
    body.update(_networking(app))
    if app.image is not None or app.volumes:
        body["container"] = _container(app, env, dns)
    if app.health_checks:
        body["healthChecks"] = [_health_check(check) for check in app.health_checks]
    if app.constraints:
        body["constraints"] = [
            [c.field, str(c.operator), *([c.value] if c.value is not None else [])] for c in app.constraints
        ]
    if app.upgrade_strategy is not None:
        body["upgradeStrategy"] = _dump(app.upgrade_strategy)
    body.update(_backoff(app))
    if dependencies:
        body["dependencies"] = dependencies
    if app.fetch:
        body["fetch"] = [_dump(entry) for entry in app.fetch]
    return body


def _command_and_resources(app: ConcreteApp) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name in ("cmd", "args"):
        value = getattr(app, name)
        if value is not None:
            body[name] = value
    if app.env is not None:
        body["env"] = {name: value if isinstance(value, str) else _dump(value) for name, value in app.env.items()}
    if app.secrets:
        body["secrets"] = {name: _dump(secret) for name, secret in app.secrets.items()}
    for name in ("cpus", "mem", "disk"):
        amount = getattr(app, name)
        if amount is not None:
            body[name] = int(amount) if float(amount).is_integer() else amount  # 384, not 384.0
    return body


def _dump(model: SpecModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def _bridged(app: ConcreteApp) -> bool:
    return app.image is not None and app.network != Network.HOST


def _networking(app: ConcreteApp) -> dict[str, Any]:
    """Docker bridge apps map container ports; host-networked apps (and commands) define host ports,
    pinned on the agent (`requirePorts`) when the spec gives `hostPort`."""
    if _bridged(app):
        return {"networks": [{"mode": "container/bridge"}]}
    result: dict[str, Any] = {}
    if app.image is not None:
        result["networks"] = [{"mode": "host"}]
    if app.ports is not None:
        result["portDefinitions"] = [_port_definition(port) for port in app.ports]
        if any(port.host_port for port in app.ports):
            result["requirePorts"] = True  # the agent port is the definition's port, not any free one
    return result


def _port_definition(port: PortSpec) -> dict[str, Any]:
    """Marathon's `port` is the service port; with `requirePorts` it is the agent port too, so a pinned
    `hostPort` goes there (rules.py refuses a `servicePort` that differs from it)."""
    number = port.host_port or port.service_port or 0
    definition: dict[str, Any] = {"port": number, "protocol": str(port.protocol)}
    if port.name:
        definition["name"] = port.name
    if port.labels:
        definition["labels"] = dict(port.labels)
    return definition


def _port_mapping(port: PortSpec) -> dict[str, Any]:
    mapping: dict[str, Any] = {"containerPort": port.container_port or 0, "hostPort": port.host_port or 0}
    if port.service_port is not None:
        mapping["servicePort"] = port.service_port
    mapping["protocol"] = str(port.protocol)
    if port.name:
        mapping["name"] = port.name
    if port.labels:
        mapping["labels"] = dict(port.labels)
    return mapping


def _container(app: ConcreteApp, env: str, dns: DnsSpec | None) -> dict[str, Any]:
    if app.image is None:
        return {"type": "MESOS", "volumes": [_volume(volume) for volume in app.volumes or ()]}
    docker: dict[str, Any] = {"image": app.image}
    if app.force_pull_image is not None:
        docker["forcePullImage"] = app.force_pull_image
    if dns is not None:
        docker["parameters"] = dns_parameters(env, dns)
    container: dict[str, Any] = {"type": "DOCKER", "docker": docker}
    if _bridged(app) and app.ports:
        container["portMappings"] = [_port_mapping(port) for port in app.ports]
    if app.volumes:
        container["volumes"] = [_volume(volume) for volume in app.volumes]
    return container


def dns_parameters(env: str, dns: DnsSpec) -> list[dict[str, str]]:
    """Docker parameters that make bare app names resolve inside environment `env` (through Consul)."""
    parameters = [{"key": "dns-search", "value": f"{env}.query.{dns.domain}"}]
    parameters += [{"key": "dns", "value": server} for server in dns.servers]
    return parameters


def _volume(volume: VolumeSpec) -> dict[str, Any]:
    return _dump(volume)


def _health_check(check: HealthCheckSpec) -> dict[str, Any]:
    body = _dump(check)
    if check.command is not None:
        body["command"] = {"value": check.command}
    return body


def _backoff(app: ConcreteApp) -> dict[str, Any]:
    if app.backoff is None:
        return {}
    result: dict[str, Any] = {}
    if app.backoff.seconds is not None:
        result["backoffSeconds"] = math.ceil(app.backoff.seconds)
    if app.backoff.factor is not None:
        result["backoffFactor"] = app.backoff.factor
    if app.backoff.max_launch_delay is not None:
        result["maxLaunchDelaySeconds"] = math.ceil(app.backoff.max_launch_delay)
    return result
