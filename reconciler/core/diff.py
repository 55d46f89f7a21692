"""Field-level diff of normalised definitions (pure core).

Walks two normalised definitions and lists every difference as a `FieldChange` whose path is a
JSON pointer (`/container/docker/image`, `/env/JAVA_OPTS`, `/healthChecks/0/path`). Objects are
compared member by member (an absent object counts as `{}`), lists of equal length element by
element, other lists as a whole.
A side that is absent shows as Marathon's default at the top level and as None below it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

import orjson

from reconciler.core.model import FieldChange
from reconciler.core.normalize import TOP_LEVEL_DEFAULTS


def escape_segment(segment: str) -> str:
    """JSON pointer escaping (RFC 6901): `~` -> `~0`, `/` -> `~1`."""
    return segment.replace("~", "~0").replace("/", "~1")


def same_scalar(desired: Any, actual: Any) -> bool:
    """Equal, and `True` is not `1`: Python's bool is an int, JSON's is not."""
    return desired == actual and isinstance(desired, bool) == isinstance(actual, bool)


def diff_values(desired: Any, actual: Any, path: str) -> list[FieldChange]:
    if isinstance(desired, Mapping) and isinstance(actual, Mapping | None):
        return diff_objects(desired, actual or {}, path)  # absent == {}: name the members that differ
    if desired is None and isinstance(actual, Mapping):
        return diff_objects({}, actual, path)
    if isinstance(desired, list) and isinstance(actual, list) and len(desired) == len(actual):
        changes: list[FieldChange] = []
        for index, (desired_item, actual_item) in enumerate(zip(desired, actual, strict=True)):
            changes.extend(diff_values(desired_item, actual_item, f"{path}/{index}"))
        return changes
    if isinstance(desired, list | Mapping) or isinstance(actual, list | Mapping):
        return [] if desired == actual else [FieldChange(path, actual, desired)]
    return [] if same_scalar(desired, actual) else [FieldChange(path, actual, desired)]


def diff_objects(desired: Mapping[str, Any], actual: Mapping[str, Any], path: str) -> list[FieldChange]:
    changes: list[FieldChange] = []
    for key in sorted(set(desired) | set(actual)):
        changes.extend(diff_values(desired.get(key), actual.get(key), f"{path}/{escape_segment(key)}"))
    return changes


def top_level_value(definition: Mapping[str, Any], key: str) -> Any:
    """The field's value, or Marathon's default for it when normalisation stripped it."""
    if key in definition:
        return definition[key]
    defaults = TOP_LEVEL_DEFAULTS.get(key)
    return defaults[0] if defaults else None


def same_fields(desired: Mapping[str, Any], actual: Mapping[str, Any], keys: Collection[str]) -> bool:
    """Whether `diff_fields` finds nothing, told without its walk: the members present on each side equal in
    Python (so `1.0` is `1`) and written alike as JSON (so `true` is not `1`). Both absent is equal there
    too (one default); one absent is not told (normalised, that is a change). A null (NaN writes as one,
    yet never equals itself), a type orjson refuses: not told either. The walk decides what is not told.
    Sound for any input: where this says same, each member pair is equal to the walk's `==` as well."""
    desired_view = {key: desired[key] for key in keys if key in desired}
    actual_view = {key: actual[key] for key in keys if key in actual}
    if desired_view != actual_view:
        return False
    try:
        written = orjson.dumps(desired_view, option=orjson.OPT_SORT_KEYS)
        return b"null" not in written and written == orjson.dumps(actual_view, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return False


def diff_fields(desired: Mapping[str, Any], actual: Mapping[str, Any], keys: Iterable[str]) -> tuple[FieldChange, ...]:
    """Differences between two normalised definitions, limited to the top-level `keys`."""
    changes: list[FieldChange] = []
    for key in sorted(set(keys)):
        desired_value, actual_value = top_level_value(desired, key), top_level_value(actual, key)
        changes.extend(diff_values(desired_value, actual_value, f"/{escape_segment(key)}"))
    return tuple(changes)
