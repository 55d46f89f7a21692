"""The Consul sandbox's lookup indexes: a check's owner, a prepared query's name.

The catalog finds a service's checks, and the query store a name clash, through an index kept
beside the tables (as Consul's state store does): these tests move, rename and delete entries and
check that every lookup follows. The last one registers 10,000 services one at a time, as a first
`apply` at that scale does, and compares the lines of sandbox code that ran with 2,000's.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

import reconciler.sandbox.consul
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


CONSUL_SANDBOX = str(Path(reconciler.sandbox.consul.__file__).parent)


def register(count: int) -> tuple[Catalog, int]:
    """`count` services of one check each, registered one at a time; how many lines of the Consul
    sandbox's code ran for it (a scan runs its loop's line once per element it visits)."""
    catalog = catalog_with("agent-1")
    lines = 0

    def in_sandbox(frame: FrameType, event: str, arg: object) -> Any:  # sys.settrace's trace function
        if not frame.f_code.co_filename.startswith(CONSUL_SANDBOX):
            return None  # other code (this test, the dataclasses' generated methods) is not counted
        return count_line

    def count_line(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal lines
        lines += event == "line"
        return count_line

    previous = sys.gettrace()  # a coverage tool's or debugger's, back afterwards
    sys.settrace(in_sandbox)
    try:
        for n in range(count):
            # What PUT /v1/agent/service/register does: look up the service's checks, then write both.
            assert catalog.service_checks("agent-1", f"app-{n}") == []
            catalog.upsert_service(Service(node="agent-1", id=f"app-{n}", name=f"app-{n}"))
            catalog.upsert_check(Check(node="agent-1", check_id=f"service:app-{n}", name="tcp",
                                       service_id=f"app-{n}", status=CheckStatus.PASSING))
    finally:
        sys.settrace(previous)
    return catalog, lines


def test_ten_thousand_registrations_cost_linear_time() -> None:
    _, small = register(2_000)
    catalog, large = register(10_000)
    # Five times the registrations: five times the lines run when each costs the same (counted, not
    # timed, so a loaded machine changes nothing); a registration that scans every check or service
    # makes it 20 times and more.
    assert small >= 4_000 and large <= 5.5 * small, f"2,000 registrations ran {small} lines, 10,000 ran {large}"
    assert ids(catalog.service_checks("agent-1", "app-9999")) == ["service:app-9999"]
    assert len(catalog.checks) == 10_001
