"""JSON texts of checks and prepared queries, kept per version of what they show (sandbox layer, Consul
emulator).

A read of every check (`/v1/health/state/any`, what a controller's watch and each of its cycles read)
encoded 10,000 checks anew for each request, 0.3 s at a time, and `/v1/query` 10,000 queries: each
object's compact text is kept with what it was made from, and the answer joins them. The bytes are
those `json.dumps` makes of the whole list; `?pretty` and `?filter` reads still encode everything.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from reconciler.sandbox.consul.catalog import Catalog, Check, CheckStatus, Service
from reconciler.sandbox.consul.queries import PreparedQuery
from reconciler.sandbox.consul.render import check_json

COMPACT = (",", ":")


@dataclass(frozen=True)
class _Made:
    """What a text was made from: the same objects at the same indexes, status and output, the same text."""

    check: Check
    modify_index: int
    status: CheckStatus
    output: str
    service: Service | None
    service_index: int
    text: str


class CheckTexts:
    """Compact JSON of each check as health reads show it (`check_json`, not the agent's variant)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._made: dict[tuple[str, str], _Made] = {}

    def text(self, check: Check) -> str:
        service = self.catalog.services.get((check.node, check.service_id)) if check.service_id else None
        key = (check.node, check.check_id)
        made = self._made.get(key)
        service_index = service.modify_index if service else 0
        if (made is None or made.check is not check or made.modify_index != check.modify_index
                or made.status != check.status or made.output != check.output or made.service is not service
                or made.service_index != service_index):
            text = json.dumps(check_json(check, self.catalog), separators=COMPACT)
            made = _Made(check, check.modify_index, check.status, check.output, service, service_index, text)
            self._made[key] = made
        return made.text

    def array(self, checks: Iterable[Check]) -> str:
        """`json.dumps([check_json(c) for c in checks], separators=COMPACT)`, from the kept texts."""
        body = "[" + ",".join(self.text(check) for check in checks) + "]"
        if len(self._made) > 2 * len(self.catalog.checks) + 64:
            self._made = {key: made for key, made in self._made.items() if key in self.catalog.checks}
        return body


class QueryTexts:
    """Compact JSON of each prepared query (`PreparedQuery.to_json`): a stored query is replaced, never
    changed in place (queries.py `update` stores a new object), so the object and its index name a text."""

    def __init__(self) -> None:
        self._made: dict[str, tuple[PreparedQuery, int, str]] = {}

    def array(self, queries: list[PreparedQuery]) -> str:
        made: dict[str, tuple[PreparedQuery, int, str]] = {}
        for query in queries:
            known = self._made.get(query.id)
            if known is None or known[0] is not query or known[1] != query.modify_index:
                known = (query, query.modify_index, json.dumps(query.to_json(), separators=COMPACT))
            made[query.id] = known
        self._made = made  # what the whole list no longer holds is forgotten
        return "[" + ",".join(text for _, _, text in made.values()) + "]"


class NamesText:
    """`/v1/catalog/services` unfiltered: the catalog keeps its name -> tags map while no service changes
    (Catalog.service_names hands back the same object), and this keeps that map's text."""

    def __init__(self) -> None:
        self._made: tuple[dict[str, list[str]], str] | None = None

    def text(self, names: dict[str, list[str]]) -> str:
        if self._made is None or self._made[0] is not names:
            self._made = (names, json.dumps(names, separators=COMPACT))
        return self._made[1]
