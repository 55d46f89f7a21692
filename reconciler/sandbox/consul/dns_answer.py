"""Consul's DNS answers built from the shared catalog and prepared queries (sandbox layer, Consul emulator).

Follows agent/dns.go: `handleQuery` answers SOA and NS questions for any name in the domain, refuses
AXFR with NOTIMP and dispatches the rest; `handlePtr` answers reverse lookups of node and service
addresses. Services answer A/AAAA/SRV/ANY (and nodes TXT) for instances without a critical check,
shuffled, duplicates removed; unknown names are NXDOMAIN and empty answers NOERROR, both with the SOA
`<domain> SOA ns.<domain> hostmaster.<domain>` in AUTHORITY. UDP answers are trimmed (dns_trim).
"""

from __future__ import annotations

import contextlib
import ipaddress
import random
import time

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.reversename

from reconciler.sandbox.consul.catalog import CheckStatus, Instance, Node
from reconciler.sandbox.consul.dns_names import Lookup, LookupKind, addr_label, address_of_label, parse_lookup
from reconciler.sandbox.consul.dns_trim import Record, Reply, trim_udp
from reconciler.sandbox.consul.durations import DurationError, parse_duration
from reconciler.sandbox.consul.http_wire import ConsulHTTPError
from reconciler.sandbox.consul.state import ConsulState

UDP_ANSWER_LIMIT = 3  # dns_config.udp_answer_limit default
ARPA = dns.name.from_text("arpa.")


class NotFound(Exception):
    """dns.go errNameNotFound: the name does not exist (NXDOMAIN)."""


def _rdata(rdtype: dns.rdatatype.RdataType, text: str) -> dns.rdata.Rdata:
    return dns.rdata.from_text(dns.rdataclass.IN, rdtype, text)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _address_record(name: dns.name.Name, rdtype: int, address: str, ttl: int) -> Record | None:
    """dns.go makeARecord: A for IPv4, AAAA for IPv6, when the question type allows it."""
    if not _is_ip(address):
        return None
    kind = dns.rdatatype.A if ipaddress.ip_address(address).version == 4 else dns.rdatatype.AAAA
    if rdtype not in (kind, dns.rdatatype.ANY):
        return None
    return Record(name, ttl, _rdata(kind, address))


