"""Consul's wire models (layer 3 adapter): the JSON bodies of the endpoints the reconciler uses.

Keys are PascalCase aliases of snake_case fields. Reads are tolerant of Consul 0.9 to 1.20: unknown
keys are ignored and `null` lists or maps (old agents, catalog-registered nodes) become empty.
Request models serialise with `to_body()`, which drops unset optional fields.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field


def _none_as_list(value: object) -> object:
    return [] if value is None else value


def _none_as_dict(value: object) -> object:
    return {} if value is None else value


StrList = Annotated[list[str], BeforeValidator(_none_as_list)]
StrMap = Annotated[dict[str, str], BeforeValidator(_none_as_dict)]
AnyMap = Annotated[dict[str, Any], BeforeValidator(_none_as_dict)]


class WireModel(BaseModel):
    """Base of every Consul body: aliases are the PascalCase keys, unknown keys are ignored."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    def to_body(self) -> dict[str, Any]:
        """The JSON body Consul expects: PascalCase keys, unset optional fields left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class Weights(WireModel):
    passing: int = Field(1, alias="Passing")
    warning: int = Field(1, alias="Warning")


class CheckDefinition(WireModel):
    """A check inside a service registration (`Check` of `PUT /v1/agent/service/register`)."""

    check_id: str | None = Field(None, alias="CheckID")
    name: str | None = Field(None, alias="Name")
    notes: str | None = Field(None, alias="Notes")
    http: str | None = Field(None, alias="HTTP")
    method: str | None = Field(None, alias="Method")
    tcp: str | None = Field(None, alias="TCP")
    ttl: str | None = Field(None, alias="TTL")
    interval: str | None = Field(None, alias="Interval")
    timeout: str | None = Field(None, alias="Timeout")
    deregister_critical_service_after: str | None = Field(None, alias="DeregisterCriticalServiceAfter")
    status: str | None = Field(None, alias="Status")


class ServiceRegistration(WireModel):
    """Body of `PUT /v1/agent/service/register`."""

    id: str = Field(alias="ID")
    name: str = Field(alias="Name")
    tags: list[str] = Field(default_factory=list, alias="Tags")
    address: str = Field("", alias="Address")
    port: int = Field(0, alias="Port")
    meta: dict[str, str] = Field(default_factory=dict, alias="Meta")
    enable_tag_override: bool | None = Field(None, alias="EnableTagOverride")
    check: CheckDefinition | None = Field(None, alias="Check")
    weights: Weights | None = Field(None, alias="Weights")


class AgentService(WireModel):
    """One service instance as an agent or a health entry shows it (`Service` object)."""

    id: str = Field(alias="ID")
    service: str = Field(alias="Service")
    tags: StrList = Field(default_factory=list, alias="Tags")
    meta: StrMap = Field(default_factory=dict, alias="Meta")
    port: int = Field(0, alias="Port")
    address: str = Field("", alias="Address")
    tagged_addresses: AnyMap = Field(default_factory=dict, alias="TaggedAddresses")
    enable_tag_override: bool = Field(False, alias="EnableTagOverride")
    datacenter: str = Field("", alias="Datacenter")
    weights: Weights = Field(default_factory=Weights, alias="Weights")
    kind: str = Field("", alias="Kind")
    namespace: str = Field("", alias="Namespace")


class HealthCheck(WireModel):
    """One check (node-level when `ServiceID` is empty): health endpoints and `/v1/agent/checks`."""

    node: str = Field("", alias="Node")
    check_id: str = Field(alias="CheckID")
    name: str = Field("", alias="Name")
    status: str = Field(alias="Status")
    notes: str = Field("", alias="Notes")
    output: str = Field("", alias="Output")
    service_id: str = Field("", alias="ServiceID")
    service_name: str = Field("", alias="ServiceName")
    service_tags: StrList = Field(default_factory=list, alias="ServiceTags")
    type: str = Field("", alias="Type")
    definition: AnyMap = Field(default_factory=dict, alias="Definition")
    create_index: int = Field(0, alias="CreateIndex")
    modify_index: int = Field(0, alias="ModifyIndex")


AgentCheck = HealthCheck


class Node(WireModel):
    """A catalog node; prepared-query results call its meta `NodeMeta`."""

    id: str = Field("", alias="ID")
    node: str = Field(alias="Node")
    address: str = Field("", alias="Address")
    datacenter: str = Field("", alias="Datacenter")
    tagged_addresses: AnyMap = Field(default_factory=dict, alias="TaggedAddresses")
    meta: StrMap = Field(default_factory=dict, validation_alias=AliasChoices("Meta", "NodeMeta"), alias="Meta")
    create_index: int = Field(0, alias="CreateIndex")
    modify_index: int = Field(0, alias="ModifyIndex")


class ServiceEntry(WireModel):
    """One element of `GET /v1/health/service/<name>` and of a prepared query's `Nodes`."""

    node: Node = Field(alias="Node")
    service: AgentService = Field(alias="Service")
    checks: Annotated[list[HealthCheck], BeforeValidator(_none_as_list)] = Field(default_factory=list, alias="Checks")


