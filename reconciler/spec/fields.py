"""The parts of an inline app definition (spec layer): ports, health checks, volumes, fetch URIs,
constraints, upgrade strategy and backoff, as pydantic models that refuse unknown keys.

Field names follow Marathon's (camelCase) so that a Marathon user recognises them; the render step
turns them into the Marathon app body.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    Tag,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from reconciler.spec.problems import RangeHint, rule_error
from reconciler.spec.units import Duration, Percent

RESERVED_LABEL_PREFIX = "reconciler."
INT32_MAX = 2**31 - 1  # Marathon's `format: int32` fields (raml/v2/types/healthCheck.raml, app.raml)
INT64_MAX = 2**63 - 1


def _not_text(value: Any) -> Any:
    """A whole number is written as one: pydantic would read `"3"` as 3 and `true` as 1 (a quoted count
    is most likely a template's `"{{ n }}"`, and `instances: true` is no count at all)."""
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "Input should be a whole number, not a boolean")
    if isinstance(value, str):
        raise PydanticCustomError("int_type", "Input should be a whole number, not text")
    return value


# Numbers and booleans as YAML writes them: text ("3", "yes") and booleans where a number goes are refused.
Whole = Annotated[int, BeforeValidator(_not_text)]
Real = Annotated[float, Strict()]  # a strict float takes an int, never text or a boolean
Flag = Annotated[bool, Strict()]  # `yes`, `on`, "true" and 1 are not booleans (YAML 1.2: only true and false)


class SpecModel(BaseModel):
    """Base of every spec model: unknown keys are errors, YAML keys are camelCase, and a number is
    finite (`.inf`, `.nan` and `1e400` mean nothing Marathon or the reconciler can act on)."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True, allow_inf_nan=False
    )


class PortProtocol(StrEnum):
    TCP = "tcp"
    UDP = "udp"
    UDP_TCP = "udp,tcp"


class Network(StrEnum):
    """How a Docker app is networked: `bridge` maps container ports, `host` uses the agent's ports."""

    BRIDGE = "bridge"
    HOST = "host"


class HealthProtocol(StrEnum):
    HTTP = "HTTP"
    HTTPS = "HTTPS"
    TCP = "TCP"
    COMMAND = "COMMAND"
    MESOS_HTTP = "MESOS_HTTP"
    MESOS_HTTPS = "MESOS_HTTPS"
    MESOS_TCP = "MESOS_TCP"


HTTP_PROTOCOLS = frozenset(
    {HealthProtocol.HTTP, HealthProtocol.HTTPS, HealthProtocol.MESOS_HTTP, HealthProtocol.MESOS_HTTPS}
)


class IpProtocol(StrEnum):
    IPV4 = "IPv4"
    IPV6 = "IPv6"


class VolumeMode(StrEnum):
    RO = "RO"
    RW = "RW"


class ConstraintOperator(StrEnum):
    UNIQUE = "UNIQUE"
    CLUSTER = "CLUSTER"
    GROUP_BY = "GROUP_BY"
    LIKE = "LIKE"
    UNLIKE = "UNLIKE"
    MAX_PER = "MAX_PER"


def _stringify(value: Any) -> Any:
    """YAML turns `8080` and `true` into numbers and booleans; env and labels are strings in Marathon."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


Text = Annotated[str, BeforeValidator(_stringify)]


def _not_empty(message: str, hint: str) -> AfterValidator:
    """Marathon refuses these empty (SecretValidation: `must not be empty`): said in a spec author's words."""

    def check(value: str) -> str:
        if not value:
            raise rule_error(message, hint)
        return value

    return AfterValidator(check)


SecretSource = Annotated[
    str,
    _not_empty(
        "a secret's `source` is empty", "write the secret's path in the secret store: `source: /shop/db/password`"
    ),
    Field(json_schema_extra={"minLength": 1}, description="the secret's path in the secret store"),
]
SecretName = Annotated[
    str,
    _not_empty(
        "the secret reference names no secret", "write the name of one of the app's `secrets`: `{secret: db-password}`"
    ),
    Field(json_schema_extra={"minLength": 1}, description="the name of a secret in the app's `secrets`"),
]


