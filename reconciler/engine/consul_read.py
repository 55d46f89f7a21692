"""Consul's side of a cycle in a number of requests that does not grow with the apps (engine layer).

Every cycle reads four things: `GET /v1/catalog/nodes` and `/v1/catalog/services` (for their indexes),
`/v1/health/state/any` (every check, node and service, in one answer) and `/v1/query`. The services of
each node (`GET /v1/catalog/node/<node>`, a bounded number at a time) are read again only when the
nodes' or the services' index moved past the CatalogSnapshot the previous cycle kept, the way
consul-template keeps its blocking indexes: an idle cycle costs four requests, whatever the app count.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.consul import wire
from reconciler.consul.translate import instances_of_nodes, observed_queries_of
from reconciler.core.registry import MANAGED_TAG, ConsulObservation
from reconciler.engine.ports import ConsulPort
from reconciler.errors import ReconcilerError
from reconciler.redaction import redact_url

# Per-node reads in flight at once: enough to overlap round trips, few enough that a cluster of
# hundreds of nodes never opens hundreds of connections to one agent.
NODE_READS_AT_ONCE = 8


@dataclass(frozen=True)
class CatalogSnapshot:
    """The services of every node as read at the nodes' and services' indexes (X-Consul-Index)."""

    nodes_index: int
    services_index: int
    nodes: tuple[wire.CatalogNode, ...]

    def current_at(self, nodes_index: int, services_index: int) -> bool:
        """Whether nothing was registered, deregistered or moved since this snapshot was read.

        An index of 0 (no header) or one that went backwards (a snapshot restore) never matches.
        """
        return 0 < self.nodes_index == nodes_index and 0 < self.services_index == services_index


@dataclass(frozen=True)
class ConsulRead:
    """One cycle's Consul observation and the snapshot to hand to the next cycle."""

    observation: ConsulObservation
    catalog: CatalogSnapshot | None


async def read_nodes(consul: ConsulPort, names: Sequence[str]) -> tuple[wire.CatalogNode, ...]:
    """`GET /v1/catalog/node/<name>` for every name, NODE_READS_AT_ONCE at a time; gone nodes are left out."""
    gate = asyncio.Semaphore(NODE_READS_AT_ONCE)

    async def one(name: str) -> wire.CatalogNode | None:
        async with gate:
            found, _state = await consul.get_catalog_node(name)
            return found

    found = await asyncio.gather(*(one(name) for name in names))
    return tuple(node for node in found if node is not None)


async def read_consul(consul: ConsulPort, previous: CatalogSnapshot | None = None) -> ConsulRead:
    """Our instances (with checks) and the prepared queries; incomplete with the reason on any failure."""
    try:
        (nodes, nodes_state), (_, services_state), (checks, _), queries = await asyncio.gather(
            consul.get_catalog_nodes(), consul.get_catalog_services(), consul.get_health_state("any"),
            consul.get_queries(),
        )
        catalog = previous
        if catalog is None or not catalog.current_at(nodes_state.index, services_state.index):
            read = await read_nodes(consul, [node.node for node in nodes])
            catalog = CatalogSnapshot(nodes_state.index, services_state.index, read)
    except ReconcilerError as exc:
        problem = f"Consul at {redact_url(consul.base_url)}: {exc}"
        return ConsulRead(ConsulObservation(complete=False, problems=(problem,)), previous)
    instances = instances_of_nodes(catalog.nodes, checks, tag=MANAGED_TAG)
    return ConsulRead(ConsulObservation(instances=instances, queries=observed_queries_of(queries)), catalog)
