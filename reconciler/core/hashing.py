"""Definition hashing (pure core): the fingerprint stamped on every app the reconciler writes.

The hash covers the rendered definition without `instances` (the autoscaler owns that count) and
without the hash and revision labels themselves, so it changes exactly when the spec changes.
Canonical JSON: sorted keys, no spaces, integral floats written as integers (YAML's `1.0` == `1`), by
orjson wherever it is proven to write json.dumps's bytes (the hash must never move), else by json.dumps.
An environment's digest covers its apps' hashes and instances: the revision the store records with it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from reconciler.core.naming import HASH_LABEL, REVISION_LABEL

if TYPE_CHECKING:
    from reconciler.core.model import Desired

HASH_LENGTH = 16  # hex digits: 64 bits is plenty to tell one app's definitions apart
UNHASHED_LABELS = frozenset({HASH_LABEL, REVISION_LABEL})


def canonical_number(value: Any) -> Any:
    """`1.0` becomes `1` so that YAML and JSON spellings of one number hash and compare alike."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def canonical_value(value: Any) -> Any:
    """A deep copy with integral floats turned into ints (bools untouched: they are not numbers here)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:  # the common leaves, checked cheaply
        return value
    if kind is dict or isinstance(value, Mapping):
        return {str(key): canonical_value(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [canonical_value(item) for item in value]
    return canonical_number(value)


def canonical_json(value: Any) -> str:
    written = orjson_json(value)
    return written.decode("utf-8") if written is not None else standard_json(value)


def canonical_bytes(value: Any) -> bytes:
    """`canonical_json(value)` in UTF-8 (a lone surrogate raises UnicodeEncodeError, as its encoding would)."""
    written = orjson_json(value)
    return written if written is not None else standard_json(value).encode("utf-8")


def standard_json(value: Any) -> str:
    return json.dumps(canonical_value(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def orjson_json(value: Any) -> bytes | None:
    """What `standard_json` writes, by orjson (ten times faster), or None where orjson is not proven to agree.

    Proven (tests/unit/core/test_canonical_json.py): every str (all code points, escapes included), the
    order of sorted keys, ints of 64 bits. Left to json.dumps: a float orjson would spell its own way
    (`0.00001` for json's `1e-05`, so finite floats reach orjson already written by `float.__repr__`,
    json's spelling), a bigger int, a non-finite float, a subclass, any other type.
    """
    try:
        return orjson.dumps(orjson_ready(value), option=orjson.OPT_SORT_KEYS)
    except (Unproven, TypeError):  # orjson.JSONEncodeError is a TypeError
        return None


class Unproven(Exception):
    """A value whose canonical JSON orjson is not known to write as json.dumps does."""


def orjson_ready(value: Any) -> Any:
    """`canonical_value(value)` for orjson, floats already written as json.dumps writes them."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        ready = {}
        for key, item in value.items():
            if type(key) is not str:  # str(key) may make two keys one: json.dumps settles which wins
                raise Unproven
            kind = type(item)
            ready[key] = item if kind is str or kind is int or kind is bool or item is None else orjson_ready(item)
        return ready
    if kind is list or kind is tuple:
        return [item if type(item) is str or type(item) is int else orjson_ready(item) for item in value]
    if kind is float and math.isfinite(value):
        return int(value) if value.is_integer() else orjson.Fragment(float.__repr__(value).encode())
    raise Unproven


def hashed_content(definition: Mapping[str, Any]) -> dict[str, Any]:
    """What the hash covers: the definition minus `instances` and minus the hash/revision labels."""
    content = {key: value for key, value in definition.items() if key != "instances"}
    labels = content.get("labels")
    if isinstance(labels, Mapping):
        content["labels"] = {key: value for key, value in labels.items() if key not in UNHASHED_LABELS}
    return content


def definition_hash(definition: Mapping[str, Any]) -> str:
    """Stable sha256 prefix of the canonical JSON of `definition` (see the module docstring)."""
    written = hashed_json(definition) if type(definition) is dict else None
    if written is None:
        written = canonical_bytes(hashed_content(definition))
    return hashlib.sha256(written).hexdigest()[:HASH_LENGTH]


def hashed_json(definition: dict[Any, Any]) -> bytes | None:
    """`orjson_json(hashed_content(definition))` without building the content first."""
    ready = {}
    try:
        for key, item in definition.items():
            if type(key) is not str or (key == "labels" and type(item) is not dict and isinstance(item, Mapping)):
                raise Unproven  # a key json.dumps may merge, labels hashed_content copies first
            if key == "labels" and type(item) is dict:
                ready[key] = orjson_ready({name: label for name, label in item.items() if name not in UNHASHED_LABELS})
            elif key != "instances":
                ready[key] = orjson_ready(item)
        return orjson.dumps(ready, option=orjson.OPT_SORT_KEYS)
    except (Unproven, TypeError):  # orjson.JSONEncodeError is a TypeError
        return None


def env_digest(desired: Desired, env: str) -> str:
    """A digest of an environment's desired definitions: the same digest means the same apps."""
    apps = {a.app_id: [definition_hash(a.definition), a.instances] for a in desired.apps.values() if a.env == env}
    return hashlib.sha256(canonical_json(apps).encode()).hexdigest()[:16]
