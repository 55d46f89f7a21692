"""Whether decoded JSON is plainly what a Consul wire model takes (layer 3 adapter).

At 10,000 instances, validating the catalog's, the checks' and the queries' models was most of a cold
observe. An answer whose every object has, for every field of its model, exactly the JSON type the field
takes as it is (no conversion, no field-name key that pydantic would also read) gives the same values
read straight from the JSON; anything else is left to pydantic, whose reading (or error) is the rule.
A Shape is that test for one model: conservative, it may refuse what pydantic accepts, never the reverse.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import chain, repeat
from typing import Any

from pydantic import BaseModel

from reconciler.consul import wire


class _Absent:
    """The value a missing required key reads as: its type is in no kind."""


_ABSENT = _Absent()
_NONE = type(None)
_DICT = frozenset({dict})
_TEXT = frozenset({str})

# A field's kind: the JSON types it takes as they are, the value of a missing key, and a check of the
# contents of all its (non-null) values at once.
Kind = tuple[frozenset[type], object, Callable[[list[Any]], bool] | None]


def _all_text(lists: list[Any]) -> bool:
    return set(map(type, chain.from_iterable(lists))) <= _TEXT


def _text_values(mappings: list[Any]) -> bool:
    return set(map(type, chain.from_iterable(map(dict.values, mappings)))) <= _TEXT


TEXT: Kind = (_TEXT, "", None)
REQUIRED_TEXT: Kind = (_TEXT, _ABSENT, None)
OPTIONAL_TEXT: Kind = (frozenset({str, _NONE}), None, None)
COUNT: Kind = (frozenset({int}), 0, None)
FLAG: Kind = (frozenset({bool}), False, None)
TEXT_LIST: Kind = (frozenset({list, _NONE}), None, _all_text)  # StrList: null reads as []
TEXT_MAP: Kind = (frozenset({dict, _NONE}), None, _text_values)  # StrMap (or StrMap | None)
ANY_MAP: Kind = (frozenset({dict, _NONE}), None, None)


@dataclass(frozen=True)
class Shape:
    """The plain JSON form of one model: its keys (aliases) with their kinds, and its field names.

    The test runs key by key over all the objects at once (each step a loop in C, not a Python call
    per object): at 10,000 objects that is what keeps it well under pydantic's own validation."""

    fields: tuple[tuple[str, Kind], ...]
    names: frozenset[str]

    def plain(self, item: Any) -> bool:
        """Whether `item` (decoded JSON) reads, field by field, as the JSON value it already is."""
        return self.all_plain([item])

    def all_plain(self, items: list[Any]) -> bool:
        """Whether every one of `items` is plain (see `plain`)."""
        if not set(map(type, items)) <= _DICT or not all(map(self.names.isdisjoint, items)):
            return False
        count = len(items)
        for key, (types, default, check) in self.fields:
            values = list(map(dict.get, items, repeat(key, count), repeat(default, count)))
            if not set(map(type, values)) <= types:
                return False
            if check is not None and not check([value for value in values if value is not None]):
                return False
        return True


def shape(model: type[BaseModel], kinds: Mapping[str, Kind], *, other_keys: frozenset[str] = frozenset()) -> Shape:
    """The Shape of `model` from the kind of each of its aliases; every field of the model must have one
    (a field added to the model and not here fails at import, not silently). An object holding one of
    `other_keys` (another alias pydantic reads) is never plain."""
    fields = model.model_fields
    aliases = {field.alias or name for name, field in fields.items()}
    if aliases != set(kinds):
        raise TypeError(f"{model.__name__}: kinds for {sorted(kinds)}, fields {sorted(aliases)}")
    return Shape(tuple(kinds.items()), frozenset(fields) | other_keys)


def model(inner: Shape, *, optional: bool = False, default: object = _ABSENT) -> Kind:
    """A nested model's kind: a JSON object plain for `inner` (or null when `optional`)."""
    types: frozenset[type] = frozenset({dict, _NONE}) if optional else _DICT
    return types, None if optional else default, inner.all_plain


def values_of(inner: Shape) -> Kind:
    """A map of nested models (a node's services by id): every value plain for `inner`; null reads as {}."""

    def check(mappings: list[Any]) -> bool:
        return inner.all_plain(list(chain.from_iterable(map(dict.values, mappings))))

    return frozenset({dict, _NONE}), None, check


CHECK = shape(wire.HealthCheck, {
    "Node": TEXT, "CheckID": REQUIRED_TEXT, "Name": TEXT, "Status": REQUIRED_TEXT, "Notes": TEXT, "Output": TEXT,
    "ServiceID": TEXT, "ServiceName": TEXT, "ServiceTags": TEXT_LIST, "Type": TEXT, "Definition": ANY_MAP,
    "CreateIndex": COUNT, "ModifyIndex": COUNT,
})
_WEIGHTS = shape(wire.Weights, {"Passing": COUNT, "Warning": COUNT})
SERVICE = shape(wire.AgentService, {
    "ID": REQUIRED_TEXT, "Service": REQUIRED_TEXT, "Tags": TEXT_LIST, "Meta": TEXT_MAP, "Port": COUNT,
    "Address": TEXT, "TaggedAddresses": ANY_MAP, "EnableTagOverride": FLAG, "Datacenter": TEXT,
    "Weights": model(_WEIGHTS, default={}), "Kind": TEXT, "Namespace": TEXT,
})
NODE = shape(wire.Node, {
    "ID": TEXT, "Node": REQUIRED_TEXT, "Address": TEXT, "Datacenter": TEXT, "TaggedAddresses": ANY_MAP,
    "Meta": TEXT_MAP, "CreateIndex": COUNT, "ModifyIndex": COUNT,
}, other_keys=frozenset({"NodeMeta"}))  # the meta is also read from `NodeMeta` (AliasChoices)
CATALOG_NODE = shape(wire.CatalogNode, {"Node": model(NODE), "Services": values_of(SERVICE)})

_FAILOVER = shape(wire.QueryFailover, {"NearestN": COUNT, "Datacenters": TEXT_LIST})
_QUERY_SERVICE = shape(wire.QueryService, {
    "Service": REQUIRED_TEXT, "Failover": model(_FAILOVER, optional=True), "OnlyPassing": FLAG,
    "Near": OPTIONAL_TEXT, "Tags": TEXT_LIST, "NodeMeta": TEXT_MAP, "ServiceMeta": TEXT_MAP,
})
_DNS = shape(wire.QueryDNS, {"TTL": TEXT})
_RAFT_INDEX = shape(wire.RaftIndex, {"CreateIndex": COUNT, "ModifyIndex": COUNT})
QUERY = shape(wire.PreparedQuery, {
    "Name": TEXT, "Session": OPTIONAL_TEXT, "Token": OPTIONAL_TEXT, "Service": model(_QUERY_SERVICE),
    "DNS": model(_DNS, optional=True), "ID": REQUIRED_TEXT, "RaftIndex": model(_RAFT_INDEX, default={}),
})