class DnsAnswerer:
    """Builds the response to one DNS query from the catalog and the prepared queries."""

    def __init__(self, state: ConsulState, seed: int = 0, enable_truncate: bool = False,
                 udp_answer_limit: int = UDP_ANSWER_LIMIT) -> None:
        self.state = state
        self.origin = dns.name.from_text(state.domain)
        self.rng = random.Random(seed)
        self.enable_truncate = enable_truncate
        self.udp_answer_limit = udp_answer_limit

    def answer(self, query: dns.message.Message, udp: bool) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        response.flags &= ~dns.flags.RA
        if query.edns >= 0:
            response.use_edns(0, payload=query.payload)  # dns.go setEDNS echoes the client's UDP size
        if not query.question:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        reply = Reply()
        if question.name.is_subdomain(self.origin):
            response.set_rcode(self._in_domain(reply, question.name, question.rdtype))
        elif question.name.is_subdomain(ARPA):
            response.set_rcode(self._ptr(reply, question.name))
        else:
            response.set_rcode(dns.rcode.REFUSED)  # no recursors are configured
        if udp and trim_udp(query, response, reply, self.udp_answer_limit) and self.enable_truncate:
            response.flags |= dns.flags.TC  # dns.go trimDNSResponse sets TC only with dns_config.enable_truncate
        reply.fill(response)
        return response

    # -- handleQuery ---------------------------------------------------------------------------

    def _in_domain(self, reply: Reply, qname: dns.name.Name, rdtype: int) -> dns.rcode.Rcode:
        if rdtype == dns.rdatatype.SOA:
            reply.answer.append(self._soa())
            reply.authority, reply.additional = self._nameservers()
            return dns.rcode.NOERROR
        if rdtype == dns.rdatatype.NS:
            reply.answer, reply.additional = self._nameservers()
            return dns.rcode.NOERROR
        if rdtype == dns.rdatatype.AXFR:
            return dns.rcode.NOTIMP
        labels = [label.decode().lower() for label in qname.relativize(self.origin).labels]
        try:
            self._dispatch(reply, qname, rdtype, parse_lookup([x for x in labels if x != "@"],
                                                              self.state.datacenter))
        except NotFound:
            reply.authority.append(self._soa())
            return dns.rcode.NXDOMAIN
        except ConsulHTTPError:
            return dns.rcode.SERVFAIL  # an RPC error (a template asked for by ID) is rCodeFromError's default
        if not reply.answer:
            reply.authority.append(self._soa())  # errNoData: NOERROR with the SOA
        return dns.rcode.NOERROR

    def _soa(self) -> Record:
        """dns.go makeSOARecord: `hostmaster.` + domain in every version."""
        domain = self.origin.to_text()
        text = f"ns.{domain} hostmaster.{domain} {int(time.time())} 3600 600 86400 0"
        return Record(self.origin, 0, _rdata(dns.rdatatype.SOA, text))

    def _nameservers(self) -> tuple[list[Record], list[Record]]:
        """dns.go getNameserversAndNodeRecord: the servers (here the one server agent) and their addresses."""
        node = self.state.catalog.nodes.get(self.state.server_node)
        if node is None:
            return [], []  # the server's node was deregistered: dns.go logs "no servers found"
        target = dns.name.from_text(f"{node.name}.node.{self.state.datacenter}.{self.origin.to_text()}".lower())
        glue = _address_record(target, dns.rdatatype.ANY, node.address, 0)
        return [Record(self.origin, 0, _rdata(dns.rdatatype.NS, target.to_text()))], [glue] if glue else []

    def _dispatch(self, reply: Reply, qname: dns.name.Name, rdtype: int, lookup: Lookup | None) -> None:
        if lookup is None or lookup.datacenter not in (None, self.state.datacenter):
            raise NotFound
        if lookup.kind == LookupKind.NODE:
            self._node(reply, qname, rdtype, lookup.name)
        elif lookup.kind == LookupKind.ADDR:
            address = address_of_label(lookup.name)
            if address is None:
                raise NotFound
            record = _address_record(qname, rdtype, address, 0)
            if record is not None:
                reply.add_answer(record)
        else:
            instances, ttl = self._instances(lookup)
            if not instances:
                raise NotFound
            self.rng.shuffle(instances)
            self._services(reply, qname, rdtype, instances, ttl)

    def _instances(self, lookup: Lookup) -> tuple[list[Instance], int]:
        if lookup.kind == LookupKind.QUERY:
            # dns.go dispatch: the whole prefix before `.query` names the query; there is no suffix search.
            query = self.state.queries.resolve(lookup.name)
            if query is None:
                raise NotFound
            return self.state.queries.execute(query), self._ttl(query.dns.get("TTL", ""))
        healthy = [i for i in self.state.catalog.instances(lookup.name) if i.status != CheckStatus.CRITICAL]
        if lookup.tag is not None:
            healthy = [i for i in healthy if lookup.tag in {t.lower() for t in i.service.tags}]
        return healthy, 0

    @staticmethod
    def _ttl(text: str) -> int:
        with contextlib.suppress(DurationError):
            return int(parse_duration(text)) if text else 0
        return 0

    def _services(self, reply: Reply, qname: dns.name.Name, rdtype: int, instances: list[Instance],
                  ttl: int) -> None:
        seen: set[tuple[str, str, int]] = set()
        for instance in instances:
            address = instance.service.address or instance.node.address
            if rdtype != dns.rdatatype.SRV:
                record = _address_record(qname, rdtype, address, ttl)
                if record is not None:
                    reply.add_answer(record)  # dns.go addServiceNodeRecordsToMessage skips duplicates
                continue
            # addServiceSRVRecordsToMessage: one SRV per node, service address and port.
            key = (instance.node.name, instance.service.address, instance.service.port)
            if key not in seen:
                seen.add(key)
                self._srv(reply, qname, instance, address, ttl)

    def _srv(self, reply: Reply, qname: dns.name.Name, instance: Instance, address: str, ttl: int) -> None:
        dc, domain = self.state.datacenter, self.origin.to_text()
        if instance.service.address and _is_ip(instance.service.address):
            target = f"{addr_label(instance.service.address)}.addr.{dc}.{domain}"
        else:
            target = f"{instance.node.name}.node.{dc}.{domain}"
        glue = _address_record(dns.name.from_text(target), dns.rdatatype.ANY, address, ttl)
        if glue is None:
            return
        weights = instance.service.weights
        weight = weights.get("Warning", 1) if instance.status == CheckStatus.WARNING else weights.get("Passing", 1)
        reply.add_answer(Record(qname, ttl, _rdata(dns.rdatatype.SRV,
                                                   f"1 {weight} {instance.service.port} {target}")))
        reply.add_additional(glue)

    def _find_node(self, name: str) -> Node | None:
        """Node names are matched case-insensitively, as the catalog's node index is lower-cased."""
        return next((n for n in self.state.catalog.nodes.values() if n.name.lower() == name.lower()), None)

    def _node(self, reply: Reply, qname: dns.name.Name, rdtype: int, name: str) -> None:
        node = self._find_node(name)
        if node is None:
            raise NotFound
        if rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.ANY):
            record = _address_record(qname, rdtype, node.address, 0)
            if record is not None:
                reply.add_answer(record)
        if rdtype in (dns.rdatatype.TXT, dns.rdatatype.ANY):
            for key, value in sorted(node.meta.items()):
                text = value if key.lower().startswith("rfc1035-") else f"{key}={value}"
                reply.add_answer(Record(qname, 0, _rdata(dns.rdatatype.TXT, '"' + text.replace('"', '\\"') + '"')))

    # -- handlePtr -----------------------------------------------------------------------------

    def _ptr(self, reply: Reply, qname: dns.name.Name) -> dns.rcode.Rcode:
        """dns.go handlePtr: a node with that address first, else a service registered with it."""
        try:
            address = dns.reversename.to_address(qname)
        except (dns.exception.SyntaxError, ValueError):
            address = ""
        dc, domain = self.state.datacenter, self.origin.to_text()
        target = next((f"{n.name}.node.{dc}.{domain}" for n in self.state.catalog.nodes.values()
                       if address and n.address == address), None)
        if target is None:
            target = next((f"{s.name}.service.{dc}.{domain}" for s in self.state.catalog.services.values()
                           if address and s.address == address), None)
        if target is None:
            reply.authority.append(self._soa())
            return dns.rcode.NXDOMAIN
        reply.answer.append(Record(qname, 0, _rdata(dns.rdatatype.PTR, target)))
        return dns.rcode.NOERROR
