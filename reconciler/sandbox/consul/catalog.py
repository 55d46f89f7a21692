"""The emulated Consul catalog: nodes, service instances and checks (sandbox layer, Consul emulator).

One catalog is shared by every agent listener, the DNS server, prepared queries and the check runner.
Writes take the next raft index; the per-service-name index lets health blocking queries wake only for
the service they watch. As in Consul's state store, a write that changes nothing (an identical
re-registration) takes no index, and service names match case-insensitively. Observers (check runner,
sessions) hear about check and node changes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol

from reconciler.sandbox.consul.raft import RaftIndex

SERF_CHECK_ID = "serfHealth"
NODE_MAINTENANCE_ID = "_node_maintenance"
SERVICE_MAINTENANCE_PREFIX = "_service_maintenance:"


class CheckStatus(StrEnum):
    PASSING = "passing"
    WARNING = "warning"
    CRITICAL = "critical"


# Worst first: the order Consul's AggregatedStatus uses (maintenance is derived, not stored).
SEVERITY = {CheckStatus.PASSING: 0, CheckStatus.WARNING: 1, CheckStatus.CRITICAL: 2}


@dataclass
class CheckDefinition:
    """What an agent runs for a check; catalog-registered checks keep it as data only."""

    http: str = ""
    method: str = ""
    header: dict[str, list[str]] | None = None
    body: str = ""
    tcp: str = ""
    interval: float = 0.0
    timeout: float = 0.0
    ttl: float = 0.0
    deregister_after: float = 0.0
    tls_skip_verify: bool = False
    tls_server_name: str = ""

    @property
    def kind(self) -> str:
        """Consul's check `Type`: http, tcp, ttl, or "" for a check nothing runs."""
        if self.http:
            return "http"
        if self.tcp:
            return "tcp"
        return "ttl" if self.ttl else ""


@dataclass
class Node:
    name: str
    address: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    meta: dict[str, str] = field(default_factory=dict)
    tagged_addresses: dict[str, str] | None = None
    has_agent: bool = False
    create_index: int = 0
    modify_index: int = 0


@dataclass
class Service:
    node: str
    id: str
    name: str
    tags: list[str] = field(default_factory=list)
    address: str = ""
    port: int = 0
    meta: dict[str, str] = field(default_factory=dict)
    weights: dict[str, int] = field(default_factory=lambda: {"Passing": 1, "Warning": 1})
    tagged_addresses: dict[str, dict[str, object]] = field(default_factory=dict)
    enable_tag_override: bool = False
    kind: str = ""
    create_index: int = 0
    modify_index: int = 0


@dataclass
class Check:
    node: str
    check_id: str
    name: str
    status: CheckStatus = CheckStatus.CRITICAL
    notes: str = ""
    output: str = ""
    service_id: str = ""
    definition: CheckDefinition = field(default_factory=CheckDefinition)
    runs_on_agent: bool = False
    critical_since: float | None = None
    create_index: int = 0
    modify_index: int = 0


@dataclass
class Instance:
    """One service instance as health, DNS and prepared queries see it: node + service + all its checks."""

    node: Node
    service: Service
    checks: list[Check]

    @property
    def status(self) -> CheckStatus:
        return worst_status(self.checks)


def worst_status(checks: list[Check]) -> CheckStatus:
    """Consul's aggregation: critical > warning > passing; no checks is passing."""
    return max((c.status for c in checks), key=SEVERITY.__getitem__, default=CheckStatus.PASSING)


class CatalogObserver(Protocol):
    def check_changed(self, check: Check, removed: bool) -> None: ...

    def node_removed(self, node: str) -> None: ...


