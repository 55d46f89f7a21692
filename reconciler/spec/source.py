"""Reading spec YAML with its line marks (spec layer).

A YAML file becomes plain Python data (dicts, lists, scalars) plus a tree of marks that maps every
path inside a document to the file and line where it was written, so that any later problem (a
pydantic error, a merge of an override over its base) can still name `file:line: field.path`.
Parsing is libyaml's (PyYAML's C composer, pure-Python when libyaml is absent); what the nodes mean
is decided here (see `plain`), and a file whose bytes did not change is not parsed again.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import SpecProblem
from reconciler.gc_pause import gc_paused
from reconciler.spec.marks import DataPath, Mark, Marks, PathPart, format_path, join_path
from reconciler.spec.plain import MAX_DEPTH, MAX_NODES, NotPlain, Plain, plain_loader

# A spec file larger than this is refused (generated trees of thousands of apps stay far below).
MAX_FILE_BYTES = 8 * 1024 * 1024
_CACHE_FILES = 4096


@dataclass(frozen=True)
class Document:
    """One YAML document: its data, its marks, and where it starts."""

    file: str
    line: int
    data: Any
    marks: Marks


class _Parsed:
    """The cache of parsed files: (display name, sha256 of the bytes) -> documents and problems.

    Documents are shared between loads: nothing downstream changes a document's data in place (what a
    template sees is a copy, see `overlay.deep_merge`).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], tuple[list[Document], list[SpecProblem]]] = OrderedDict()

    def get(self, key: tuple[str, str]) -> tuple[list[Document], list[SpecProblem]] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: tuple[str, str], entry: tuple[list[Document], list[SpecProblem]]) -> None:
        with self._lock:
            self._entries[key] = entry
            while len(self._entries) > _CACHE_FILES:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_PARSED = _Parsed()
_RENDERED = _Parsed()  # texts that chart templates rendered, by their digest (see parse_text)


def read_documents(
    path: Path, display: str, problems: list[SpecProblem], *, max_bytes: int = MAX_FILE_BYTES
) -> list[Document]:
    """Every document of the YAML file at `path`; YAML errors become problems with their line.

    A file that vanishes or cannot be read while the tree changes (a `git pull`) is a problem too, so
    a controller retries on its next cycle. A file read before with the same bytes is not parsed again.
    """
    try:
        size = path.stat().st_size
        if size > max_bytes:
            problems.append(_too_big(display, size, max_bytes))
            return []
        raw = path.read_bytes()
    except OSError as exc:
        hint = "check the file's permissions; if the tree is being updated (git pull), the next load retries"
        problems.append(SpecProblem(display, None, "", f"cannot read the file: {exc.strerror or exc}", hint))
        return []
    if len(raw) > max_bytes:  # it grew between stat and read
        problems.append(_too_big(display, len(raw), max_bytes))
        return []
    key = (display, hashlib.sha256(raw).hexdigest())
    cached = _PARSED.get(key)
    if cached is None:
        found: list[SpecProblem] = []
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            found.append(SpecProblem(display, None, "", f"the file is not UTF-8: {exc.reason}", "save it as UTF-8"))
            cached = ([], found)
        else:
            cached = (parse_documents(text, display, found), found)
        _PARSED.put(key, cached)
    problems.extend(cached[1])
    return list(cached[0])


def _too_big(display: str, size: int, limit: int) -> SpecProblem:
    message = f"the file is {size} bytes, more than the limit of {limit} bytes"
    hint = "split it into several files, or raise the limit (RECONCILER_MAX_SPEC_BYTES)"
    return SpecProblem(display, None, "", message, hint)


def parse_text(text: str, display: str, problems: list[SpecProblem]) -> list[Document]:
    """`parse_documents(text, display, problems)`, not parsed again for a text seen before: the apps of a
    chart differ in their values only, which a rendering writes as the same placeholders, so the
    templates of a chart render one text for all its apps."""
    key = (display, hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest())
    cached = _RENDERED.get(key)
    if cached is None:
        found: list[SpecProblem] = []
        cached = (parse_documents(text, display, found), found)
        _RENDERED.put(key, cached)
    problems.extend(cached[1])
    return list(cached[0])


def parse_documents(text: str, display: str, problems: list[SpecProblem], first_line: int = 1) -> list[Document]:
    """Documents of a YAML text; line numbers are shifted so that the text's first line is `first_line`."""
    # No collection while a file's nodes are built: they all live until the end, and collecting them
    # again and again would make parsing a large file quadratic in its size.
    with gc_paused():
        return _parse(text, display, problems, first_line)


def _parse(text: str, display: str, problems: list[SpecProblem], first_line: int) -> list[Document]:
    try:
        nodes = list(yaml.compose_all(text, Loader=plain_loader()))  # nodes only: no object is built
    except yaml.MarkedYAMLError as exc:
        problems.append(_yaml_problem(exc, display, first_line))
        return []
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:
        problems.append(SpecProblem(display, None, "", f"invalid YAML: {exc}", "check the file's YAML syntax"))
        return []
    documents: list[Document] = []
    for node in nodes:
        if _is_empty(node):
            continue
        start = node.start_mark.line + first_line
        try:
            data, marks = Plain(display, first_line).document(node)
        except NotPlain as exc:
            problems.append(SpecProblem(display, exc.line, exc.path, exc.message, exc.hint))
            return []  # what follows from a broken document would only add follow-on problems
        documents.append(Document(display, start, data, marks))
    return documents


def _is_empty(node: yaml.Node) -> bool:
    """A document that is only `~`, `null` or nothing at all (ruamel and PyYAML both skip those)."""
    return isinstance(node, yaml.ScalarNode) and not node.style and node.value in ("", "~", "null", "Null", "NULL")


def _yaml_problem(exc: yaml.MarkedYAMLError, display: str, first_line: int) -> SpecProblem:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + first_line if mark is not None else None
    what = " ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
    started = exc.context_mark
    if exc.context and exc.problem and started is not None and mark is not None and started.line != mark.line:
        # The parser trips lines after the cause (an unclosed `[` or quote): name where that began.
        what = f"{exc.problem} ({exc.context} that starts at line {started.line + first_line})"
    hint = "check indentation, quoting and the ':' after each key"
    if "duplicate anchor" in what:
        hint = "give each anchor (&name) its own name"
    return SpecProblem(display, line, "", f"invalid YAML: {' '.join(what.split())}", hint)


__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "DataPath",
    "Document",
    "Mark",
    "Marks",
    "PathPart",
    "format_path",
    "join_path",
    "parse_documents",
    "parse_text",
    "read_documents",
]


def forget_parsed() -> None:
    _PARSED.clear()
    _RENDERED.clear()
