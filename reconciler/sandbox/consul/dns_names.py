"""What a DNS question asks of Consul: parsing names under the Consul domain (sandbox layer).

Forms: `[<tag>.]<service>.service`, RFC 2782 `_<service>._<tag>[.service]` (`_tcp` = any tag),
`<name>.query` and `_<name>._<protocol>.query` (names may contain dots), `<node>.node`, `<hex>.addr`, each
optionally followed by `<dc>.dc` or the older bare `<dc>`, then the domain.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum


class LookupKind(StrEnum):
    SERVICE = "service"
    QUERY = "query"
    NODE = "node"
    ADDR = "addr"


@dataclass(frozen=True)
class Lookup:
    kind: LookupKind
    name: str
    tag: str | None = None
    datacenter: str | None = None
    labels: tuple[str, ...] = ()


def _strip_datacenter(labels: list[str], datacenter: str) -> tuple[list[str], str | None]:
    if len(labels) >= 3 and labels[-1] == "dc":
        return labels[:-2], labels[-2]
    if len(labels) >= 2 and labels[-1] == datacenter and labels[-2] in set(LookupKind):
        return labels[:-1], labels[-1]
    if len(labels) >= 3 and labels[-2] in set(LookupKind) and labels[-1] not in set(LookupKind):
        return labels[:-1], labels[-1]
    return labels, None


def _rfc2782(prefix: list[str]) -> tuple[str, str | None] | None:
    if len(prefix) == 2 and all(p.startswith("_") and len(p) > 1 for p in prefix):
        tag = prefix[1][1:]
        return prefix[0][1:], None if tag == "tcp" else tag
    return None


def parse_lookup(labels: list[str], datacenter: str) -> Lookup | None:
    """The lookup asked by `labels` (the name without the domain, lower-case), or None if not one."""
    if not labels:
        return None
    srv = _rfc2782(labels[:2])
    if srv is not None and (len(labels) == 2 or (len(labels) == 3 and labels[2] not in set(LookupKind))):
        # `_<service>._<tag>[.<dc>]` with no `.service` label.
        return Lookup(LookupKind.SERVICE, srv[0], srv[1], labels[2] if len(labels) == 3 else None)
    labels, dc = _strip_datacenter(labels, datacenter)
    if len(labels) < 2 or labels[-1] not in set(LookupKind):
        srv = _rfc2782(labels)
        return Lookup(LookupKind.SERVICE, srv[0], srv[1], dc) if srv else None
    kind, prefix = LookupKind(labels[-1]), labels[:-1]
    if kind == LookupKind.SERVICE:
        srv = _rfc2782(prefix)
        if srv is not None:
            return Lookup(kind, srv[0], srv[1], dc)
        return Lookup(kind, prefix[-1], ".".join(prefix[:-1]) or None, dc)
    if kind == LookupKind.QUERY and len(prefix) >= 2 and prefix[-1].startswith("_") and prefix[0].startswith("_"):
        # agent/dns.go dispatch: `_<name>._<protocol>.query`, the protocol label ignored.
        name = (prefix[0][1:], *prefix[1:-1])
        return Lookup(kind, ".".join(name), None, dc, name)
    return Lookup(kind, ".".join(prefix), None, dc, tuple(prefix))


def addr_label(address: str) -> str:
    """The hex label of an IP for `<hex>.addr.<dc>.<domain>` SRV targets (192.0.2.10 -> c000020a)."""
    return ipaddress.ip_address(address).packed.hex()


def address_of_label(label: str) -> str | None:
    try:
        raw = bytes.fromhex(label)
    except ValueError:
        return None
    if len(raw) not in (4, 16):
        return None
    return str(ipaddress.ip_address(raw))
