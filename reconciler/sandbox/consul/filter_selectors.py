"""The `?filter` selectors each endpoint of the Consul sandbox accepts (sandbox layer, Consul emulator).

Consul checks every selector against the type of the endpoint's items and fails the request on an
unknown one (FACTS §7); the sandbox derives the same sets from the shapes render.py gives prototype
items. Maps keyed by data (meta, tagged addresses) and structs it does not spell out take any key.
"""

from __future__ import annotations

from reconciler.sandbox.consul.catalog import Catalog, Check, Node, Service
from reconciler.sandbox.consul.filtering import Selectors
from reconciler.sandbox.consul.raft import RaftIndex
from reconciler.sandbox.consul.render import (
    agent_service_json,
    catalog_entry_json,
    check_json,
    health_service_json,
    node_json,
)

FREE_KEYS = frozenset({"Meta", "NodeMeta", "ServiceMeta", "TaggedAddresses", "ServiceTaggedAddresses",
                       "Definition", "Proxy", "ServiceProxy", "Connect", "ServiceConnect"})
# Prototypes render every optional key (a service shows `Kind` only when it has one).
_NODE = Node(name="", address="", id="")
_SERVICE = Service(node="", id="", name="", kind="typical")
_CHECK = check_json(Check(node="", check_id="", name=""), Catalog(RaftIndex()), agent=True)

NODE = Selectors.of(node_json(_NODE, ""), FREE_KEYS)
AGENT_SERVICE = Selectors.of(agent_service_json(_SERVICE, ""), FREE_KEYS)
NODE_SERVICE = Selectors.of(health_service_json(_SERVICE), FREE_KEYS)
CATALOG_ENTRY = Selectors.of(catalog_entry_json(_NODE, _SERVICE, ""), FREE_KEYS)
CHECK = Selectors.of(_CHECK, FREE_KEYS)
HEALTH_ENTRY = Selectors.of({"Node": node_json(_NODE, ""), "Service": health_service_json(_SERVICE),
                             "Checks": [_CHECK]}, FREE_KEYS)
