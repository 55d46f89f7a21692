"""Emulated prepared queries: storage, name resolution, templates and execution (sandbox layer).

Queries resolve by ID, then exact name, then the longest `name_prefix_match` template prefix (the
empty-named template catches all); names match case-insensitively. Validation failures are RPC errors
(500), as `PreparedQuery.Apply` returns them. Execution keeps passing and warning instances (passing
only with `OnlyPassing`), honours required and `!excluded` tags; Failover is stored but never used.
"""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from reconciler.sandbox.consul.catalog import Catalog, CheckStatus, Instance, worst_status
from reconciler.sandbox.consul.durations import DurationError, parse_duration
from reconciler.sandbox.consul.http_wire import ConsulHTTPError
from reconciler.sandbox.consul.registration import pick

NOT_FOUND = ConsulHTTPError(404, "Query not found")
# agent/consul/state/prepared_query.go PreparedQueryResolve: a template looked up by its ID is an error.
TEMPLATE_BY_ID = ConsulHTTPError(
    500, "prepared query templates can only be resolved up by name, not by ID", rpc=True
)


def rpc_error(text: str) -> ConsulHTTPError:
    """An error `PreparedQuery.Apply` returns: the HTTP layer answers it as a 500 with the error text."""
    return ConsulHTTPError(500, text, rpc=True)


def not_modifiable(query_id: str) -> ConsulHTTPError:
    """agent/consul/prepared_query_endpoint.go Apply: an update or delete of an unknown ID.

    An ID that is not 36 characters long fails earlier, in go-memdb's UUIDFieldIndex lookup.
    """
    if len(query_id) != 36:
        return rpc_error("Prepared Query lookup failed: failed prepared query lookup: UUID must be 36 characters")
    return rpc_error(f"Cannot modify non-existent prepared query: '{query_id}'")


@dataclass
class PreparedQuery:
    id: str
    name: str
    session: str
    token: str
    service: dict[str, Any]
    dns: dict[str, str]
    template: dict[str, Any] | None = None
    create_index: int = 0
    modify_index: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ID": self.id, "Name": self.name, "Session": self.session, "Token": self.token}
        if self.template is not None:
            body["Template"] = self.template
        body.update({"Service": self.service, "DNS": self.dns,
                     "RaftIndex": {"CreateIndex": self.create_index, "ModifyIndex": self.modify_index}})
        return body


def _service_block(body: dict[str, Any]) -> dict[str, Any]:
    service = pick(body, "Service") or {}
    if not isinstance(service, dict) or not pick(service, "Service"):
        raise rpc_error("Invalid prepared query: Must provide a Service name to query")
    return {
        "Service": pick(service, "Service"),
        "Failover": pick(service, "Failover") or {"NearestN": 0, "Datacenters": None},
        "IgnoreCheckIDs": pick(service, "IgnoreCheckIDs"),
        "OnlyPassing": bool(pick(service, "OnlyPassing", False)),
        "Near": pick(service, "Near", "") or "",
        "Tags": pick(service, "Tags"),
        "NodeMeta": pick(service, "NodeMeta"),
        "ServiceMeta": pick(service, "ServiceMeta"),
        "Connect": pick(service, "Connect") or {"Enabled": False},
    }


# Python-only syntax RE2 refuses (lookaround, backreferences, possessive/atomic groups).
_NOT_RE2 = re.compile(r"\(\?[=!]|\(\?<[=!]|\(\?>|\\[1-9]|\(\?P=|[*+?}][+]")


def compile_regexp(text: str) -> re.Pattern[str]:
    """Go's regexp (RE2) as closely as Python allows; a bad one is the state store's compile error."""
    try:
        if _NOT_RE2.search(text):
            raise re.error("invalid or unsupported Perl syntax")
        return re.compile(text)
    except re.error as exc:
        raise rpc_error(f"failed compiling template: Bad Regexp: error parsing regexp: {exc}: `{text}`") from exc


def _template(body: dict[str, Any]) -> dict[str, Any] | None:
    """agent/consul/prepared_query/template.go Compile: only `name_prefix_match`, and the Regexp must compile.

    A Template whose Type is empty is no template at all (IsTemplate looks at Type alone).
    """
    template = pick(body, "Template") or {}
    kind = pick(template, "Type", "") or ""
    if not kind:
        return None
    if kind != "name_prefix_match":
        raise rpc_error(f"failed compiling template: Bad Template.Type '{kind}'")
    regexp = pick(template, "Regexp", "") or ""
    if regexp:
        compile_regexp(regexp)
    return {"Type": kind, "Regexp": regexp, "RemoveEmptyTags": bool(pick(template, "RemoveEmptyTags", False))}


def _interpolate(value: Any, name: str, prefix: str, regexp: str) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, name, prefix, regexp) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, name, prefix, regexp) for v in value]
    if not isinstance(value, str):
        return value
    # template.go Render: FindStringSubmatch, an unanchored search.
    groups = compile_regexp(regexp).search(name) if regexp else None
    text = value.replace("${name.full}", name).replace("${name.prefix}", prefix)
    text = text.replace("${name.suffix}", name[len(prefix):])
    return re.sub(r"\$\{match\((\d+)\)\}",
                  lambda m: (groups.group(int(m.group(1))) or "") if groups and int(m.group(1)) <= len(
                      groups.groups()) else "", text)


def _check_ttl(ttl: str) -> None:
    """prepared_query_endpoint.go parseDNS: the TTL must parse as a Go duration and not be negative."""
    if not ttl:
        return
    try:
        seconds = parse_duration(ttl)
    except DurationError as exc:
        raise rpc_error(f"Invalid prepared query: Bad DNS TTL '{ttl}': {exc}") from exc
    if seconds < 0:
        raise rpc_error(f"Invalid prepared query: DNS TTL '{ttl}', must be >=0")


