"""Consul's DNS answer size rules: records as a list, deduplicated, trimmed to fit UDP (sandbox layer).

Mirrors agent/dns.go trimUDPResponse: without EDNS0 the limit is 512 bytes and the answer is first cut to
`udp_answer_limit` (3) records, sized uncompressed; with EDNS0 the client's UDP size is the only limit.
The authority section goes first, then answers from the end; ADDITIONAL keeps only the first record
for each SRV target still answered (syncExtra). TCP answers are not trimmed.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

DEFAULT_UDP_SIZE = 512
MAX_UDP_SIZE = 65535 - 68  # dns.go maxUDPDatagramSize
MAX_UDP_ANSWER_LIMIT = 8  # dns.go maxUDPAnswerLimit caps the configured udp_answer_limit
UDP_HEADER = 8


@dataclass(frozen=True)
class Record:
    """One resource record; a message is built from ordered lists of them."""

    name: dns.name.Name
    ttl: int
    rdata: dns.rdata.Rdata


@dataclass
class Reply:
    """The sections of an answer before they become a message."""

    answer: list[Record] = field(default_factory=list)
    authority: list[Record] = field(default_factory=list)
    additional: list[Record] = field(default_factory=list)

    def add_answer(self, record: Record) -> None:
        """Append unless the same record is already there (dns.go removes duplicates before trimming)."""
        if record not in self.answer:
            self.answer.append(record)

    def add_additional(self, record: Record) -> None:
        if record not in self.additional:
            self.additional.append(record)

    def fill(self, message: dns.message.Message) -> None:
        """Replace the message's sections with these records, grouped into RRsets in order."""
        message.answer = _rrsets(self.answer)
        message.authority = _rrsets(self.authority)
        message.additional = _rrsets(self.additional)
        message.index = {}  # find_rrset's cache would still name the replaced RRsets


def _rrsets(records: list[Record]) -> list[dns.rrset.RRset]:
    grouped: dict[tuple[dns.name.Name, int], dns.rrset.RRset] = {}
    for record in records:
        key = (record.name, record.rdata.rdtype)
        if key not in grouped:
            grouped[key] = dns.rrset.RRset(record.name, dns.rdataclass.IN, record.rdata.rdtype)
        grouped[key].add(record.rdata, record.ttl)
    return list(grouped.values())


def _length(message: dns.message.Message, compress: bool) -> int:
    if compress:
        return len(message.to_wire(max_size=65535))
    size = 12
    for question in message.question:
        size += len(question.name.to_wire() or b"") + 4
    for section in (message.answer, message.authority, message.additional):
        for rrset in section:
            buffer = io.BytesIO()
            rrset.to_wire(buffer)
            size += buffer.tell()
    if message.edns >= 0:
        size += 11  # the OPT record; the sandbox never adds EDNS options
    return size


def udp_limit(query: dns.message.Message) -> int:
    """The size an answer must fit: 512, or the client's EDNS0 UDP size when larger (capped)."""
    if query.edns >= 0 and query.payload > DEFAULT_UDP_SIZE:
        return min(query.payload, MAX_UDP_SIZE)
    return DEFAULT_UDP_SIZE


def _sync_additional(reply: Reply, pool: list[Record]) -> None:
    """dns.go syncExtra: the first additional record for each SRV target still answered."""
    first: dict[dns.name.Name, Record] = {}
    for record in pool:
        first.setdefault(record.name, record)
    targets = [r.rdata.target for r in reply.answer if r.rdata.rdtype == dns.rdatatype.SRV]  # type: ignore[attr-defined]
    reply.additional = [first[t] for t in dict.fromkeys(targets) if t in first]


def trim_udp(query: dns.message.Message, message: dns.message.Message, reply: Reply, answer_limit: int) -> bool:
    """Cut `reply` until `message` (refilled from it) fits a UDP answer; True when answers were dropped."""
    limit, total, pool = udp_limit(query), len(reply.answer), list(reply.additional)
    compress = True
    if limit == DEFAULT_UDP_SIZE and total > min(MAX_UDP_ANSWER_LIMIT, answer_limit):
        # Sized uncompressed so the answer stays under 512 bytes even if a middlebox expands it.
        compress = False
        reply.answer = reply.answer[:min(MAX_UDP_ANSWER_LIMIT, answer_limit)]
        if pool:
            _sync_additional(reply, pool)
    reply.fill(message)
    while len(reply.answer) > 1 and _length(message, compress) > limit - UDP_HEADER:
        reply.authority = []
        reply.answer = reply.answer[:-1]
        if pool:
            _sync_additional(reply, pool)
        reply.fill(message)
    return len(reply.answer) < total
