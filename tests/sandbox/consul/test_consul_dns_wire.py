"""Consul DNS wire rules over real UDP/TCP: trimming, EDNS0, duplicates, SOA/NS/AXFR, PTR, case, query names.

Each rule cites agent/dns.go (hashicorp/consul), the function named in the test.
"""

from __future__ import annotations

import dns.asyncquery
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import httpx
import pytest

from reconciler.sandbox.consul import ConsulSandbox
from tests.sandbox.consul.fixtures import SandboxFactory


async def ask(sandbox: ConsulSandbox, name: str, rdtype: str = "A", *, tcp: bool = False,
              payload: int | None = None) -> dns.message.Message:
    if payload is None:
        query = dns.message.make_query(name, rdtype)
    else:
        query = dns.message.make_query(name, rdtype, use_edns=0, payload=payload)
    if tcp:
        return await dns.asyncquery.tcp(query, "127.0.0.1", port=sandbox.dns_port, timeout=5)
    return await dns.asyncquery.udp(query, "127.0.0.1", port=sandbox.dns_port, timeout=5)


def values(message: dns.message.Message, section: str = "answer") -> list[str]:
    return sorted(rd.to_text() for rrset in getattr(message, section) for rd in rrset)


async def register(http: httpx.AsyncClient, base: str, body: dict[str, object]) -> None:
    """A service without checks, so it stays healthy however long registering many takes."""
    assert (await http.put(f"{base}/v1/agent/service/register", json=body)).status_code == 200


async def register_many(sandbox: ConsulSandbox, http: httpx.AsyncClient, count: int, name: str = "many") -> None:
    for n in range(count):
        address = f"127.0.{n // 250 + 1}.{n % 250}"
        await register(http, sandbox.url, {"Name": name, "ID": f"{name}-{n}", "Address": address, "Port": 9000 + n})


async def test_udp_without_edns_caps_at_three_and_sets_tc_only_when_configured(
        consul_sandbox_factory: SandboxFactory, http: httpx.AsyncClient) -> None:
    """trimUDPResponse: without EDNS0 the answer is cut to udp_answer_limit (3); trimDNSResponse sets TC
    only with dns_config.enable_truncate, which is off by default."""
    plain = await consul_sandbox_factory()
    await register_many(plain, http, 5)
    answer = await ask(plain, "many.service.consul")
    assert len(values(answer)) == 3 and not answer.flags & dns.flags.TC
    assert len(values(await ask(plain, "many.service.consul", tcp=True))) == 5

    truncating = await consul_sandbox_factory(dns_enable_truncate=True)
    await register_many(truncating, http, 5)
    trimmed = await ask(truncating, "many.service.consul")
    assert len(values(trimmed)) == 3 and trimmed.flags & dns.flags.TC
    await register_many(truncating, http, 2, name="few")
    whole = await ask(truncating, "few.service.consul")
    assert len(values(whole)) == 2 and not whole.flags & dns.flags.TC


async def test_edns0_answers_are_limited_by_the_clients_size_alone(consul_sandbox: ConsulSandbox,
                                                                    http: httpx.AsyncClient) -> None:
    """trimUDPResponse: with an EDNS0 size above 512 the 3-answer cap does not apply; setEDNS echoes the size."""
    await register_many(consul_sandbox, http, 120)
    big = await ask(consul_sandbox, "many.service.consul", payload=4096)
    assert len(values(big)) == 120
    assert big.edns == 0 and big.payload == 4096
    medium = await ask(consul_sandbox, "many.service.consul", payload=1232)
    assert 3 < len(values(medium)) < 120
    assert len(medium.to_wire()) <= 1232 and medium.payload == 1232
    small = await ask(consul_sandbox, "many.service.consul", payload=512)
    assert len(values(small)) == 3


async def test_srv_answers_fit_512_bytes_with_their_additional_records(consul_sandbox: ConsulSandbox,
                                                                       http: httpx.AsyncClient) -> None:
    """trimUDPResponse + syncExtra: answers and the A records of their targets stay within 512 bytes."""
    await register_many(consul_sandbox, http, 12, name="a-rather-long-service-name-for-srv-records")
    answer = await ask(consul_sandbox, "a-rather-long-service-name-for-srv-records.service.consul", "SRV")
    assert len(answer.to_wire()) <= 512
    targets = {rd.target for rrset in answer.answer for rd in rrset}
    assert targets and targets == {rrset.name for rrset in answer.additional}


async def test_duplicate_addresses_are_removed_before_the_cap(consul_sandbox: ConsulSandbox,
                                                              http: httpx.AsyncClient) -> None:
    """addServiceNodeRecordsToMessage skips a record already answered, so four instances on the server
    node cannot crowd the agent node out of a 3-record UDP answer."""
    for n in range(4):
        await register(http, consul_sandbox.url, {"Name": "dup", "ID": f"dup-{n}", "Port": 7000 + n})
    await register(http, consul_sandbox.agent_url("agent-1"), {"Name": "dup", "ID": "dup-remote", "Port": 7100})
    for _ in range(10):
        assert values(await ask(consul_sandbox, "dup.service.consul")) == ["127.0.0.1", "127.0.0.2"]
    srv = await ask(consul_sandbox, "dup.service.consul", "SRV", tcp=True)
    assert len(values(srv)) == 5  # SRV keeps one record per node, address and port


