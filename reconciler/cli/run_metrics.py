"""The autoscaler's metric sources of `reconciler run` (face layer): what their flags (run_opts) set, and the adapters.

Task samples come from each agent's `/monitor/statistics` (`--agent-port`, 5051 as on Mesos; the
sandbox's own port with `--sandbox`); Prometheus queries from `--prometheus URL`. Specs with a
Prometheus metric are refused (exit 3) when no Prometheus server is given.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from reconciler.core.model import Desired
from reconciler.engine.autoscaling import MEMORY_HORIZON, Autoscaler, AutoscaleSources, Recall, check_sources
from reconciler.metrics.defaults import DEFAULT_AGENT_PORT
from reconciler.metrics.mesos import MesosStatistics
from reconciler.metrics.prometheus import PrometheusQueries
from reconciler.store import DEFAULT_SAMPLES_KEEP, Store, StoreError

log = logging.getLogger("reconciler.engine")

# Each connection and each wait for the next bytes of an agent's or Prometheus' answer; a cycle's reads as a
# whole have their own deadline (AgentLimits, QueryLimits): an answer trickled byte by byte never trips this.
METRICS_TIMEOUT = 5.0


@dataclass(frozen=True)
class MetricsSettings:
    prometheus: str | None = None
    agent_port: int = DEFAULT_AGENT_PORT
    samples_keep: float = DEFAULT_SAMPLES_KEEP  # seconds

    def check(self, desired: Desired) -> Desired:
        return check_sources(desired, prometheus=self.prometheus is not None)

    async def autoscaler(self, stack: contextlib.AsyncExitStack, store: Store, agent_port: int | None = None
                         ) -> Autoscaler:
        """The controller's autoscaler, taking up from `store` the decision memory of a previous run (or
        another replica); `agent_port` overrides the flag (the embedded sandbox's port)."""
        client = await stack.enter_async_context(httpx.AsyncClient(timeout=METRICS_TIMEOUT))
        tasks = MesosStatistics(client, port=agent_port or self.agent_port)
        prometheus = PrometheusQueries(client, self.prometheus) if self.prometheus else None
        return Autoscaler(AutoscaleSources(tasks=tasks, prometheus=prometheus), recall=store_recall(store))


def store_recall(store: Store, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Recall:
    """Reads an app's last decision inputs the store kept (one no window can reach any more is ignored);
    a store that cannot be read recalls nothing."""
    def recall(app_id: str) -> Mapping[str, Any] | None:
        try:
            rows = store.autoscale_samples(app_id, since=clock() - timedelta(seconds=MEMORY_HORIZON))
        except StoreError as exc:
            log.warning("event=autoscale-memory-unread app=%s error=%r", app_id, str(exc))
            return None
        document: Mapping[str, Any] | None = json.loads(rows[-1].document) if rows else None
        return document
    return recall
