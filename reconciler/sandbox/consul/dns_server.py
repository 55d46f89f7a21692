"""Consul's DNS interface over UDP and TCP on loopback (sandbox layer, Consul emulator).

Answers A/AAAA/SRV/ANY (and TXT for nodes) from the shared catalog: only instances without a critical
check, shuffled per answer, at most `udp_answer_limit` records over UDP, all over TCP. SRV targets are
`<node>.node.<dc>.<domain>` or `<hex>.addr.<dc>.<domain>` with the target's A in ADDITIONAL.
Unknown names get NXDOMAIN with the SOA in AUTHORITY.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import struct
import time
from typing import cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from reconciler.sandbox.consul.catalog import CheckStatus, Instance
from reconciler.sandbox.consul.dns_names import Lookup, LookupKind, addr_label, address_of_label, parse_lookup
from reconciler.sandbox.consul.durations import DurationError, parse_duration
from reconciler.sandbox.consul.state import ConsulState
from reconciler.sandbox.listen import ListenError

UDP_ANSWER_LIMIT = 3


class DnsAnswerer:
    """Builds the response to one DNS query from the catalog and the prepared queries."""

    def __init__(self, state: ConsulState, seed: int = 0) -> None:
        self.state = state
        self.origin = dns.name.from_text(state.domain)
        self.rng = random.Random(seed)

    def answer(self, query: dns.message.Message, udp: bool) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        response.flags &= ~dns.flags.RA
        if not query.question:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        if not question.name.is_subdomain(self.origin):
            response.set_rcode(dns.rcode.REFUSED)
            return response
        labels = [label.decode().lower() for label in question.name.relativize(self.origin).labels]
        lookup = parse_lookup([x for x in labels if x != "@"], self.state.datacenter)
        found = self._fill(response, question.name, question.rdtype, lookup, udp)
        if not found:
            response.set_rcode(dns.rcode.NXDOMAIN)
        if not response.answer:
            response.authority.append(self._soa())
        return response

    def _soa(self) -> dns.rrset.RRset:
        domain = self.origin.to_text()
        text = f"ns.{domain} postmaster.{domain} {int(time.time())} 3600 600 86400 0"
        return dns.rrset.from_text(self.origin, 0, dns.rdataclass.IN, dns.rdatatype.SOA, text)

    def _fill(self, response: dns.message.Message, qname: dns.name.Name, rdtype: int, lookup: Lookup | None,
              udp: bool) -> bool:
        if lookup is None or lookup.datacenter not in (None, self.state.datacenter):
            return False
        if lookup.kind == LookupKind.NODE:
            return self._node(response, qname, rdtype, lookup.name)
        if lookup.kind == LookupKind.ADDR:
            address = address_of_label(lookup.name)
            if address is not None:
                self._address(response, qname, rdtype, address, 0)
            return address is not None
        instances, ttl = self._instances(lookup)
        if instances is None or not instances:
            return False
        self.rng.shuffle(instances)
        if udp:
            instances = instances[:UDP_ANSWER_LIMIT]
        self._services(response, qname, rdtype, instances, ttl)
        return True

    def _instances(self, lookup: Lookup) -> tuple[list[Instance] | None, int]:
        if lookup.kind == LookupKind.QUERY:
            return self._query_instances(lookup)
        healthy = [i for i in self.state.catalog.instances(lookup.name) if i.status != CheckStatus.CRITICAL]
        if lookup.tag is not None:
            healthy = [i for i in healthy if lookup.tag in {t.lower() for t in i.service.tags}]
        return healthy, 0

    def _query_instances(self, lookup: Lookup) -> tuple[list[Instance] | None, int]:
        """The longest dotted suffix of the asked name that names a query wins (`x.redis.env` -> `redis.env`)."""
        labels = lookup.labels or (lookup.name,)
        for start in range(len(labels)):
            query = self.state.queries.resolve(".".join(labels[start:]))
            if query is not None:
                return self.state.queries.execute(query), self._ttl(query.dns.get("TTL", ""))
        return None, 0

    @staticmethod
    def _ttl(text: str) -> int:
        with contextlib.suppress(DurationError):
            return int(parse_duration(text)) if text else 0
        return 0

    def _services(self, response: dns.message.Message, qname: dns.name.Name, rdtype: int,
                  instances: list[Instance], ttl: int) -> None:
        for instance in instances:
            address = instance.service.address or instance.node.address
            if rdtype == dns.rdatatype.SRV:
                self._srv(response, qname, instance, address, ttl)
            else:
                self._address(response, qname, rdtype, address, ttl)

    def _srv(self, response: dns.message.Message, qname: dns.name.Name, instance: Instance, address: str,
             ttl: int) -> None:
        dc, domain = self.state.datacenter, self.origin.to_text()
        if instance.service.address and _is_ip(instance.service.address):
            target = f"{addr_label(instance.service.address)}.addr.{dc}.{domain}"
        else:
            target = f"{instance.node.name}.node.{dc}.{domain}"
        weights = instance.service.weights
        weight = weights.get("Warning", 1) if instance.status == CheckStatus.WARNING else weights.get("Passing", 1)
        srv = f"1 {weight} {instance.service.port} {target}"
        rrset = response.find_rrset(response.answer, qname, dns.rdataclass.IN, dns.rdatatype.SRV, create=True)
        rrset.add(dns.rrset.from_text(qname, ttl, dns.rdataclass.IN, dns.rdatatype.SRV, srv)[0], ttl)
        self._address(response, dns.name.from_text(target), dns.rdatatype.ANY, address, ttl, additional=True)

    def _address(self, response: dns.message.Message, qname: dns.name.Name, rdtype: int, address: str, ttl: int,
                 additional: bool = False) -> None:
        if not _is_ip(address):
            return
        kind = dns.rdatatype.A if ipaddress.ip_address(address).version == 4 else dns.rdatatype.AAAA
        if rdtype not in (kind, dns.rdatatype.ANY):
            return
        section = response.additional if additional else response.answer
        rrset = response.find_rrset(section, qname, dns.rdataclass.IN, kind, create=True)
        rrset.add(dns.rrset.from_text(qname, ttl, dns.rdataclass.IN, kind, address)[0], ttl)

    def _node(self, response: dns.message.Message, qname: dns.name.Name, rdtype: int, name: str) -> bool:
        node = self.state.catalog.nodes.get(name)
        if node is None:
            return False
        self._address(response, qname, rdtype, node.address, 0)
        if rdtype in (dns.rdatatype.TXT, dns.rdatatype.ANY) and node.meta:
            rrset = response.find_rrset(response.answer, qname, dns.rdataclass.IN, dns.rdatatype.TXT, create=True)
            for key, value in sorted(node.meta.items()):
                text = value if key.startswith("rfc1035-") else f"{key}={value}"
                rrset.add(dns.rrset.from_text(qname, 0, dns.rdataclass.IN, dns.rdatatype.TXT,
                                              '"' + text.replace('"', '\\"') + '"')[0], 0)
        return True


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, answerer: DnsAnswerer) -> None:
        self.answerer = answerer
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            query = dns.message.from_wire(data)
        except (dns.exception.DNSException, ValueError):
            return  # a malformed datagram is dropped, as a resolver would
        if self.transport is not None:
            self.transport.sendto(self.answerer.answer(query, udp=True).to_wire(), addr)


class DnsServer:
    """UDP and TCP listeners on one loopback port answering for the shared state."""

    def __init__(self, state: ConsulState, host: str, port: int) -> None:
        self.answerer = DnsAnswerer(state)
        self.host, self.port = host, port
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None

    async def start(self) -> None:
        """Bind TCP first (port 0 picks a free one), then UDP on the same number.

        With port 0 a UDP clash on the number TCP got is retried on a new number (a few times);
        with a fixed port it is a ListenError. A failed start leaves nothing open.
        """
        wanted, attempts = self.port, 5 if self.port == 0 else 1
        for attempt in range(attempts):
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, self.host, wanted)
            except OSError as exc:
                raise ListenError("Consul DNS (TCP)", self.host, wanted, exc) from exc
            self.port = self._tcp.sockets[0].getsockname()[1]
            try:
                self._udp, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                    lambda: _UdpProtocol(self.answerer), local_addr=(self.host, self.port)
                )
                return
            except OSError as exc:
                self._tcp.close()
                await self._tcp.wait_closed()
                self._tcp = None
                if attempt == attempts - 1:
                    raise ListenError("Consul DNS (UDP)", self.host, self.port, exc) from exc

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, dns.exception.DNSException):
            while True:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                query = dns.message.from_wire(await reader.readexactly(length))
                wire = self.answerer.answer(query, udp=False).to_wire()
                writer.write(struct.pack("!H", len(wire)) + wire)
                await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