class Catalog:
    """Nodes, services and checks of one datacenter, with Consul's index bookkeeping."""

    def __init__(self, index: RaftIndex, clock: Callable[[], float] = time.monotonic) -> None:
        self.index = index
        self.clock = clock
        self.nodes: dict[str, Node] = {}
        self.services: dict[tuple[str, str], Service] = {}
        self.checks: dict[tuple[str, str], Check] = {}
        # (node, service id or "" for a node check) -> check id -> check: a registration looks up its
        # own checks without a scan of every check (10,000 registrations would make it quadratic).
        self._owned: dict[tuple[str, str], dict[str, Check]] = {}
        self.observers: list[CatalogObserver] = []
        self.table_index = {"nodes": 1, "services": 1, "checks": 1}
        self._service_index: dict[str, int] = {}
        self._names: tuple[int, dict[str, list[str]]] | None = None
        # Lower-cased service name -> its instances, as the state store's service index: a read of one
        # service (health, DNS, a prepared query) looks its instances up instead of scanning them all.
        self._by_name: dict[str, dict[tuple[str, str], Service]] = {}

    # -- indexes ---------------------------------------------------------------------------

    def _write(self, *tables: str, services: tuple[str, ...] = ()) -> int:
        idx = self.index.advance()
        for table in tables:
            self.table_index[table] = idx
        for name in services:
            self._service_index[name.lower()] = idx
        return idx

    def service_index(self, name: str) -> int:
        """The index a health or catalog read of service `name` reports (>= 1)."""
        return max(self._service_index.get(name.lower(), 1), self.table_index["nodes"])

    def node_services_index(self, node: str) -> int:
        """The index `/v1/catalog/node/<n>` and `/catalog/node-services/<n>` report: the nodes and services
        tables', check writes left out (catalogMaxIndex(tx, entMeta, false)); 0 for an unknown node,
        which the HTTP layer shows as 1 (state/catalog.go nodeServices, agent/http.go setIndex)."""
        if node not in self.nodes:
            return 0
        return max(self.table_index["nodes"], self.table_index["services"])

    def _names_on_node(self, node: str) -> tuple[str, ...]:
        return tuple({s.name for s in self.services.values() if s.node == node})

    # -- nodes -----------------------------------------------------------------------------

    def upsert_node(self, node: Node) -> None:
        known = self.nodes.get(node.name)
        if known and not node.id:
            node.id = known.id
        if known and replace(node, create_index=known.create_index, modify_index=known.modify_index) == known:
            return  # agent/consul/state/catalog.go ensureNodeTxn: an identical node is no write
        idx = self._write("nodes", services=self._names_on_node(node.name))
        node.create_index = known.create_index if known else idx
        node.modify_index = idx
        self.nodes[node.name] = node

    def add_agent_node(self, name: str, address: str) -> None:
        """A node that runs an agent: it carries the passing `serfHealth` check."""
        self.upsert_node(Node(name=name, address=address, has_agent=True, meta={"consul-network-segment": ""},
                              tagged_addresses={"lan": address, "lan_ipv4": address, "wan": address,
                                                "wan_ipv4": address}))
        serf = Check(node=name, check_id=SERF_CHECK_ID, name="Serf Health Status", status=CheckStatus.PASSING,
                     output="Agent alive and reachable")
        self.upsert_check(serf)

    def remove_node(self, name: str) -> bool:
        if name not in self.nodes:
            return False
        names = self._names_on_node(name)
        for key in [k for k in self.checks if k[0] == name]:
            self._drop_check(key)
        for key in [k for k in self.services if k[0] == name]:
            self._unname(self.services.pop(key))
        del self.nodes[name]
        self._write("nodes", "services", "checks", services=names)
        for observer in self.observers:
            observer.node_removed(name)
        return True

    # -- services --------------------------------------------------------------------------

    def upsert_service(self, service: Service) -> None:
        key = (service.node, service.id)
        known = self.services.get(key)
        if known and replace(service, create_index=known.create_index, modify_index=known.modify_index) == known:
            return  # catalog.go ensureServiceTxn: an identical service is no write
        renamed = (known.name,) if known and known.name != service.name else ()
        idx = self._write("services", services=(service.name, *renamed))
        service.create_index = known.create_index if known else idx
        service.modify_index = idx
        if known is not None:
            self._unname(known)
        self.services[key] = service
        self._by_name.setdefault(service.name.lower(), {})[key] = service

    def remove_service(self, node: str, service_id: str) -> bool:
        service = self.services.pop((node, service_id), None)
        if service is None:
            return False
        self._unname(service)
        for check_id in list(self._owned.get((node, service_id), {})):
            self._drop_check((node, check_id))
        self._write("services", "checks", services=(service.name,))
        return True

    def _unname(self, service: Service) -> None:
        named = self._by_name.get(service.name.lower(), {})
        named.pop((service.node, service.id), None)
        if not named:
            self._by_name.pop(service.name.lower(), None)

    def service_checks(self, node: str, service_id: str) -> list[Check]:
        return list(self._owned.get((node, service_id), {}).values())

    def node_checks(self, node: str) -> list[Check]:
        return list(self._owned.get((node, ""), {}).values())

    def instances(self, name: str) -> list[Instance]:
        """Every instance of service `name` (any case), in a stable order, with node checks then service checks."""
        found = sorted(self._by_name.get(name.lower(), {}).values(), key=lambda s: (s.node, s.id))
        return [Instance(self.nodes[s.node], s, self.node_checks(s.node) + self.service_checks(s.node, s.id))
                for s in found if s.node in self.nodes]

    def service_names(self) -> dict[str, list[str]]:
        """Service name -> union of its instances' tags (the shape of /v1/catalog/services); callers do not
        change it. Kept until the services table's index moves: every write of a service moves it."""
        at = self.table_index["services"]
        if self._names is None or self._names[0] != at:
            names: dict[str, list[str]] = {}
            for service in sorted(self.services.values(), key=lambda s: (s.name, s.node, s.id)):
                tags = names.setdefault(service.name, [])
                tags.extend(t for t in service.tags if t not in tags)
            self._names = (at, names)
        return self._names[1]

    # -- checks ----------------------------------------------------------------------------

    def service_name_of(self, check: Check) -> str:
        service = self.services.get((check.node, check.service_id))
        return service.name if service else ""

    def _affected_names(self, check: Check) -> tuple[str, ...]:
        if check.service_id:
            name = self.service_name_of(check)
            return (name,) if name else ()
        return self._names_on_node(check.node)

    def same_check(self, check: Check) -> bool:
        """catalog.go ensureCheckTxn (HealthCheck.IsSame): nothing but indexes would change."""
        known = self.checks.get((check.node, check.check_id))
        return known is not None and replace(check, create_index=known.create_index, modify_index=known.modify_index,
                                             critical_since=known.critical_since) == known

    def upsert_check(self, check: Check) -> None:
        key = (check.node, check.check_id)
        known = self.checks.get(key)
        if self.same_check(check):
            return  # the stored check (and its running probe) stays; no index moves
        idx = self._write("checks", services=self._affected_names(check))
        check.create_index = known.create_index if known else idx
        check.modify_index = idx
        if check.status == CheckStatus.CRITICAL:
            check.critical_since = known.critical_since if known and known.critical_since else self.clock()
        self._store_check(check, known)
        for observer in self.observers:
            observer.check_changed(check, removed=False)

    def _store_check(self, check: Check, known: Check | None) -> None:
        if known is not None and known.service_id != check.service_id:
            self._unown(known)
        self.checks[(check.node, check.check_id)] = check
        self._owned.setdefault((check.node, check.service_id), {})[check.check_id] = check

    def _unown(self, check: Check) -> None:
        owner = (check.node, check.service_id)
        owned = self._owned.get(owner, {})
        owned.pop(check.check_id, None)
        if not owned:
            self._owned.pop(owner, None)

    def _drop_check(self, key: tuple[str, str]) -> None:
        check = self.checks.pop(key)
        self._unown(check)
        for observer in self.observers:
            observer.check_changed(check, removed=True)

    def remove_check(self, node: str, check_id: str) -> bool:
        check = self.checks.get((node, check_id))
        if check is None:
            return False
        names = self._affected_names(check)
        self._drop_check((node, check_id))
        self._write("checks", services=names)
        return True

    def set_check_status(self, node: str, check_id: str, status: CheckStatus, output: str) -> bool:
        """Record a check result; only a change of status is a write.

        agent/local/state.go UpdateCheck defers an output-only change by `check_update_interval` (5m):
        the new output is kept here at once, but it moves no index and wakes no watcher.
        """
        check = self.checks.get((node, check_id))
        if check is None:
            return False
        if check.status == status:
            check.output = output
            return True
        became_critical = status == CheckStatus.CRITICAL and check.status != CheckStatus.CRITICAL
        check.status, check.output = status, output
        check.critical_since = (check.critical_since or self.clock()) if status == CheckStatus.CRITICAL else None
        check.modify_index = self._write("checks", services=self._affected_names(check))
        if became_critical or status != CheckStatus.CRITICAL:
            for observer in self.observers:
                observer.check_changed(check, removed=False)
        return True
