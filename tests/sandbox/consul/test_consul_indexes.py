"""The Consul sandbox's lookup indexes: a check's owner, a prepared query's name.

The catalog finds a service's checks, and the query store a name clash, through an index kept
beside the tables (as Consul's state store does): these tests move, rename and delete entries and
check that every lookup follows. The last one registers 10,000 services one at a time, as a first
`apply` at that scale does, and counts the table entries they visit.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import httpx

from reconciler.sandbox.consul import ConsulSandbox
from reconciler.sandbox.consul.catalog import Catalog, Check, CheckStatus, Service
from reconciler.sandbox.consul.raft import RaftIndex


def catalog_with(node: str, *service_ids: str) -> Catalog:
    catalog = Catalog(RaftIndex())
    catalog.add_agent_node(node, "127.0.0.2")
    for service_id in service_ids:
        catalog.upsert_service(Service(node=node, id=service_id, name=service_id))
    return catalog


def ids(checks: list[Check]) -> list[str]:
    return [c.check_id for c in checks]


def test_a_check_moved_to_another_service_follows_in_every_lookup() -> None:
    catalog = catalog_with("agent-1", "web", "api")
    catalog.upsert_check(Check(node="agent-1", check_id="probe", name="probe", service_id="web"))
    catalog.upsert_check(Check(node="agent-1", check_id="other", name="other", service_id="web"))
    catalog.upsert_check(Check(node="agent-1", check_id="probe", name="probe", service_id="api"))
    assert ids(catalog.service_checks("agent-1", "web")) == ["other"]
    assert ids(catalog.service_checks("agent-1", "api")) == ["probe"]
    assert ids(catalog.node_checks("agent-1")) == ["serfHealth"]
    assert catalog.remove_service("agent-1", "api")
    assert ("agent-1", "probe") not in catalog.checks and catalog.service_checks("agent-1", "api") == []
    assert ids(catalog.service_checks("agent-1", "web")) == ["other"]


def test_removed_checks_and_nodes_leave_no_owner_behind() -> None:
    catalog = catalog_with("agent-1", "web")
    catalog.upsert_check(Check(node="agent-1", check_id="probe", name="probe", service_id="web"))
    catalog.upsert_check(Check(node="agent-1", check_id="disk", name="disk"))
    assert ids(catalog.node_checks("agent-1")) == ["serfHealth", "disk"]
    assert catalog.remove_check("agent-1", "disk")
    assert ids(catalog.node_checks("agent-1")) == ["serfHealth"]
    assert catalog.remove_node("agent-1")
    assert catalog.service_checks("agent-1", "web") == [] and catalog.node_checks("agent-1") == []
    catalog.add_agent_node("agent-1", "127.0.0.2")
    catalog.upsert_service(Service(node="agent-1", id="web", name="web"))
    assert catalog.service_checks("agent-1", "web") == []


async def test_a_renamed_or_deleted_query_frees_its_name(
    consul_sandbox: ConsulSandbox, http: httpx.AsyncClient
) -> None:
    base = consul_sandbox.url
    service = {"Service": "redis"}
    first = (await http.post(f"{base}/v1/query", json={"Name": "redis.a", "Service": service})).json()["ID"]
    assert (await http.put(f"{base}/v1/query/{first}", json={"Name": "redis.b", "Service": service})).status_code == 200
    again = await http.post(f"{base}/v1/query", json={"Name": "REDIS.A", "Service": service})
    assert again.status_code == 200, "the old name is free once the query is renamed"
    clash = await http.post(f"{base}/v1/query", json={"Name": "Redis.B", "Service": service})
    assert (clash.status_code, clash.text) == (500, "name 'Redis.B' aliases an existing query name")
    assert (await http.get(f"{base}/v1/query/redis.b/execute")).json()["Service"] == "redis"
    assert (await http.delete(f"{base}/v1/query/{first}")).status_code == 200
    assert (await http.get(f"{base}/v1/query/redis.b/execute")).status_code == 404
    assert (await http.post(f"{base}/v1/query", json={"Name": "redis.b", "Service": service})).status_code == 200


class CountingTable(dict[Any, Any]):
    """A catalog table that counts the entries every scan of it visits (in Python or in C: `list()`,
    `sorted()` and comprehensions all go through these methods)."""

    visits = 0

    def _visit(self, entries: Iterable[Any]) -> Iterator[Any]:
        for entry in entries:
            self.visits += 1
            yield entry

    def __iter__(self) -> Iterator[Any]:
        return self._visit(super().__iter__())

    def keys(self) -> Any:
        return self._visit(super().keys())

    def values(self) -> Any:
        return self._visit(super().values())

    def items(self) -> Any:
        return self._visit(super().items())


TABLES = ("nodes", "services", "checks", "_owned")


def counting(catalog: Catalog) -> Catalog:
    for name in TABLES:
        setattr(catalog, name, CountingTable(getattr(catalog, name)))
    return catalog


def visits(catalog: Catalog) -> int:
    return sum(getattr(catalog, name).visits for name in TABLES)


def register(count: int) -> tuple[Catalog, int]:
    """`count` services of one check each, registered one at a time, as PUT /v1/agent/service/register
    does (look up the service's checks, then write both); how many table entries they visited."""
    catalog = counting(catalog_with("agent-1"))
    for n in range(count):
        assert catalog.service_checks("agent-1", f"app-{n}") == []
        catalog.upsert_service(Service(node="agent-1", id=f"app-{n}", name=f"app-{n}"))
        catalog.upsert_check(Check(node="agent-1", check_id=f"service:app-{n}", name="tcp",
                                   service_id=f"app-{n}", status=CheckStatus.PASSING))
    return catalog, visits(catalog)


def test_ten_thousand_registrations_cost_linear_time() -> None:
    # Counted, not timed, so a loaded machine changes nothing. Registrations that find their entries
    # through the indexes visit a few entries each at most (none today); one scan of the checks or
    # services per registration visits 2 million for 2,000 and 50 million for 10,000.
    _, small = register(2_000)
    catalog, large = register(10_000)
    assert small <= 3 * 2_000 and large <= 3 * 10_000, f"2,000 registrations visited {small} entries, 10,000 {large}"
    before = visits(catalog)
    assert [i.service.id for i in catalog.instances("app-9999")] == ["app-9999"]
    assert visits(catalog) - before <= 3  # a service read goes through the name index
    before = visits(catalog)
    assert "app-9999" in catalog.service_names()
    assert visits(catalog) - before >= 10_000  # a read that scans the tables is counted
    assert ids(catalog.service_checks("agent-1", "app-9999")) == ["service:app-9999"]
    assert len(catalog.checks) == 10_001
