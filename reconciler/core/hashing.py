"""Definition hashing (pure core): the fingerprint stamped on every app the reconciler writes.

The hash covers the rendered definition without `instances` (the autoscaler owns that count) and
without the hash and revision labels themselves, so it changes exactly when the spec changes.
Canonical JSON: sorted keys, no spaces, integral floats written as integers (YAML's `1.0` == `1`).
An environment's digest covers its apps' hashes and instances: the revision the store records with it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

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
    return json.dumps(canonical_value(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def hashed_content(definition: Mapping[str, Any]) -> dict[str, Any]:
    """What the hash covers: the definition minus `instances` and minus the hash/revision labels."""
    content = {key: value for key, value in definition.items() if key != "instances"}
    labels = content.get("labels")
    if isinstance(labels, Mapping):
        content["labels"] = {key: value for key, value in labels.items() if key not in UNHASHED_LABELS}
    return content


def definition_hash(definition: Mapping[str, Any]) -> str:
    """Stable sha256 prefix of the canonical JSON of `definition` (see the module docstring)."""
    digest = hashlib.sha256(canonical_json(hashed_content(definition)).encode("utf-8")).hexdigest()
    return digest[:HASH_LENGTH]


def env_digest(desired: Desired, env: str) -> str:
    """A digest of an environment's desired definitions: the same digest means the same apps."""
    apps = {a.app_id: [definition_hash(a.definition), a.instances] for a in desired.apps.values() if a.env == env}
    return hashlib.sha256(canonical_json(apps).encode()).hexdigest()[:16]
