"""Deep merge of spec data and its line marks (spec layer).

Used for every overlay: chart defaults < environment values < app values, a functional
environment's app over its base's app, and an entry's inline fields over what its chart rendered.
Mappings merge key by key; lists and scalars are replaced whole (a list has no key to merge by).
"""

from __future__ import annotations

from typing import Any

from reconciler.spec.marks import Marks


def deep_merge(under: Any, over: Any) -> Any:
    """`over` on top of `under`, in new containers: parsed spec data is cached and shared between
    loads, so what the merge gives (a template's `values`) must not reach into it."""
    if isinstance(under, dict) and isinstance(over, dict):
        merged = {key: fresh(value) for key, value in under.items()}
        for key, value in over.items():
            merged[key] = deep_merge(under[key], value) if key in under else fresh(value)
        return merged
    return fresh(over)


def fresh(value: Any) -> Any:
    """A copy of the mappings and lists of `value` (scalars are immutable and shared)."""
    if isinstance(value, dict):
        return {key: fresh(item) for key, item in value.items()}
    if isinstance(value, list):
        return [fresh(item) for item in value]
    return value


def merge_marks(under: Marks, over: Marks, over_data: Any) -> Marks:
    """Marks of `deep_merge(under, over)`: a node replaced by `over` loses the marks below it.

    Walks only where both trees have nodes; whole subtrees are shared, never copied.
    """
    mark = over.mark if over.mark is not None else under.mark
    children = dict(under.children)
    for key, marks in over.children.items():
        written = over_data.get(key, _ABSENT) if isinstance(over_data, dict) else _ABSENT
        kept = under.children.get(key)
        if kept is None or (written is not _ABSENT and not isinstance(written, dict)):
            children[key] = marks
        else:
            children[key] = merge_marks(kept, marks, written)
    for key in under.children.keys() - over.children.keys():
        written = over_data.get(key, _ABSENT) if isinstance(over_data, dict) else _ABSENT
        if written is not _ABSENT and not isinstance(written, dict):
            del children[key]
    return Marks.node(mark, children)


_ABSENT = object()
