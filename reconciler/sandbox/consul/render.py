"""JSON shapes of catalog objects as Consul's HTTP API returns them (sandbox layer, Consul emulator).

The same service appears in four shapes: agent (`/agent/services`), health (`Service` of a health
entry), catalog (flat `Service*` keys merged with node keys) and node (`/catalog/node`). Keys and
types follow the published example bodies and recorded responses of real agents.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from reconciler.sandbox.consul.catalog import Catalog, Check, Node, Service
from reconciler.sandbox.consul.durations import format_duration

JSON = dict[str, Any]


def node_json(node: Node, datacenter: str) -> JSON:
    return {
        "ID": node.id,
        "Node": node.name,
        "Address": node.address,
        "Datacenter": datacenter,
        "TaggedAddresses": node.tagged_addresses,
        "Meta": dict(node.meta),
        "CreateIndex": node.create_index,
        "ModifyIndex": node.modify_index,
    }


def agent_service_json(service: Service, datacenter: str) -> JSON:
    body: JSON = {"Kind": service.kind} if service.kind else {}
    body.update({
        "ID": service.id,
        "Service": service.name,
        "Tags": list(service.tags),
        "Meta": dict(service.meta),
        "Port": service.port,
        "Address": service.address,
        "TaggedAddresses": dict(service.tagged_addresses),
        "Weights": dict(service.weights),
        "EnableTagOverride": service.enable_tag_override,
        "Datacenter": datacenter,
    })
    return body


def content_hash(body: JSON) -> str:
    """An opaque 16-hex-digit hash of an agent service, as `/agent/service/<id>` reports it."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def health_service_json(service: Service) -> JSON:
    body: JSON = {"Kind": service.kind} if service.kind else {}
    body.update({
        "ID": service.id,
        "Service": service.name,
        "Tags": list(service.tags),
        "Address": service.address,
        "TaggedAddresses": dict(service.tagged_addresses),
        "Meta": dict(service.meta),
        "Port": service.port,
        "Weights": dict(service.weights),
        "EnableTagOverride": service.enable_tag_override,
        "Proxy": {"Mode": "", "MeshGateway": {}, "Expose": {}},
        "Connect": {},
        "CreateIndex": service.create_index,
        "ModifyIndex": service.modify_index,
    })
    return body


def node_service_json(service: Service) -> JSON:
    """A service inside `/catalog/node/<n>` (a map) or `/catalog/node-services/<n>` (a list)."""
    body = health_service_json(service)
    del body["Proxy"], body["Connect"]
    return body


def catalog_entry_json(node: Node, service: Service, datacenter: str) -> JSON:
    return {
        "ID": node.id,
        "Node": node.name,
        "Address": node.address,
        "Datacenter": datacenter,
        "TaggedAddresses": node.tagged_addresses,
        "NodeMeta": dict(node.meta),
        "ServiceKind": service.kind,
        "ServiceID": service.id,
        "ServiceName": service.name,
        "ServiceTags": list(service.tags),
        "ServiceAddress": service.address,
        "ServiceTaggedAddresses": dict(service.tagged_addresses),
        "ServiceWeights": dict(service.weights),
        "ServiceMeta": dict(service.meta),
        "ServicePort": service.port,
        "ServiceEnableTagOverride": service.enable_tag_override,
        "ServiceProxy": {"Mode": "", "MeshGateway": {}, "Expose": {}},
        "ServiceConnect": {},
        "CreateIndex": service.create_index,
        "ModifyIndex": service.modify_index,
    }


def definition_json(check: Check) -> JSON:
    definition = check.definition
    return {
        "Interval": format_duration(definition.interval),
        "Timeout": format_duration(definition.timeout),
        "DeregisterCriticalServiceAfter": format_duration(definition.deregister_after),
        "HTTP": definition.http,
        "Header": definition.header,
        "Method": definition.method,
        "Body": definition.body,
        "TLSServerName": definition.tls_server_name,
        "TLSSkipVerify": definition.tls_skip_verify,
        "TCP": definition.tcp,
        "UDP": "",
        "GRPC": "",
        "GRPCUseTLS": False,
    }


def check_json(check: Check, catalog: Catalog, *, agent: bool = False) -> JSON:
    """A check as health and catalog reads show it; the agent's own reads add `ExposedPort`."""
    service = catalog.services.get((check.node, check.service_id)) if check.service_id else None
    body: JSON = {
        "Node": check.node,
        "CheckID": check.check_id,
        "Name": check.name,
        "Status": str(check.status),
        "Notes": check.notes,
        "Output": check.output,
        "ServiceID": check.service_id,
        "ServiceName": service.name if service else "",
        "ServiceTags": list(service.tags) if service else [],
        "Type": check.definition.kind,
    }
    if agent:
        body["ExposedPort"] = 0
    body.update({"Definition": definition_json(check), "CreateIndex": check.create_index,
                 "ModifyIndex": check.modify_index})
    return body
