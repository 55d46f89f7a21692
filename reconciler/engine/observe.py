"""One observation of both systems (engine layer): Marathon's apps and Consul's managed instances.

Marathon is read in its two requests (`observe()`); Consul in four requests, plus one per node when
the catalog changed (engine/consul_read.py), whatever the number of apps. A Consul outage never
raises: the Consul side comes back with `complete=False` and the problem, so nothing destructive
follows from it. A Marathon outage raises (the cycle reports it), since nothing can be planned without it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from reconciler.core.model import Actual
from reconciler.core.registry import ConsulObservation
from reconciler.engine.consul_read import CatalogSnapshot, read_consul
from reconciler.engine.ports import ConsulPort, MarathonPort

CONSUL_SKIPPED = "Consul is not observed (--no-consul)"


@dataclass(frozen=True)
class Observation:
    """Marathon's side and Consul's side of one cycle; `consul_enabled` False: Consul is left alone."""

    actual: Actual
    consul: ConsulObservation
    consul_enabled: bool = True
    catalog: CatalogSnapshot | None = None  # for the next cycle's observe()

    @property
    def complete(self) -> bool:
        return self.actual.complete and (self.consul.complete or not self.consul_enabled)

    @property
    def problems(self) -> tuple[str, ...]:
        return self.actual.problems + (self.consul.problems if self.consul_enabled else ())


async def observe_consul(consul: ConsulPort) -> ConsulObservation:
    """Our instances (with checks) and the prepared queries, read afresh (no snapshot kept)."""
    return (await read_consul(consul)).observation


async def observe(
    marathon: MarathonPort, consul: ConsulPort | None, catalog: CatalogSnapshot | None = None
) -> Observation:
    """Both sides, read concurrently; `consul=None` observes Marathon only. `catalog` is the snapshot
    the previous cycle kept (Observation.catalog): the nodes' services are read again only if it is stale."""
    if consul is None:
        actual = await marathon.observe()
        return Observation(actual, ConsulObservation(complete=False, problems=(CONSUL_SKIPPED,)), consul_enabled=False)
    consul_read = asyncio.ensure_future(read_consul(consul, catalog))
    try:
        actual = await marathon.observe()
    except BaseException:
        consul_read.cancel()  # the cycle stops here: no read may outlive it
        raise
    read = await consul_read
    return Observation(actual, read.observation, catalog=read.catalog)
