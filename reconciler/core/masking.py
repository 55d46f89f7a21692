"""Secrets inside app definitions, masked where a plan shows a changed field (pure core).

A plan compares and sends the real values; only what it shows passes through `shown_change`: a
password inside a URL (`scheme://user:password@`, `?password=`, JDBC's `;password=`) and the value of
an environment variable or a label whose name says it is a secret (`SECRET_NAME`) read `***`. When masking
leaves both sides alike, the change is still shown: `masked` tells the printer to say `(changed)`. A
reference to one of Marathon's secrets (`{"secret": "<name>"}` as an env value) holds no value: it shows
as it is, whatever the variable's name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.core.model import FieldChange
from reconciler.redaction import MASK, redact

# `*PASSWORD*`, `*PASSWD*`, `*SECRET*`, `*TOKEN*`, `*_KEY` (API_KEY, AWS_SECRET_ACCESS_KEY) in any case,
# and a camelCase `*Key` (apiKey), as chart values name them.
SECRET_NAME = re.compile(r"(?i:passw(?:or)?d|secret|token|_key$)|[a-z0-9]Key$")
# The maps whose keys name their values: an app's environment and its labels.
NAMED = frozenset({"env", "labels"})


@dataclass(frozen=True)
class ShownChange:
    path: str
    actual: Any
    desired: Any
    masked: bool  # a secret was masked on either side


def is_secret_name(name: str) -> bool:
    return SECRET_NAME.search(name) is not None


def shown_change(change: FieldChange) -> ShownChange:
    """`change` as a plan may show it: every secret of both sides masked."""
    segments = change.path.split("/")[1:]
    if segments[:1] == ["env"] and segments[2:] == ["secret"]:
        actual, desired = change.actual, change.desired  # the names of two secrets, no value
    elif len(segments) >= 2 and segments[0] in NAMED and is_secret_name(segments[1]):
        actual, desired = _hidden(change.actual), _hidden(change.desired)
    elif len(segments) == 1 and segments[0] in NAMED:
        actual, desired = _masked_env(change.actual), _masked_env(change.desired)
    else:
        actual, desired = _masked(change.actual), _masked(change.desired)
    masked = (actual, desired) != (change.actual, change.desired)
    return ShownChange(change.path, actual, desired, masked)


def _hidden(value: Any) -> Any:
    if is_secret_reference(value):
        return value
    return None if value is None else MASK


def is_secret_reference(value: Any) -> bool:
    """Marathon's EnvVarSecretRef: `{"secret": "<name>"}`, the name of a declared secret, not its value."""
    return isinstance(value, Mapping) and len(value) == 1 and isinstance(value.get("secret"), str)


def _masked_env(env: Any) -> Any:
    if not isinstance(env, Mapping):
        return _masked(env)
    return {name: _hidden(value) if is_secret_name(str(name)) else _masked(value) for name, value in env.items()}


def _masked(value: Any) -> Any:
    """`value` with URL passwords masked in every string, and secret-named entries in every `env` and
    `labels` below."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {key: _masked_env(item) if key in NAMED else _masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value


def secret_env_values(definitions: Any) -> tuple[str, ...]:
    """The values of the secret-named environment variables and labels of one app definition or a list of them, for
    scrubbing a remote's answer that quotes the definition back (a 422 naming the env it refused).
    Values shorter than 4 characters are left out: masking them would garble every word they occur in."""
    bodies = definitions if isinstance(definitions, list) else [definitions]
    values = {
        value
        for body in bodies if isinstance(body, Mapping)
        for named in NAMED if isinstance(body.get(named), Mapping)
        for name, value in body[named].items()
        if isinstance(value, str) and len(value) >= 4 and is_secret_name(str(name))
    }
    return tuple(sorted(values))
