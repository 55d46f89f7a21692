"""Consul's side of a cycle in a number of requests that does not grow with the apps (engine layer).

Every cycle reads four things: `GET /v1/catalog/nodes` and `/v1/catalog/services` (for their indexes),
`/v1/health/state/any` (every check, node and service, in one answer) and `/v1/query`. The services of
each node (`GET /v1/catalog/node/<node>`, a bounded number at a time) are read again only when the
nodes' or the services' index moved past the ConsulSnapshot the previous cycle kept, and the checks
are decoded again only when their index moved, the way consul-template keeps its blocking indexes:
an idle cycle costs four requests and decodes little, whatever the app count.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from reconciler.consul.blocking import BlockingState
from reconciler.consul.translate import (
    CheckState,
    NodeServices,
    instances_of_services,
    with_statuses,
)
from reconciler.core.registry import MANAGED_TAG, ConsulObservation, ObservedQuery, ServiceInstance
from reconciler.engine.ports import ConsulPort
from reconciler.errors import ReconcilerError
from reconciler.gc_pause import off_loop
from reconciler.redaction import redact_url

# From this many checks, the instances are built in a worker thread (gc_pause.off_loop): at 10,000 that
# held the loop 50 to 100 ms; below 1,000 it holds it under 10 ms, not worth a trip to the thread.
OFF_LOOP_CHECKS = 1000
# Per-node reads in flight at once: enough to overlap round trips, few enough that a cluster of
# hundreds of nodes never opens hundreds of connections to one agent.
NODE_READS_AT_ONCE = 8


@dataclass(frozen=True)
class CatalogSnapshot:
    """Our instances and the state of every check, as read at the indexes (X-Consul-Index) kept here.
    Not the nodes' services nor the whole checks: at 10,000 instances their models were the largest
    part of an idle controller's memory; the instances and the checks' states are enough to build the
    next snapshot when only the checks, or only the catalog, moved."""

    nodes_index: int
    services_index: int
    checks_index: int = 0
    checks: tuple[CheckState, ...] = ()
    instances: tuple[ServiceInstance, ...] = ()
    queries: Mapping[str, ObservedQuery] | None = None  # the prepared queries read with it

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


async def read_nodes(consul: ConsulPort, names: Sequence[str]) -> tuple[NodeServices, ...]:
    """`GET /v1/catalog/node/<name>` for every name, NODE_READS_AT_ONCE at a time, as each node's services
    carrying MANAGED_TAG; gone nodes are left out."""
    gate = asyncio.Semaphore(NODE_READS_AT_ONCE)

    async def one(name: str) -> NodeServices | None:
        async with gate:
            found, _state = await consul.get_catalog_node_services(name, MANAGED_TAG)
            return found

    found = await asyncio.gather(*(one(name) for name in names))
    return tuple(node for node in found if node is not None)


async def read_snapshot(consul: ConsulPort, previous: CatalogSnapshot | None) -> CatalogSnapshot:
    """The four reads, then the nodes only if the catalog moved; raises ReconcilerError on any failure."""
    (nodes, nodes_state), services_index, (checks, checks_state) = await asyncio.gather(
        consul.get_catalog_nodes(), consul.get_catalog_services_index(),
        consul.get_check_states_since(previous.checks_index if previous else 0),
    )
    services_at = BlockingState().advance(services_index).index
    current = previous is not None and previous.current_at(nodes_state.index, services_at)
    if previous is not None and checks is None and current:
        return previous
    states = checks if checks is not None else previous.checks if previous else ()
    many = len(states) >= OFF_LOOP_CHECKS
    if previous is not None and current:
        kept, before = previous.instances, previous.checks
        instances = await off_loop(many, lambda: with_statuses(kept, states, before))
    else:
        catalog = await read_nodes(consul, [node.node for node in nodes])
        instances = await off_loop(many, lambda: instances_of_services(catalog, states))
    return CatalogSnapshot(nodes_state.index, services_at, checks_state.index, states, instances)


async def read_consul(consul: ConsulPort, previous: CatalogSnapshot | None = None) -> ConsulRead:
    """Our instances (with checks) and the prepared queries; incomplete with the reason on any failure."""
    try:
        snapshot, queries = await asyncio.gather(read_snapshot(consul, previous), consul.get_observed_queries())
    except ReconcilerError as exc:
        problem = f"Consul at {redact_url(consul.base_url)}: {exc}"
        return ConsulRead(ConsulObservation(complete=False, problems=(problem,)), previous)
    if snapshot.queries is not queries:  # an idle read hands back the very snapshot it was given
        snapshot = replace(snapshot, queries=queries)
    return ConsulRead(ConsulObservation(instances=snapshot.instances, queries=queries), snapshot)
