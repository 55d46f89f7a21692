"""Line marks of spec data (spec layer): where each node of a YAML document was written.

A `Mark` names file, line and the field path as the author sees it; `Marks` is the tree of them
that follows the data, so that any later problem can still name `file:line: field.path`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from reconciler.errors import SpecProblem

PathPart = str | int
DataPath = tuple[PathPart, ...]


class Mark(NamedTuple):
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


class Marks:
    """Marks of one node and everything below it: a tree that follows the data, so that finding a
    node's mark, or the marks below a node, costs the depth of the path and not the size of the file.

    Built once and then shared (merges reuse subtrees): never change one after it is handed out.
    """

    __slots__ = ("children", "mark")

    def __init__(self, table: Mapping[DataPath, Mark] | None = None) -> None:
        self.mark: Mark | None = None
        self.children: dict[PathPart, Marks] = {}
        for path, mark in (table or {}).items():
            node = self
            for part in path:
                node = node.children.setdefault(part, Marks())
            node.mark = mark

    @staticmethod
    def node(mark: Mark | None, children: dict[PathPart, Marks]) -> Marks:
        marks = Marks.__new__(Marks)
        marks.mark, marks.children = mark, children
        return marks

    def at(self, path: DataPath) -> Mark:
        """The mark of the deepest written node on `path` (a missing field points at its parent)."""
        best, depth, node = self.mark, 0, self
        for index, part in enumerate(path, 1):
            found = node.children.get(part)
            if found is None:
                break
            node = found
            if node.mark is not None:
                best, depth = node.mark, index
        if best is None:
            return Mark("<unknown>", None, format_path(path))
        return best.descend(path[depth:]) if depth < len(path) else best

    def written(self, path: DataPath) -> Mark | None:
        """The mark of the node at `path` if that node was written, else None."""
        node: Marks | None = self
        for part in path:
            node = node.children.get(part) if node is not None else None
        return node.mark if node is not None else None

    def below(self, prefix: DataPath) -> Marks:
        """The marks under `prefix`, relative to it (empty when nothing was written there)."""
        node: Marks | None = self
        for part in prefix:
            node = node.children.get(part) if node is not None else None
        return node if node is not None else Marks()

    def with_mark(self, mark: Mark) -> Marks:
        """The same tree with `mark` as the mark of its root."""
        return Marks.node(mark, self.children)

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
