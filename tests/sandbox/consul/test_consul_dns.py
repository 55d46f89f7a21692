"""DNS of the Consul sandbox over real UDP and TCP with dnspython: services, tags, SRV, queries, nodes, NXDOMAIN."""

from __future__ import annotations

import dns.asyncquery
import dns.message
import dns.rcode
import dns.rdatatype
import httpx
import pytest

from reconciler.sandbox.consul import ConsulSandbox
from tests.sandbox.consul.fixtures import SandboxFactory, consul_sandbox_at_real_periods  # noqa: F401


async def ask(sandbox: ConsulSandbox, name: str, rdtype: str = "A", tcp: bool = False) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    if tcp:
        return await dns.asyncquery.tcp(query, "127.0.0.1", port=sandbox.dns_port, timeout=5)
    return await dns.asyncquery.udp(query, "127.0.0.1", port=sandbox.dns_port, timeout=5)


def values(message: dns.message.Message, section: str = "answer") -> list[str]:
    return sorted(rd.to_text() for rrset in getattr(message, section) for rd in rrset)


@pytest.fixture
async def seeded(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> ConsulSandbox:
    """web on both nodes (passing, warning, critical) and a db that registered its own address."""
    for base, sid, tags, status, address in (
        (consul_sandbox.url, "web-1", ["integration"], "passing", ""),
        (consul_sandbox.agent_url("agent-1"), "web-2", ["func-1"], "warning", ""),
        (consul_sandbox.agent_url("agent-1"), "web-3", ["func-1"], "critical", ""),
        (consul_sandbox.agent_url("agent-1"), "db-1", ["primary"], "passing", "127.0.0.9"),
    ):
        body = {"Name": sid.split("-")[0], "ID": sid, "Tags": tags, "Port": 8000 + int(sid[-1]), "Address": address,
                "Check": {"TTL": "60s", "Status": status}}
        assert (await http.put(f"{base}/v1/agent/service/register", json=body)).status_code == 200
    return consul_sandbox


async def test_service_a_records_skip_critical(seeded: ConsulSandbox) -> None:
    answer = await ask(seeded, "web.service.consul")
    assert answer.rcode() == dns.rcode.NOERROR
    assert values(answer) == ["127.0.0.1", "127.0.0.2"]
    assert values(await ask(seeded, "web.service.dc1.consul", tcp=True)) == ["127.0.0.1", "127.0.0.2"]
    assert values(await ask(seeded, "web.service.dc1.dc.consul")) == ["127.0.0.1", "127.0.0.2"]


async def test_tag_lookup(seeded: ConsulSandbox) -> None:
    assert values(await ask(seeded, "integration.web.service.consul")) == ["127.0.0.1"]
    assert values(await ask(seeded, "func-1.web.service.consul")) == ["127.0.0.2"]


async def test_srv_node_target_with_additional_a(seeded: ConsulSandbox) -> None:
    answer = await ask(seeded, "web.service.consul", "SRV")
    assert values(answer) == ["1 1 8001 consul-server.node.dc1.consul.", "1 1 8002 agent-1.node.dc1.consul."]
    additional = {rrset.name.to_text(): values_of(rrset) for rrset in answer.additional}
    assert additional == {"consul-server.node.dc1.consul.": ["127.0.0.1"], "agent-1.node.dc1.consul.": ["127.0.0.2"]}


def values_of(rrset: object) -> list[str]:
    return sorted(rd.to_text() for rd in rrset)  # type: ignore[attr-defined]


async def test_srv_addr_target_when_service_has_its_own_address(seeded: ConsulSandbox) -> None:
    answer = await ask(seeded, "_db._tcp.service.consul", "SRV")
    assert values(answer) == ["1 1 8001 7f000009.addr.dc1.consul."]
    assert values(answer, "additional") == ["127.0.0.9"]
    assert values(await ask(seeded, "db.service.consul")) == ["127.0.0.9"]


async def test_rfc2782_tag_form(seeded: ConsulSandbox) -> None:
    assert values(await ask(seeded, "_web._func-1.service.consul", "SRV")) == ["1 1 8002 agent-1.node.dc1.consul."]
    assert len(values(await ask(seeded, "_web._tcp.service.consul", "SRV"))) == 2


async def test_dotted_prepared_query_names(seeded: ConsulSandbox, http: httpx.AsyncClient) -> None:
    for name, tag in (("web.integration", "integration"), ("web.func-1", "func-1")):
        body = {"Name": name, "Service": {"Service": "web", "Tags": [tag]}, "DNS": {"TTL": "7s"}}
        assert (await http.post(f"{seeded.url}/v1/query", json=body)).status_code == 200
    integration = await ask(seeded, "web.integration.query.consul")
    assert values(integration) == ["127.0.0.1"]
    assert integration.answer[0].ttl == 7
    assert values(await ask(seeded, "web.func-1.query.consul", tcp=True)) == ["127.0.0.2"]
    assert values(await ask(seeded, "_web.func-1._tcp.query.consul", "SRV")) == ["1 1 8002 agent-1.node.dc1.consul."]
    assert values(await ask(seeded, "web.func-1.query.dc1.consul")) == ["127.0.0.2"]
    assert (await ask(seeded, "web.func-2.query.consul")).rcode() == dns.rcode.NXDOMAIN


async def test_node_lookup_and_nxdomain_with_soa(seeded: ConsulSandbox) -> None:
    assert values(await ask(seeded, "agent-1.node.consul")) == ["127.0.0.2"]
    for name in ("nope.service.consul", "nope.node.consul", "web.service.dc9.dc.consul"):
        answer = await ask(seeded, name)
        assert answer.rcode() == dns.rcode.NXDOMAIN, name
        assert answer.authority[0].rdtype == dns.rdatatype.SOA
        assert answer.authority[0][0].mname.to_text() == "ns.consul."


async def test_udp_trims_tcp_gives_all(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    for n in range(5):
        body = {"Name": "many", "ID": f"many-{n}", "Address": f"127.0.1.{n}", "Check": {"TTL": "60s",
                                                                                       "Status": "passing"}}
        await http.put(f"{consul_sandbox.url}/v1/agent/service/register", json=body)
    assert len(values(await ask(consul_sandbox, "many.service.consul"))) == 3
    assert len(values(await ask(consul_sandbox, "many.service.consul", tcp=True))) == 5


@pytest.mark.parametrize("domain", ["consul", "example"])
async def test_soa_names_ns_and_hostmaster_of_the_configured_domain(consul_sandbox_factory: SandboxFactory,
                                                                    domain: str) -> None:
    """agent/dns.go makeSOARecord: `<domain> SOA ns.<domain> hostmaster.<domain> <serial> 3600 600 86400 0`.

    (The corrected FACTS §11: a doc sample shows `postmaster`, every version of the source `hostmaster`.)
    """
    sandbox = await consul_sandbox_factory(domain=domain)
    answer = await ask(sandbox, f"nope.service.{domain}")
    assert answer.rcode() == dns.rcode.NXDOMAIN
    soa = answer.authority[0]
    assert soa.name.to_text() == f"{domain}."
    assert (soa[0].mname.to_text(), soa[0].rname.to_text()) == (f"ns.{domain}.", f"hostmaster.{domain}.")
    assert (soa[0].refresh, soa[0].retry, soa[0].expire, soa[0].minimum) == (3600, 600, 86400, 0)
