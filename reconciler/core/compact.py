"""Compaction (pure core): a JSON value in canonical form without its empties, in one walk.

`compact_value(v)` is `drop_empty(canonical_value(v))`: integral floats become ints, null and empty
collections go from every object at every depth (list elements stay in place). Normalisation
(core/normalize.py) starts with it on both sides of every comparison, so it reads JSON's own types
in place and leaves anything else to the two plain walks.
"""

from __future__ import annotations

from typing import Any

from reconciler.core.hashing import canonical_value


def is_empty(value: Any) -> bool:
    return value is None or ((type(value) is list or type(value) is dict) and not value)


def drop_empty(value: Any) -> Any:
    """Remove null/empty members of every object, at every depth (list elements stay in place)."""
    if type(value) is dict:
        kept = {}
        for key, item in value.items():
            item = drop_empty(item)  # noqa: PLW2901 -- the cleaned value replaces the raw one
            if not is_empty(item):
                kept[key] = item
        return kept
    if type(value) is list:
        return [drop_empty(item) for item in value]
    return value


def compact_value(value: Any) -> Any:
    """`drop_empty(canonical_value(value))` in one walk (a cold plan does this to 20,000 definitions)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    return compact_nested(value)


def compact_members(value: dict[Any, Any], skipped: frozenset[str] = frozenset()) -> dict[str, Any]:
    """`compact_value` of an object without its `skipped` members. JSON's own types are read here, a
    leaf without a call; anything else (a key that is not a str, a tuple, a Mapping) takes the two walks."""
    kept: dict[str, Any] = {}
    for key, item in value.items():
        if type(key) is not str:  # str(key) may make two keys one: the two walks settle which wins
            whole: dict[str, Any] = drop_empty(canonical_value(value))
            return {name: member for name, member in whole.items() if name not in skipped}
        if key in skipped:
            continue
        kind = type(item)
        if kind is str or kind is int or kind is bool:
            kept[key] = item
        elif item is not None:
            item = compact_nested(item)  # noqa: PLW2901 -- the compacted value replaces the raw one
            if not is_empty(item):
                kept[key] = item
    return kept


def compact_nested(value: Any) -> Any:
    """`compact_value` of anything but a str, int, bool or None."""
    kind = type(value)
    if kind is dict:
        return compact_members(value)
    if kind is list:
        return compact_items(value)
    if kind is float:
        return int(value) if value.is_integer() else value
    return drop_empty(canonical_value(value))


def compact_items(value: list[Any]) -> list[Any]:
    """`compact_value` of a list: its elements stay in place, empty or not."""
    items: list[Any] = []
    for item in value:
        kind = type(item)
        if kind is str or kind is int or kind is bool or item is None:
            items.append(item)
        elif kind is dict:
            items.append(compact_members(item))
        elif kind is list:
            items.append(compact_items(item))
        else:
            items.append(drop_empty(canonical_value(item)))
    return items
