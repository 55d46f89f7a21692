"""One observation of both systems (engine layer): Marathon's apps and Consul's managed instances.

Marathon is read in its two requests (`observe()`); Consul in 2 + S requests for S managed services:
`GET /v1/catalog/services` names the services carrying our tag, `GET /v1/health/service/<name>` reads
each one's instances with their checks, `GET /v1/query` the prepared queries. A Consul outage never
raises: the Consul side comes back with `complete=False` and the problem, so nothing destructive
follows from it. A Marathon outage raises (the cycle reports it), since nothing can be planned without it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from reconciler.consul.translate import instances_of, observed_queries_of
from reconciler.core.model import Actual
from reconciler.core.registry import MANAGED_TAG, ConsulObservation, ServiceInstance
from reconciler.engine.ports import ConsulPort, MarathonPort
from reconciler.errors import ReconcilerError
from reconciler.redaction import redact_url

CONSUL_SKIPPED = "Consul is not observed (--no-consul)"


@dataclass(frozen=True)
class Observation:
    """Marathon's side and Consul's side of one cycle; `consul_enabled` False: Consul is left alone."""

    actual: Actual
    consul: ConsulObservation
    consul_enabled: bool = True

    @property
    def complete(self) -> bool:
        return self.actual.complete and (self.consul.complete or not self.consul_enabled)

    @property
    def problems(self) -> tuple[str, ...]:
        return self.actual.problems + (self.consul.problems if self.consul_enabled else ())


async def observe_consul(consul: ConsulPort) -> ConsulObservation:
    """Our instances (with checks) and the prepared queries; incomplete with the reason on any failure."""
    try:
        services, queries = await asyncio.gather(consul.get_catalog_services(), consul.get_queries())
        names = sorted(name for name, tags in services[0].items() if MANAGED_TAG in tags)
        entries = await asyncio.gather(*(consul.get_health_service(name, tag=MANAGED_TAG) for name in names))
    except ReconcilerError as exc:
        return ConsulObservation(complete=False, problems=(f"Consul at {redact_url(consul.base_url)}: {exc}",))
    instances: list[ServiceInstance] = []
    for found, _state in entries:
        instances.extend(instances_of(found))
    return ConsulObservation(instances=tuple(instances), queries=observed_queries_of(queries))


async def observe(marathon: MarathonPort, consul: ConsulPort | None) -> Observation:
    """Both sides, read concurrently; `consul=None` observes Marathon only."""
    if consul is None:
        actual = await marathon.observe()
        return Observation(actual, ConsulObservation(complete=False, problems=(CONSUL_SKIPPED,)), consul_enabled=False)
    consul_read = asyncio.ensure_future(observe_consul(consul))
    try:
        actual = await marathon.observe()
    except BaseException:
        consul_read.cancel()  # the cycle stops here: no read may outlive it
        raise
    return Observation(actual, await consul_read)
