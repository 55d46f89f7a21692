"""Validation findings (sandbox layer): Marathon's 422 / 400 `details` grouped by JSON path.

Shared by the reader (play-json types), the id rules and the semantic rules of the validation package.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Details = list[dict[str, object]]
Json = Mapping[str, Any]  # a body that reading has already type-checked


class Findings:
    """Errors grouped by JSON path in the order found, as Marathon groups violations per path."""

    def __init__(self) -> None:
        self.by_path: dict[str, list[str]] = {}

    def __bool__(self) -> bool:
        return bool(self.by_path)

    def add(self, path: str, error: str) -> None:
        errors = self.by_path.setdefault(path or "/", [])
        if error not in errors:
            errors.append(error)

    def details(self) -> Details:
        return [{"path": path, "errors": list(errors)} for path, errors in self.by_path.items()]


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
