"""Marathon's request validation for the embedded sandbox (sandbox layer).

Reading (`reading`: play-json over the RAML types) raises `JsonTypeError` for wrong JSON types; the id
rules (`path_ids`, PathId.scala) and the semantic rules (`rules`: AppValidation.scala,
SchedulingValidation.scala) return the 422 `details` [{"path", "errors"}] in Marathon's words. The three
entry points below run them in Marathon's order: read, then check.
"""

from __future__ import annotations

from reconciler.sandbox.marathon.validation.findings import Details, Findings
from reconciler.sandbox.marathon.validation.path_ids import canonical_path
from reconciler.sandbox.marathon.validation.reading import (
    APP,
    JsonLimitError,
    JsonTypeError,
    raise_type_errors,
    read,
    read_group,
)
from reconciler.sandbox.marathon.validation.rules import (
    check_app,
    check_app_update,
    check_group,
    constraint_problem,
    scala_number,
)


def validate_app(body: object, *, base: str = "/", features: frozenset[str] = frozenset()) -> Details:
    """Marathon 422 `details` entries [{"path": "/id", "errors": ["..."]}] for an app definition; [] when valid.

    Raises JsonTypeError for wrong JSON types (string where a number is expected, etc.), as play-json does.
    `base` is the group a relative id resolves against (root for POST /v2/apps); `features` are the
    ones Marathon runs with (`--enable_features`: `secrets`).
    """
    found = Findings()
    read(body, APP, "", found)
    if isinstance(body, dict) and "id" not in body:
        found.add("/id", "error.path.missing")
    raise_type_errors(found)
    assert isinstance(body, dict)  # read() reported anything else
    check_app(body, "", found, base=base, features=features)
    return found.details()


def validate_app_update(body: object) -> Details:
    """422 `details` for a PUT/PATCH partial app body (the rollback rule among them); [] when valid."""
    found = Findings()
    read(body, APP, "", found)
    raise_type_errors(found)
    assert isinstance(body, dict)
    check_app_update(body, found)
    return found.details()


def validate_group(body: object, *, group_id: str, features: frozenset[str] = frozenset()) -> Details:
    """422 `details` for a group body that becomes the group `group_id`; nested paths like /apps(0)/id.

    App and subgroup ids resolve against `group_id` and must be its direct children
    (PathId.validPathWithBase); a relative body `id` is resolved the same way by the caller.
    """
    found = Findings()
    read_group(body, "", found)
    raise_type_errors(found)
    assert isinstance(body, dict)
    check_group(body, "", found, group_id=canonical_path(group_id), features=features)
    return found.details()


__all__ = [
    "JsonLimitError",
    "JsonTypeError",
    "canonical_path",
    "constraint_problem",
    "scala_number",
    "validate_app",
    "validate_app_update",
    "validate_group",
]
