"""The spec documents (spec layer): Environment, FunctionalSet, the app entries in them, and the
concrete app a chart or an inline entry becomes. Every model refuses unknown keys.

An app entry is either `chart:` + `values:` (plus inline fields that override what the chart
renders) or a complete inline definition (`image` or `cmd`/`args`, resources, ports, ...).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, WithJsonSchema

from reconciler.spec.autoscale import AutoscaleSpec
from reconciler.spec.fields import (
    BackoffSpec,
    ConstraintSpec,
    EnvValue,
    FetchEntry,
    Flag,
    HealthCheckSpec,
    Network,
    PortSpec,
    Real,
    SecretSpec,
    SpecModel,
    Text,
    UpgradeStrategySpec,
    VolumeSpec,
    Whole,
)
from reconciler.spec.policies import MAX_INSTANCES, HealSpec
from reconciler.spec.problems import RangeHint

API_VERSION = "reconciler/v1"
MAX_CPUS = 1024
MAX_MEM_MB = 1024 * 1024  # 1 TiB: more is a typo (GB written as MB), not an app
MAX_DISK_MB = 64 * 1024 * 1024


class Kind(StrEnum):
    ENVIRONMENT = "Environment"
    FUNCTIONAL_SET = "FunctionalSet"


class Approval(StrEnum):
    REQUIRED = "required"
    NONE = "none"


_CONSTRAINT_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 3},
        {"type": "string", "pattern": r"^[^:]+:[A-Z_]+(:.*)?$"},
    ],
    "description": "[field, OPERATOR, value?] or 'field:OPERATOR:value'",
}
Constraint = Annotated[ConstraintSpec, WithJsonSchema(_CONSTRAINT_SCHEMA)]
_UNIT_OF_CPUS = RangeHint(high="that is far beyond any real app: check the unit (cpus are CPU shares: 0.5 is half)")
_UNIT_OF_MIB = RangeHint(high="that is far beyond any real app: check the unit (MiB: 2048 is 2 GiB)")


class AppFields(SpecModel):
    """The inline fields of an app; every one is optional so that entries can override each other."""

    image: str | None = Field(None, min_length=1, description="Docker image; the app runs in a Docker container")
    force_pull_image: Flag | None = None
    network: Network | None = Field(None, description="Docker networking: bridge (default) or host")
    cmd: str | None = Field(None, min_length=1)
    args: list[str] | None = None
    cpus: Annotated[Real, _UNIT_OF_CPUS] | None = Field(None, ge=0, le=MAX_CPUS)
    mem: Annotated[Real, _UNIT_OF_MIB] | None = Field(None, ge=0, le=MAX_MEM_MB, description="memory in MiB")
    disk: Annotated[Real, _UNIT_OF_MIB] | None = Field(None, ge=0, le=MAX_DISK_MB, description="disk in MiB")
    instances: Whole | None = Field(None, ge=0, le=MAX_INSTANCES)
    env: dict[str, EnvValue] | None = None
    secrets: dict[str, SecretSpec] | None = Field(None, description="secrets by name, each a `source` in the store")
    labels: dict[str, Text] | None = None
    ports: list[PortSpec] | None = None
    health_checks: list[HealthCheckSpec] | None = None
    constraints: list[Constraint] | None = None
    upgrade_strategy: UpgradeStrategySpec | None = None
    backoff: BackoffSpec | None = None
    dependencies: list[str] | None = Field(None, description="names of apps in the same environment")
    volumes: list[VolumeSpec] | None = None
    fetch: list[FetchEntry] | None = None
    force: Flag | None = Field(None, description="let apply force deployments of this app past a lock")
    heal: HealSpec | None = None
    autoscale: AutoscaleSpec | None = None


class AppEntry(AppFields):
    """An app as an environment lists it: a chart with values, or inline fields, or both."""

    chart: str | None = Field(None, min_length=1, description="name of a chart in the charts directory")
    values: dict[str, Any] | None = Field(None, description="chart values (over the environment's values)")


class ConcreteApp(AppFields):
    """A complete app after charts and overlays; `rules` checks what its fields must satisfy together."""


class DnsSpec(SpecModel):
    """Container DNS: `dns-search <env>.query.<domain>`, and `servers` as the containers' resolvers."""

    domain: str = Field("consul", pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
    servers: list[Annotated[str, Field(pattern=r"^[0-9a-fA-F:.]+$")]] = Field(default_factory=list)


class EnvironmentDoc(SpecModel):
    api_version: Literal["reconciler/v1"]
    kind: Literal[Kind.ENVIRONMENT]
    name: str = Field(description="a Marathon path segment: the environment runs in group /<name>")
    base: str | None = Field(None, description="makes this a functional environment over `base`")
    approval: Approval | None = None
    group: str | None = Field(None, description="Marathon group (default /<name>)")
    values: dict[str, Any] | None = None
    dns: DnsSpec | None = None
    charts: str | None = Field(None, description="charts directory, relative to this file")
    apps: dict[str, AppEntry | None] | None = None


class FunctionalEnvSpec(SpecModel):
    """One functional environment of a FunctionalSet: the apps it runs itself, over the set's base."""

    approval: Approval | None = None
    group: str | None = None
    values: dict[str, Any] | None = None
    dns: DnsSpec | None = None
    apps: dict[str, AppEntry | None] | None = None


class FunctionalSetDoc(SpecModel):
    api_version: Literal["reconciler/v1"]
    kind: Literal[Kind.FUNCTIONAL_SET]
    base: str = Field(description="the complete environment these functional environments fall back to")
    charts: str | None = Field(None, description="charts directory, relative to this file")
    sets: dict[str, FunctionalEnvSpec | None]


class ChartMeta(SpecModel):
    """`Chart.yaml`."""

    api_version: str | None = None
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    description: str | None = None
    app_version: str | None = None


DOCUMENT_MODELS: dict[str, type[EnvironmentDoc] | type[FunctionalSetDoc]] = {
    Kind.ENVIRONMENT: EnvironmentDoc,
    Kind.FUNCTIONAL_SET: FunctionalSetDoc,
}
