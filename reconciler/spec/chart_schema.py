"""A chart's `values.schema.json` (spec layer): the JSON Schema its merged values must satisfy, as Helm's.

Checked before the chart renders, so that `kind: redsi` or `heapMb: lots` is reported where it was
written (the app's values, the environment's values, or the chart's values.yaml, in that order) rather
than as whatever the template makes of it: a failed lookup lines later, or `-Xmxlotsm` sent to Marathon.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.core.masking import is_secret_name
from reconciler.errors import SpecProblem
from reconciler.redaction import MASK, redact
from reconciler.spec.source import DataPath, Marks

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

SCHEMA_FILE = "values.schema.json"
_SHOWN = 200  # characters of a schema error's message (it quotes the offending value)


@dataclass(frozen=True)
class ValuesLayer:
    """Values as one place wrote them: `marks.problem(prefix + path)` names a value at `path`."""

    values: dict[str, Any]
    marks: Marks
    prefix: DataPath = ()


def read_values_schema(folder: Path, display: str, found: list[SpecProblem]) -> Validator | None:
    """The validator of `folder/values.schema.json`; None without one, or when it is not a valid schema
    (a problem names the file)."""
    path = folder / SCHEMA_FILE
    if not path.is_file():
        return None
    # Imported here, not at the top: about 0.1 s that a tree whose charts have no schema never pays.
    from jsonschema import Draft202012Validator, SchemaError
    from jsonschema.validators import validator_for

    hint = "write a JSON Schema (https://json-schema.org) of the chart's values, as Helm's values.schema.json"
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
        validator_for(schema, default=Draft202012Validator).check_schema(schema)
    except (OSError, UnicodeDecodeError) as exc:
        found.append(SpecProblem(display, None, "", f"cannot read the values schema: {exc}", hint))
        return None
    except json.JSONDecodeError as exc:
        found.append(SpecProblem(display, exc.lineno, "", f"invalid JSON: {exc.msg}", hint))
        return None
    except SchemaError as exc:
        found.append(SpecProblem(display, None, "", f"not a valid JSON Schema: {exc.message[:_SHOWN]}", hint))
        return None
    validator: Validator = validator_for(schema, default=Draft202012Validator)(schema)
    return validator


def schema_problems(
    validator: Validator, merged: dict[str, Any], layers: Sequence[ValuesLayer], chart: str, schema_file: str
) -> list[SpecProblem]:
    """One problem per violation of the chart's schema by `merged`, placed at the first layer (app, then
    environment, then chart defaults) that wrote the value, else at the first layer's closest node."""
    problems = []
    for error in sorted(validator.iter_errors(merged), key=lambda e: [str(part) for part in e.absolute_path]):
        path = tuple(error.absolute_path)
        layer = next((layer for layer in layers if layer.marks.written((*layer.prefix, *path))), layers[0])
        message = f"chart '{chart}' refuses the value: {_shown(error.message, path, error.instance)}"
        problems.append(layer.marks.problem((*layer.prefix, *path), message, _hint(error.schema, schema_file)))
    return problems


def _shown(message: str, path: tuple[str | int, ...], value: object) -> str:
    """The schema's message, which quotes the value, with the value's secrets masked (a spec problem reaches
    logs, /status and notifications): the whole value when its name says it is a secret (core/masking.py),
    else a password inside a URL. Only the value is masked, not the whole message: a `pattern` it quotes may
    look like a URL."""
    if not isinstance(value, str) or not value:
        return redact(message)[:_SHOWN]
    hidden = MASK if any(is_secret_name(str(part)) for part in path) else _without_userinfo(redact(value))
    if hidden != value:
        for form, shown in ((repr(value)[1:-1], repr(hidden)[1:-1]), (value, hidden)):
            message = message.replace(form, shown)
    return message[:_SHOWN]


def _without_userinfo(value: str) -> str:
    """`value` with whatever stands before its last `@` (after a scheme, if any) masked: a value refused for
    its credentials may lack a scheme, or hold characters the URL pattern of `redact` stops at."""
    userinfo = value.rpartition("@")[0].rpartition("://")[2]
    return value.replace(f"{userinfo}@", f"{MASK}@", 1) if userinfo and userinfo != MASK else value


def _hint(schema: object, schema_file: str) -> str:
    """Where the rule is written, with the rule's own `description` when it has one: a `pattern` or a range
    says what it wants only there."""
    description = schema.get("description") if isinstance(schema, dict) else None
    return f"see {schema_file}: {description}" if isinstance(description, str) and description else f"see {schema_file}"