def _has_tags(tags: list[str], wanted: list[str] | None) -> bool:
    present = {t.lower() for t in tags}
    for tag in wanted or []:
        if tag.startswith("!"):
            if tag[1:].lower() in present:
                return False
        elif tag.lower() not in present:
            return False
    return True


def _meta_matches(meta: dict[str, str], wanted: dict[str, str] | None) -> bool:
    return all(meta.get(k) == v for k, v in (wanted or {}).items())


class QueryStore:
    def __init__(self, catalog: Catalog, seed: int = 0) -> None:
        self.catalog = catalog
        self.queries: dict[str, PreparedQuery] = {}
        # Lower-cased name -> id, as the state store's name index: a create looks one name up, not all.
        self._named: dict[str, str] = {}
        self.rng = random.Random(seed)
        # The prepared-queries table's index (maxIndexTxn(tx, "prepared-queries")): moved by query writes
        # only; 0 until the first, which the HTTP layer shows as 1.
        self.table_index = 0

    def _write(self) -> int:
        self.table_index = self.catalog.index.advance()
        return self.table_index

    def _build(self, body: dict[str, Any], query_id: str) -> PreparedQuery:
        if not isinstance(body, dict):
            raise ConsulHTTPError(400, "Request decode failed: body must be a JSON object")
        name = pick(body, "Name", "") or ""
        ttl = pick(pick(body, "DNS") or {}, "TTL", "") or ""
        if not isinstance(ttl, str):
            # DNS.TTL is a Go string field: a number does not decode.
            raise ConsulHTTPError(400, "Request decode failed: DNS.TTL must be a duration string such as \"10s\"")
        query = PreparedQuery(id=query_id, name=name, session=pick(body, "Session", "") or "",
                              token=pick(body, "Token", "") or "", service=_service_block(body),
                              dns={"TTL": ttl}, template=_template(body))
        if not (query.name or query.template or query.session):
            raise rpc_error("Invalid prepared query: Must be bound to a session")
        _check_ttl(ttl)
        if name and self._named.get(name.lower(), query_id) != query_id:
            # The state store's name index is lower-cased: names differing only in case collide.
            raise rpc_error(f"name '{name}' aliases an existing query name")
        return query

    def create(self, body: dict[str, Any], known_session: bool) -> PreparedQuery:
        query = self._build(body, str(uuid.uuid4()))
        if query.session and not known_session:
            raise rpc_error(f'invalid session "{query.session}"')
        query.create_index = query.modify_index = self._write()
        self._store(query)
        return query

    def update(self, query_id: str, body: dict[str, Any]) -> None:
        known = self.queries.get(query_id)
        if known is None:
            raise not_modifiable(query_id)
        query = self._build(body, query_id)
        query.create_index, query.modify_index = known.create_index, self._write()
        self._named.pop(known.name.lower(), None)
        self._store(query)

    def _store(self, query: PreparedQuery) -> None:
        self.queries[query.id] = query
        if query.name:
            self._named[query.name.lower()] = query.id

    def delete(self, query_id: str) -> bool:
        query = self.queries.pop(query_id, None)
        if query is None:
            return False
        self._named.pop(query.name.lower(), None)
        self._write()
        return True

    def drop_session(self, session_id: str) -> None:
        for query in [q for q in self.queries.values() if q.session == session_id]:
            self.delete(query.id)

    def resolve(self, id_or_name: str) -> PreparedQuery | None:
        """By ID, by exact name, then by the longest template prefix; names fold case; templates are rendered.

        Mirrors agent/consul/state/prepared_query.go PreparedQueryResolve: a template asked for by its
        ID is refused (TEMPLATE_BY_ID), a template asked for by its exact name is rendered with it.
        """
        if id_or_name in self.queries:
            if self.queries[id_or_name].template is not None:
                raise TEMPLATE_BY_ID
            return self.queries[id_or_name]
        folded = id_or_name.lower()
        exact = [self.queries[self._named[folded]]] if folded in self._named else []
        templates = exact or [q for q in self.queries.values()
                              if q.template is not None and folded.startswith(q.name.lower())]
        if not templates:
            return None
        template = max(templates, key=lambda q: len(q.name))
        if template.template is None:
            return template
        rendered = _interpolate(template.service, id_or_name, template.name, (template.template or {})["Regexp"])
        if (template.template or {}).get("RemoveEmptyTags") and rendered.get("Tags"):
            rendered["Tags"] = [t for t in rendered["Tags"] if t]
        return PreparedQuery(id=template.id, name=template.name, session=template.session, token=template.token,
                             service=rendered, dns=template.dns, template=template.template,
                             create_index=template.create_index, modify_index=template.modify_index)

    def names(self) -> list[str]:
        return [q.name for q in self.queries.values() if q.name]

    def execute(self, query: PreparedQuery) -> list[Instance]:
        """Matching instances, shuffled as Consul shuffles them."""
        spec = query.service
        ignored = set(spec.get("IgnoreCheckIDs") or [])
        found = []
        for instance in self.catalog.instances(str(spec["Service"])):
            status = worst_status([c for c in instance.checks if c.check_id not in ignored])
            if status == CheckStatus.CRITICAL or (spec.get("OnlyPassing") and status != CheckStatus.PASSING):
                continue
            if not _has_tags(instance.service.tags, spec.get("Tags")):
                continue
            if _meta_matches(instance.node.meta, spec.get("NodeMeta")) and _meta_matches(
                    instance.service.meta, spec.get("ServiceMeta")):
                found.append(instance)
        self.rng.shuffle(found)
        return found
