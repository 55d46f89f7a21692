"""Marathon's id rules (sandbox layer): PathId.scala's segment pattern, reserved last segments,
canonical paths, and ids nested in a group body (PathId.validPathWithBase).
"""

from __future__ import annotations

import re

from reconciler.sandbox.marathon.validation.findings import Findings

# PathId.scala ID_PATH_SEGMENT_PATTERN, quoted verbatim in its error message.
SEGMENT_PATTERN = r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])|(\.|\.\.)$"
SEGMENT = re.compile(SEGMENT_PATTERN)
RESERVED = ("restart", "tasks", "versions")
BAD_SEGMENT = f"must fully match regular expression '{SEGMENT_PATTERN}'"
RESERVED_LAST = f"must not end with any of the following reserved keywords: {', '.join(RESERVED)}"


def canonical_path(raw: str, base: str = "/") -> str:
    """The absolute id of `raw` resolved against `base` (PathId.canonicalPath: `.` and `..` resolve)."""
    parts = [] if raw.startswith("/") else [p for p in base.split("/") if p]
    for segment in (p for p in raw.split("/") if p):
        if segment == "..":
            parts = parts[:-1]
        elif segment != ".":
            parts.append(segment)
    return "/" + "/".join(parts)


def check_path_id(raw: str, path: str, found: Findings, *, reserved: bool = True) -> None:
    """PathId.pathIdValidator: every segment matches the pattern; the last is not a reserved word."""
    segments = [p for p in raw.split("/") if p]
    if not segments:
        found.add(path, "Path must contain at least one path element")
    if any(not SEGMENT.fullmatch(segment) for segment in segments):
        found.add(path, BAD_SEGMENT)
    if reserved and segments and segments[-1] in RESERVED:
        found.add(path, RESERVED_LAST)


def check_nested_id(raw: str, group_id: str, path: str, found: Findings) -> str:
    """PathId.validPathWithBase: a nested id resolves against its group and must be a direct child."""
    absolute = canonical_path(raw, group_id)
    parent = absolute.rsplit("/", 1)[0] or "/"
    if parent != group_id:
        found.add(path, f"Identifier is not child of {group_id}. Hint: use relative paths.")
    check_path_id(raw, path, found)
    return absolute