class SecretSpec(SpecModel):
    """A secret the app declares: `source` is its path in Marathon's secret store (resolved by the
    cluster's secrets plugin, never by the reconciler)."""

    source: SecretSource


class EnvSecretRef(SpecModel):
    """An environment variable whose value is a declared secret: `{secret: <name in secrets>}`."""

    secret: SecretName


def _env_value(value: Any) -> Any:
    """Text (numbers and booleans as text), or a mapping, which is a secret reference; nothing else."""
    if isinstance(value, dict | EnvSecretRef):
        return value
    if isinstance(value, str | int | float):
        return _stringify(value)
    raise rule_error(
        "an env value is text or a secret reference `{secret: <name>}`",
        "write the value as text (quote it), or `{secret: <name in secrets>}` to take it from a declared secret",
    )


def _env_kind(value: Any) -> str:
    return "text" if isinstance(value, str) else "reference"


# An env value: text, or a reference to one of the app's `secrets` (Marathon's EnvVarSecretRef). The
# reference comes first so that an unknown key in it is hinted with `secret`.
EnvValue = Annotated[
    Annotated[EnvSecretRef, Tag("reference")] | Annotated[str, Tag("text")],
    Discriminator(_env_kind),
    BeforeValidator(_env_value),
]
PortName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$")]


class PortSpec(SpecModel):
    """A port: `containerPort` for bridge networking, `hostPort` (0 = any) on the agent."""

    name: PortName | None = None
    container_port: Whole | None = Field(None, ge=0, le=65535)
    host_port: Whole | None = Field(None, ge=0, le=65535)
    service_port: Whole | None = Field(None, ge=0, le=65535)
    protocol: PortProtocol = PortProtocol.TCP
    labels: dict[str, Text] = Field(default_factory=dict)


class HealthCheckSpec(SpecModel):
    """A Marathon health check; `command` is the shell command of a COMMAND check."""

    protocol: HealthProtocol = HealthProtocol.HTTP
    path: str | None = None
    port_index: Whole | None = Field(None, ge=0, le=INT32_MAX)
    port: Whole | None = Field(None, ge=0, le=65535)
    command: str | None = Field(None, min_length=1)
    grace_period_seconds: Whole | None = Field(None, ge=0, le=INT32_MAX)
    interval_seconds: Whole | None = Field(None, ge=0, le=INT32_MAX)
    timeout_seconds: Whole | None = Field(None, ge=0, le=INT32_MAX)
    max_consecutive_failures: Whole | None = Field(None, ge=0, le=INT32_MAX)
    delay_seconds: Whole | None = Field(None, ge=0, le=INT32_MAX)
    ignore_http1xx: Flag | None = Field(None, alias="ignoreHttp1xx")  # to_camel would say ignoreHttp1Xx
    ip_protocol: IpProtocol | None = None


def _constraint_list(value: Any) -> Any:
    """`hostname:UNIQUE` and `rack:GROUP_BY:3` are shorthand for Marathon's list form. A trailing colon
    (`hostname:UNIQUE:`) names no value, whatever the operator: Marathon 1.10 refuses UNIQUE with one, even
    an empty one; an operator that needs a value is then refused by ConstraintSpec, not sent without it."""
    if not isinstance(value, str):
        return value
    parts = value.split(":", 2)
    return parts[:2] if len(parts) == 3 and not parts[2] else parts


_CONSTRAINT_HINT = "write `field:OPERATOR` or `field:OPERATOR:value`, e.g. hostname:UNIQUE or rack:GROUP_BY:3"


class ConstraintSpec(SpecModel):
    field: str = Field(min_length=1)
    operator: ConstraintOperator
    value: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, value: Any) -> Any:
        value = _constraint_list(value)
        if isinstance(value, list):
            if not 2 <= len(value) <= 3:
                raise rule_error("a constraint is [field, OPERATOR] or [field, OPERATOR, value]", _CONSTRAINT_HINT)
            return dict(zip(("field", "operator", "value"), (_stringify(part) for part in value), strict=False))
        if not isinstance(value, dict):
            raise rule_error("a constraint is a string or a list", _CONSTRAINT_HINT)
        return value

    @model_validator(mode="after")
    def _value_fits_operator(self) -> ConstraintSpec:
        if problem := _value_problem(self.operator, self.value):
            raise rule_error(problem[0], problem[1])
        return self


