"""Emulated prepared queries: storage, name resolution, templates and execution (sandbox layer).

Queries resolve by ID, then exact name, then the longest `name_prefix_match` template prefix (the
empty-named template catches all). Execution keeps passing and warning instances (passing only with
`OnlyPassing`), honours required and `!excluded` tags; Failover is stored but never used (one DC).
"""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from reconciler.sandbox.consul.catalog import Catalog, CheckStatus, Instance, worst_status
from reconciler.sandbox.consul.http_wire import ConsulHTTPError
from reconciler.sandbox.consul.registration import pick

NOT_FOUND = ConsulHTTPError(404, "Query not found")


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
        raise ConsulHTTPError(400, "Must provide a Service name to query")
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


def _template(body: dict[str, Any]) -> dict[str, Any] | None:
    template = pick(body, "Template")
    if not template:
        return None
    kind = pick(template, "Type", "")
    if kind != "name_prefix_match":
        raise ConsulHTTPError(400, f"Bad Template.Type '{kind}'")
    return {"Type": kind, "Regexp": pick(template, "Regexp", "") or "",
            "RemoveEmptyTags": bool(pick(template, "RemoveEmptyTags", False))}


def _interpolate(value: Any, name: str, prefix: str, regexp: str) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, name, prefix, regexp) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, name, prefix, regexp) for v in value]
    if not isinstance(value, str):
        return value
    groups = re.match(regexp, name) if regexp else None
    text = value.replace("${name.full}", name).replace("${name.prefix}", prefix)
    text = text.replace("${name.suffix}", name[len(prefix):])
    return re.sub(r"\$\{match\((\d+)\)\}",
                  lambda m: (groups.group(int(m.group(1))) or "") if groups and int(m.group(1)) <= len(
                      groups.groups()) else "", text)


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
        self.rng = random.Random(seed)

    def _build(self, body: dict[str, Any], query_id: str) -> PreparedQuery:
        if not isinstance(body, dict):
            raise ConsulHTTPError(400, "Request decode failed: body must be a JSON object")
        name = pick(body, "Name", "") or ""
        clash = [q for q in self.queries.values() if name and q.name == name and q.id != query_id]
        if clash:
            raise ConsulHTTPError(400, f"Name '{name}' aliases an existing query name")
        ttl = pick(pick(body, "DNS") or {}, "TTL", "") or ""
        if not isinstance(ttl, str):
            # DNS.TTL is a Go string field: a number does not decode.
            raise ConsulHTTPError(400, "Request decode failed: DNS.TTL must be a duration string such as \"10s\"")
        return PreparedQuery(id=query_id, name=name, session=pick(body, "Session", "") or "",
                             token=pick(body, "Token", "") or "", service=_service_block(body),
                             dns={"TTL": ttl}, template=_template(body))

    def create(self, body: dict[str, Any], known_session: bool) -> PreparedQuery:
        query = self._build(body, str(uuid.uuid4()))
        if query.session and not known_session:
            raise ConsulHTTPError(400, f"Invalid session {query.session!r}")
        query.create_index = query.modify_index = self.catalog.index.advance()
        self.queries[query.id] = query
        return query

    def update(self, query_id: str, body: dict[str, Any]) -> None:
        known = self.queries.get(query_id)
        if known is None:
            raise NOT_FOUND
        query = self._build(body, query_id)
        query.create_index, query.modify_index = known.create_index, self.catalog.index.advance()
        self.queries[query_id] = query

    def delete(self, query_id: str) -> bool:
        if self.queries.pop(query_id, None) is None:
            return False
        self.catalog.index.advance()
        return True

    def drop_session(self, session_id: str) -> None:
        for query in [q for q in self.queries.values() if q.session == session_id]:
            self.delete(query.id)

    def resolve(self, id_or_name: str) -> PreparedQuery | None:
        """By ID, by exact static name, then by the longest template prefix; templates are rendered."""
        if id_or_name in self.queries:
            return self.queries[id_or_name]
        static = [q for q in self.queries.values() if q.template is None and q.name == id_or_name]
        if static:
            return static[0]
        templates = [q for q in self.queries.values() if q.template is not None and id_or_name.startswith(q.name)]
        if not templates:
            return None
        template = max(templates, key=lambda q: len(q.name))
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
        for instance in self.catalog.instances(spec["Service"]):
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
