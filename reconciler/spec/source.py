"""Reading spec YAML with its line marks (spec layer).

A YAML file becomes plain Python data (dicts, lists, scalars) plus a table that maps every path inside
a document to the file and line where it was written, so that any later problem (a pydantic error,
a merge of an override over its base) can still name `file:line: field.path`.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from reconciler.errors import SpecProblem

PathPart = str | int
# Aliases let a few lines of YAML expand into billions of nodes; no real spec document comes close.
MAX_NODES = 100_000
_DUPLICATE_KEY = re.compile(r'found duplicate key "([^"]*)"')
DataPath = tuple[PathPart, ...]


@dataclass(frozen=True)
class Mark:
    """Where a node was written: file, 1-based line, and its field path as the author sees it."""

    file: str
    line: int | None
    path: str

    def child(self, part: PathPart, line: int | None) -> Mark:
        return Mark(self.file, line if line is not None else self.line, join_path(self.path, part))

    def descend(self, rest: DataPath) -> Mark:
        """The same place, for a field below this node that was not written (a missing field)."""
        path = self.path
        for part in rest:
            path = join_path(path, part)
        return Mark(self.file, self.line, path)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass
class Marks:
    """Marks of one node and everything below it, keyed by the path relative to that node."""

    table: dict[DataPath, Mark] = field(default_factory=dict)

    def at(self, path: DataPath) -> Mark:
        """The mark of the deepest written node on `path` (a missing field points at its parent)."""
        for end in range(len(path), -1, -1):
            mark = self.table.get(path[:end])
            if mark is not None:
                return mark.descend(path[end:]) if end < len(path) else mark
        return Mark("<unknown>", None, format_path(path))

    def below(self, prefix: DataPath) -> Marks:
        """The marks under `prefix`, re-keyed relative to it."""
        size = len(prefix)
        return Marks({path[size:]: mark for path, mark in self.table.items() if path[:size] == prefix})

    def overlaid(self, other: Marks) -> Marks:
        """Marks of a deep merge: where `other` wrote a node, its mark wins."""
        return Marks({**self.table, **other.table})

    def problem(self, path: DataPath, message: str, hint: str | None = None) -> SpecProblem:
        mark = self.at(path)
        return SpecProblem(mark.file, mark.line, mark.path, message, hint)


def join_path(path: str, part: PathPart) -> str:
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{part}" if path else str(part)


def format_path(path: DataPath) -> str:
    text = ""
    for part in path:
        text = join_path(text, part)
    return text


@dataclass(frozen=True)
class Document:
    """One YAML document: its data, its marks, and where it starts."""

    file: str
    line: int
    data: Any
    marks: Marks


def read_documents(path: Path, display: str, problems: list[SpecProblem]) -> list[Document]:
    """Every document of the YAML file at `path`; YAML errors become problems with their line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        hint = "check the file's permissions and that it is UTF-8"
        problems.append(SpecProblem(display, None, "", f"cannot read the file: {exc}", hint))
        return []
    return parse_documents(text, display, problems)


def parse_documents(text: str, display: str, problems: list[SpecProblem], first_line: int = 1) -> list[Document]:
    """Documents of a YAML text; line numbers are shifted so that the text's first line is `first_line`."""
    yaml = YAML(typ="rt", pure=True)
    try:
        nodes = list(yaml.load_all(text))
    except MarkedYAMLError as exc:
        problems.append(_yaml_problem(exc, display, first_line))
        return []
    except (YAMLError, ValueError, TypeError, RecursionError) as exc:
        problems.append(SpecProblem(display, None, "", f"invalid YAML: {exc}", "check the file's YAML syntax"))
        return []
    documents: list[Document] = []
    for node in nodes:
        if node is None:
            continue
        start = _node_line(node, first_line) or first_line
        root = Mark(display, start, "")
        marks = Marks({(): root})
        try:
            data = _plain(node, (), root, marks, first_line)
        except _TooLarge:
            message = f"the document expands to more than {MAX_NODES} nodes"
            hint = "split the document, or use fewer nested aliases (*name)"
            problems.append(SpecProblem(display, start, "", message, hint))
            continue
        documents.append(Document(display, start, data, marks))
    return documents


class _TooLarge(Exception):
    """A document expanded past MAX_NODES (alias bombs)."""


def _yaml_problem(exc: MarkedYAMLError, display: str, first_line: int) -> SpecProblem:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + first_line if mark is not None else None
    what = " ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
    hint = "check indentation, quoting and the ':' after each key"
    duplicate = _DUPLICATE_KEY.search(what)
    if duplicate:
        what = f"duplicate key '{duplicate.group(1)}' (the same app, environment field or key twice in one mapping)"
        hint = "each key may appear once in a mapping: merge the two entries or rename one"
    return SpecProblem(display, line, "", f"invalid YAML: {' '.join(what.split())}", hint)


def _node_line(node: Any, first_line: int) -> int | None:
    lc = getattr(node, "lc", None)
    return lc.line + first_line if lc is not None and lc.line is not None else None


def _plain(node: Any, path: DataPath, mark: Mark, marks: Marks, first_line: int) -> Any:
    """Plain data from ruamel's round-trip nodes, recording a mark for every key and item."""
    if len(marks.table) > MAX_NODES:
        raise _TooLarge
    if isinstance(node, Mapping):
        result: dict[Any, Any] = {}
        for key, value in node.items():
            plain_key = _scalar(key)
            line = _key_line(node, key, first_line)
            child = mark.child(str(plain_key), line)
            marks.table[(*path, plain_key)] = child
            result[plain_key] = _plain(value, (*path, plain_key), child, marks, first_line)
        return result
    if isinstance(node, list):
        items = []
        for index, value in enumerate(node):
            line = _item_line(node, index, first_line)
            child = mark.child(index, line)
            marks.table[(*path, index)] = child
            items.append(_plain(value, (*path, index), child, marks, first_line))
        return items
    return _scalar(node)


def _key_line(node: Any, key: Any, first_line: int) -> int | None:
    try:
        return int(node.lc.key(key)[0]) + first_line
    except (AttributeError, KeyError, TypeError, IndexError):
        return None


def _item_line(node: Any, index: int, first_line: int) -> int | None:
    try:
        return int(node.lc.item(index)[0]) + first_line
    except (AttributeError, KeyError, TypeError, IndexError):
        return None


def _scalar(value: Any) -> Any:
    """ruamel's scalar subclasses as the builtin types (dates stay strings: specs have no dates)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    if isinstance(value, tuple | frozenset | set):
        return str(value)
    return value