def _value_problem(operator: ConstraintOperator, value: str | None) -> tuple[str, str] | None:
    """Marathon's value rules per operator, refused here (file:line) rather than by its 422: mesosphere/marathon
    SchedulingValidation.complyWithConstraintRules. CLUSTER takes any value or none."""
    op = ConstraintOperator
    if operator == op.UNIQUE and value is not None:
        return "UNIQUE takes no value", "write `hostname:UNIQUE`"
    if operator in (op.LIKE, op.UNLIKE) and value is None:
        return (f"{operator} needs a value, a regular expression",
                f"write e.g. `rack:{operator}:rack-[12]` (a trailing colon names no value)")
    if operator == op.MAX_PER and not _is_int32(value):
        return "MAX_PER needs an integer value", "write e.g. `rack:MAX_PER:2` (a trailing colon names no value)"
    if operator == op.GROUP_BY and value is not None and not _is_int32(value):
        return "GROUP_BY takes an integer value or none", "write `rack:GROUP_BY` or e.g. `rack:GROUP_BY:3`"
    return None


def _is_int32(value: str | None) -> bool:
    """Scala's `toInt` (Integer.parseInt), as Marathon reads the number: a sign, decimal digits, 32 bits."""
    return value is not None and re.fullmatch(r"[+-]?[0-9]+", value) is not None and -(2**31) <= int(value) < 2**31


_FRACTION = "a fraction of the instance count between 0 and 1: 0.5 or 50%"
Capacity = Annotated[Percent, Field(le=1), RangeHint(low=_FRACTION, high=_FRACTION)]
BackoffFactor = Annotated[
    Real,
    Field(ge=1, le=100),
    RangeHint(low="a factor >= 1 that multiplies the delay after each failed launch (1: always the same delay)"),
]


class UpgradeStrategySpec(SpecModel):
    minimum_health_capacity: Capacity | None = None
    maximum_over_capacity: Capacity | None = None


class BackoffSpec(SpecModel):
    """Marathon's launch backoff: `seconds`, multiplied by `factor` per failure, up to `maxLaunchDelay`."""

    seconds: Duration | None = None
    factor: BackoffFactor | None = None
    max_launch_delay: Duration | None = None


class PersistentVolumeSpec(SpecModel):
    size: Whole = Field(ge=1, le=INT64_MAX, description="size in MiB")
    type: str | None = Field(None, pattern=r"^(root|path|mount)$")


class VolumeSpec(SpecModel):
    container_path: str = Field(min_length=1)
    host_path: str | None = Field(None, min_length=1)
    persistent: PersistentVolumeSpec | None = None
    secret: str | None = Field(None, description="not supported yet: a secret volume")
    mode: VolumeMode = VolumeMode.RW

    @model_validator(mode="after")
    def _one_source(self) -> VolumeSpec:
        if self.secret is not None:
            raise rule_error(
                "secret volumes are not supported yet: the reconciler writes, compares and emulates secrets in env"
                " only",
                "take the secret in an environment variable: `env: {NAME: {secret: <name in secrets>}}`",
            )
        if (self.host_path is None) == (self.persistent is None):
            raise rule_error(
                "a volume needs exactly one of `hostPath` or `persistent`",
                "mount a host folder (`hostPath: /srv/data`) or a local persistent volume (`persistent: {size: 1024}`)",
            )
        return self


def _fetch_entry(value: Any) -> Any:
    return {"uri": value} if isinstance(value, str) else value


class FetchSpec(SpecModel):
    """A URI for the Mesos fetcher; a plain string is shorthand for `{uri: ...}`."""

    uri: str = Field(min_length=1)
    executable: Flag | None = None
    extract: Flag | None = None
    cache: Flag | None = None
    dest_path: str | None = None


FetchEntry = Annotated[FetchSpec, BeforeValidator(_fetch_entry)]
