"""Deep merge of spec data and its line marks (spec layer).

Used for every overlay: chart defaults < environment values < app values, a functional
environment's app over its base's app, and an entry's inline fields over what its chart rendered.
Mappings merge key by key; lists and scalars are replaced whole (a list has no key to merge by).
"""

from __future__ import annotations

from typing import Any

from reconciler.spec.source import DataPath, Marks


def deep_merge(under: Any, over: Any) -> Any:
    """`over` on top of `under`."""
    if isinstance(under, dict) and isinstance(over, dict):
        merged = dict(under)
        for key, value in over.items():
            merged[key] = deep_merge(under[key], value) if key in under else value
        return merged
    return over


def merge_marks(under: Marks, over: Marks, over_data: Any) -> Marks:
    """Marks of `deep_merge(under, over)`: a node replaced by `over` loses the marks below it."""
    kept = {path: mark for path, mark in under.table.items() if not _replaced(path, over_data)}
    return Marks({**kept, **over.table})


def _replaced(path: DataPath, over: Any) -> bool:
    """Whether `over` replaces the node at `path` whole (it sets a non-mapping on the way)."""
    current = over
    for part in path:
        if not isinstance(current, dict) or part not in current:
            return False
        current = current[part]
        if not isinstance(current, dict):
            return True
    return False