async def test_soa_ns_and_axfr_questions(consul_sandbox: ConsulSandbox) -> None:
    """handleQuery: SOA and NS questions for any name in the domain are answered; AXFR is NOTIMP."""
    soa = await ask(consul_sandbox, "anything.service.consul", "SOA")
    assert soa.rcode() == dns.rcode.NOERROR
    assert [r.rname.to_text() for rrset in soa.answer for r in rrset] == ["hostmaster.consul."]
    assert values(soa, "authority") == ["consul-server.node.dc1.consul."]
    ns = await ask(consul_sandbox, "consul", "NS")
    assert ns.rcode() == dns.rcode.NOERROR and values(ns) == ["consul-server.node.dc1.consul."]
    assert values(ns, "additional") == ["127.0.0.1"]
    axfr = await ask(consul_sandbox, "consul", "AXFR", tcp=True)
    assert axfr.rcode() == dns.rcode.NOTIMP and not axfr.answer


async def test_ptr_for_node_and_service_addresses(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    """handlePtr: a node's address names the node, else a service registered with that address."""
    await register(http, consul_sandbox.url, {"Name": "db", "Address": "127.0.0.9", "Port": 5432})
    assert values(await ask(consul_sandbox, "2.0.0.127.in-addr.arpa", "PTR")) == ["agent-1.node.dc1.consul."]
    assert values(await ask(consul_sandbox, "9.0.0.127.in-addr.arpa", "PTR")) == ["db.service.dc1.consul."]
    unknown = await ask(consul_sandbox, "99.0.0.127.in-addr.arpa", "PTR")
    assert unknown.rcode() == dns.rcode.NXDOMAIN
    assert values(unknown, "authority")[0].startswith("ns.consul. hostmaster.consul.")


async def test_names_and_tags_are_case_insensitive(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    """A service with capitals resolves (DNS lower-cases names; the catalog's service index is lower-cased)."""
    await register(http, consul_sandbox.url, {"Name": "Web-API", "Tags": ["Primary"], "Port": 8080})
    for name in ("web-api.service.consul", "WEB-API.service.consul", "primary.web-api.service.consul"):
        assert values(await ask(consul_sandbox, name)) == ["127.0.0.1"], name
    health = await http.get(f"{consul_sandbox.url}/v1/health/service/web-api", params={"tag": "PRIMARY"})
    assert [e["Service"]["Service"] for e in health.json()] == ["Web-API"]
    catalog = await http.get(f"{consul_sandbox.url}/v1/catalog/service/WEB-api", params={"tag": "primary"})
    assert [e["ServiceName"] for e in catalog.json()] == ["Web-API"]
    query = {"Name": "Api.Env", "Service": {"Service": "WEB-API", "Tags": ["PRIMARY"]}}
    assert (await http.post(f"{consul_sandbox.url}/v1/query", json=query)).status_code == 200
    assert values(await ask(consul_sandbox, "api.env.query.consul")) == ["127.0.0.1"]
    executed = await http.get(f"{consul_sandbox.url}/v1/query/API.ENV/execute")
    assert [n["Service"]["ID"] for n in executed.json()["Nodes"]] == ["Web-API"]


async def test_query_name_is_the_whole_prefix(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    """dispatch: the labels before `.query` joined are the name; nothing searches shorter suffixes."""
    await register(http, consul_sandbox.url, {"Name": "redis", "Port": 6379})
    body = {"Name": "redis.env", "Service": {"Service": "redis"}}
    assert (await http.post(f"{consul_sandbox.url}/v1/query", json=body)).status_code == 200
    assert values(await ask(consul_sandbox, "redis.env.query.consul")) == ["127.0.0.1"]
    assert values(await ask(consul_sandbox, "_redis.env._udp.query.consul", "SRV")) == [
        "1 1 6379 consul-server.node.dc1.consul."]
    assert (await ask(consul_sandbox, "x.redis.env.query.consul")).rcode() == dns.rcode.NXDOMAIN


@pytest.mark.parametrize("tcp", [False, True])
async def test_template_by_id_is_servfail(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient, tcp: bool) -> None:
    """PreparedQueryResolve refuses a template looked up by ID; rCodeFromError turns that into SERVFAIL."""
    await register(http, consul_sandbox.url, {"Name": "redis", "Port": 6379})
    body = {"Name": "", "Template": {"Type": "name_prefix_match"}, "Service": {"Service": "${name.full}"}}
    created = await http.post(f"{consul_sandbox.url}/v1/query", json=body)
    assert values(await ask(consul_sandbox, "redis.query.consul", tcp=tcp)) == ["127.0.0.1"]
    answer = await ask(consul_sandbox, f"{created.json()['ID']}.query.consul", tcp=tcp)
    assert answer.rcode() == dns.rcode.SERVFAIL