class CatalogNode(WireModel):
    """`GET /v1/catalog/node/<node>`: the node and its service instances keyed by service id."""

    node: Node = Field(alias="Node")
    services: Annotated[dict[str, AgentService], BeforeValidator(_none_as_dict)] = Field(
        default_factory=dict, alias="Services"
    )


class AgentConfig(WireModel):
    datacenter: str = Field("", alias="Datacenter")
    node_name: str = Field("", alias="NodeName")
    node_id: str = Field("", alias="NodeID")
    server: bool = Field(False, alias="Server")
    version: str = Field("", alias="Version")
    revision: str = Field("", alias="Revision")
    domain: str = Field("", alias="Domain")


class AgentSelf(WireModel):
    """`GET /v1/agent/self`: only the parts the reconciler reads (node name, datacenter, address)."""

    config: AgentConfig = Field(alias="Config")
    member: AnyMap = Field(default_factory=dict, alias="Member")
    meta: StrMap = Field(default_factory=dict, alias="Meta")


class KVPair(WireModel):
    key: str = Field(alias="Key")
    value_base64: str | None = Field(None, alias="Value")
    flags: int = Field(0, alias="Flags")
    create_index: int = Field(0, alias="CreateIndex")
    modify_index: int = Field(0, alias="ModifyIndex")
    lock_index: int = Field(0, alias="LockIndex")
    session: str = Field("", alias="Session")

    @property
    def value(self) -> bytes | None:
        """The stored bytes (JSON reads carry them base64-encoded; `null` for a key without value)."""
        return None if self.value_base64 is None else base64.b64decode(self.value_base64)


class Session(WireModel):
    """A session; `LockDelay` comes back in nanoseconds, `TTL` as a duration string."""

    id: str = Field(alias="ID")
    name: str = Field("", alias="Name")
    node: str = Field("", alias="Node")
    lock_delay: int | str = Field(0, alias="LockDelay")
    behavior: str = Field("release", alias="Behavior")
    ttl: str = Field("", alias="TTL")
    node_checks: StrList = Field(
        default_factory=list, validation_alias=AliasChoices("NodeChecks", "Checks"), alias="NodeChecks"
    )
    create_index: int = Field(0, alias="CreateIndex")
    modify_index: int = Field(0, alias="ModifyIndex")


class SessionCreate(WireModel):
    """Body of `PUT /v1/session/create`. Node checks go out as `Checks`, which every version accepts."""

    name: str = Field(alias="Name")
    ttl: str | None = Field(None, alias="TTL")
    behavior: str | None = Field(None, alias="Behavior")
    lock_delay: str | None = Field(None, alias="LockDelay")
    node: str | None = Field(None, alias="Node")
    checks: list[str] | None = Field(None, alias="Checks")


class QueryFailover(WireModel):
    nearest_n: int = Field(0, alias="NearestN")
    datacenters: StrList = Field(default_factory=list, alias="Datacenters")


class QueryService(WireModel):
    service: str = Field(alias="Service")
    failover: QueryFailover | None = Field(None, alias="Failover")
    only_passing: bool = Field(False, alias="OnlyPassing")
    near: str | None = Field(None, alias="Near")
    tags: StrList = Field(default_factory=list, alias="Tags")
    node_meta: StrMap | None = Field(None, alias="NodeMeta")
    service_meta: StrMap | None = Field(None, alias="ServiceMeta")


class QueryDNS(WireModel):
    ttl: str = Field("", alias="TTL")


class PreparedQueryDefinition(WireModel):
    """Body of `POST /v1/query` and `PUT /v1/query/<id>`. The reconciler never stores a `Token`."""

    name: str = Field("", alias="Name")
    session: str | None = Field(None, alias="Session")
    token: str | None = Field(None, alias="Token", repr=False)
    service: QueryService = Field(alias="Service")
    dns: QueryDNS | None = Field(None, alias="DNS")


class RaftIndex(WireModel):
    create_index: int = Field(0, alias="CreateIndex")
    modify_index: int = Field(0, alias="ModifyIndex")


class PreparedQuery(PreparedQueryDefinition):
    """One element of `GET /v1/query`."""

    id: str = Field(alias="ID")
    raft_index: RaftIndex = Field(default_factory=RaftIndex, alias="RaftIndex")


class QueryExecuteResult(WireModel):
    """`GET /v1/query/<id-or-name>/execute`."""

    service: str = Field("", alias="Service")
    nodes: Annotated[list[ServiceEntry], BeforeValidator(_none_as_list)] = Field(default_factory=list, alias="Nodes")
    dns: QueryDNS | None = Field(None, alias="DNS")
    datacenter: str = Field("", alias="Datacenter")
    failovers: int = Field(0, alias="Failovers")


class CreatedID(WireModel):
    """`{"ID": "<uuid>"}` answered by session create and query create."""

    id: str = Field(alias="ID")
