"""YAML nodes as plain data (spec layer): what a spec file may hold, and what its scalars mean.

Plain data is what JSON can say: mappings with scalar keys, lists, strings, integers, floats,
booleans and null. Scalars follow YAML 1.2's core schema (`yes`, `on` and `no` are text, only
`true`/`false` are booleans; `0o17` and `0x1f` are integers; text that looks like a date stays text).
Everything else is refused with its line: any other tag (`!!python/...`, `!!binary`, `!!set`,
`!!timestamp`, `!custom`), an alias that contains itself, and aliases that expand past MAX_NODES
nodes (a "billion laughs" document). Merge keys (`<<: *base`) are accepted, as YAML tools commonly do.
"""

from __future__ import annotations

import functools
import operator
import re
from typing import Any

import yaml

from reconciler.spec.marks import Mark, Marks, PathPart, join_path

# Nodes that aliases may add to a document beyond what is written; no real spec comes close.
MAX_NODES = 100_000
MAX_DEPTH = 64
_TAG = "tag:yaml.org,2002:"
_PLAIN = "tag:reconciler,2026:plain"  # a plain (unquoted, untagged) scalar: its meaning is decided here
_STR, _INT, _FLOAT, _BOOL, _NULL = (_TAG + name for name in ("str", "int", "float", "bool", "null"))
_MAP, _SEQ, _MERGE = _TAG + "map", _TAG + "seq", _TAG + "merge"

_NULL_TEXT = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL_TEXT = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT_TEXT = re.compile(r"^[-+]?(?:0b[01_]+|0o[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*)$")
_FLOAT_TEXT = re.compile(
    r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
    r"|[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_BASES = {"0b": 2, "0o": 8, "0x": 16}
_LEAF: dict[PathPart, Marks] = {}  # the children of every scalar's marks (marks are never changed once built)
_TAG_HINT = "write plain data (text, numbers, true/false, lists, mappings); quote text that starts with '!'"
_SCALAR = yaml.ScalarNode
# A Mark and a Marks are made for every node of a file: built directly (tuple's constructor, no
# NamedTuple argument parsing; no __init__ table walk), as `Mark(...)` and `Marks.node` would.
_new_mark = tuple.__new__
_new_marks = object.__new__


def _resolve(_loader: Any, kind: type[yaml.Node], _value: str, implicit: tuple[bool, bool]) -> str:
    """The tag of a node written without one: every plain scalar gets _PLAIN (`Plain` decides what it
    means), a quoted one is text. Replaces PyYAML's YAML 1.1 resolvers (`yes` is not a boolean here)."""
    if kind is yaml.ScalarNode:
        return _PLAIN if implicit[0] else _STR
    return _SEQ if kind is yaml.SequenceNode else _MAP


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's composer, with the tags of untagged nodes decided by `_resolve`."""

    resolve = _resolve
    # The composer calls these two around every node, for path resolvers, of which none is registered:
    # builtins that take the same arguments and do nothing cost a tenth of composing less than PyYAML's.
    descend_resolver = operator.is_
    ascend_resolver = tuple


class _PureLoader(yaml.SafeLoader):
    """The same, in pure Python (PyYAML without libyaml)."""

    resolve = _resolve


def plain_loader(*, pure: bool = False) -> type[yaml.SafeLoader]:
    """The loader class to compose nodes with (libyaml's when installed, unless `pure`)."""
    return _PureLoader if pure else _Loader


class NotPlain(Exception):
    """A node that is not plain data, with where it is and what to do."""

    def __init__(self, line: int | None, path: str, message: str, hint: str) -> None:
        super().__init__(message)
        self.line, self.path, self.message, self.hint = line, path, message, hint


class Plain:
    """Turns the node tree of one document into plain data and its marks."""

    def __init__(self, display: str, first_line: int) -> None:
        self._display = display
        self._first = first_line
        self._expanded = 0  # nodes reached again through an alias
        self._seen: set[int] = set()
        self._open: set[int] = set()
        self._start: int | None = None

    def document(self, node: yaml.Node) -> tuple[Any, Marks]:
        self._start = self._line(node)
        return self._value(node, Mark(self._display, self._line(node), ""), 0, aliased=False)

    def _line(self, node: yaml.Node) -> int:
        return int(node.start_mark.line) + self._first

    def _value(self, node: yaml.Node, mark: Mark, depth: int, *, aliased: bool) -> tuple[Any, Marks]:
        if depth > MAX_DEPTH:
            raise NotPlain(mark.line, mark.path, f"nested deeper than {MAX_DEPTH} levels", "flatten the data")
        if node.__class__ is yaml.ScalarNode:
            if aliased:
                self._count()
            value = resolve_plain(node.value) if node.tag == _PLAIN else self._scalar(node, mark)
            return value, Marks.node(mark, _LEAF)
        ident = id(node)
        aliased = aliased or ident in self._seen
        if aliased:
            self._count()
        if ident in self._open:
            hint = "an alias (*name) cannot stand inside the node its anchor (&name) marks"
            raise NotPlain(mark.line, mark.path, "a recursive alias: the node contains itself", hint)
        self._seen.add(ident)
        self._open.add(ident)
        try:
            if isinstance(node, yaml.MappingNode) and node.tag == _MAP:
                return self._mapping(node, mark, depth, aliased)
            if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ:
                return self._sequence(node, mark, depth, aliased)
            raise self._foreign(node, mark)
        finally:
            self._open.discard(ident)

    def _count(self) -> None:
        self._expanded += 1
        if self._expanded > MAX_NODES:
            message = f"the document expands to more than {MAX_NODES} nodes"
            raise NotPlain(self._start, "", message, "split the document, or use fewer nested aliases (*name)")

    def _child(self, node: yaml.Node, mark: Mark, depth: int, aliased: bool) -> tuple[Any, Marks]:
        """`_value` of a node one level below: a scalar, most of any file, is done here directly (the
        same steps, without three calls per value)."""
        if node.__class__ is not _SCALAR or depth >= MAX_DEPTH:
            return self._value(node, mark, depth + 1, aliased=aliased)
        if aliased:
            self._count()
        leaf = _new_marks(Marks)
        leaf.mark, leaf.children = mark, _LEAF
        return (resolve_plain(node.value) if node.tag == _PLAIN else self._scalar(node, mark)), leaf

    def _sequence(self, node: yaml.SequenceNode, mark: Mark, depth: int, aliased: bool) -> tuple[Any, Marks]:
        items: list[Any] = []
        children: dict[PathPart, Marks] = {}
        display, first, path = self._display, self._first, mark.path
        for index, item in enumerate(node.value):
            child = _new_mark(Mark, (display, item.start_mark.line + first, f"{path}[{index}]"))
            value, marks = self._child(item, child, depth, aliased)
            items.append(value)
            children[index] = marks
        return items, Marks.node(mark, children)

    def _mapping(self, node: yaml.MappingNode, mark: Mark, depth: int, aliased: bool) -> tuple[Any, Marks]:
        data: dict[Any, Any] = {}
        children: dict[PathPart, Marks] = {}
        merges: list[yaml.Node] = []
        display, first, path = self._display, self._first, mark.path
        for key_node, value_node in node.value:
            tag = key_node.tag
            if tag == _MERGE or (tag == _PLAIN and key_node.value == "<<"):
                merges.append(value_node)
                continue
            if key_node.__class__ is not _SCALAR:
                raise self._complex_key(key_node, mark)
            key = resolve_plain(key_node.value) if tag == _PLAIN else self._scalar(key_node, mark)
            line = key_node.start_mark.line + first
            if key in data:
                message = f"invalid YAML: duplicate key '{key}' (the same app, environment field or key twice)"
                hint = "each key may appear once in a mapping: merge the two entries or rename one"
                raise NotPlain(line, join_path(path, str(key)), message, hint)
            text = key if key.__class__ is str else str(key)
            child = _new_mark(Mark, (display, line, f"{path}.{text}" if path else text))
            data[key], children[key] = self._child(value_node, child, depth, aliased)
        for source in merges:
            self._merge(source, mark, depth, data, children)
        return data, Marks.node(mark, children)

    def _merge(
        self, source: yaml.Node, mark: Mark, depth: int, data: dict[Any, Any], children: dict[PathPart, Marks]
    ) -> None:
        """`<<: *base` or `<<: [*a, *b]`: keys not written here come from the merged mappings, first wins."""
        sources = source.value if isinstance(source, yaml.SequenceNode) and source.tag == _SEQ else [source]
        for item in sources:
            if not isinstance(item, yaml.MappingNode):
                hint = "merge a mapping: `<<: *name` where &name marks a mapping"
                raise NotPlain(self._line(item), mark.path, "`<<` merges mappings only", hint)
            merged, marks = self._value(item, mark, depth, aliased=True)
            for key, value in merged.items():
                if key not in data:
                    data[key], children[key] = value, marks.children[key]

    def _complex_key(self, node: yaml.Node, mark: Mark) -> NotPlain:
        hint = "a key is text or a number; quote a key that starts with '[', '{' or '?'"
        return NotPlain(self._line(node), mark.path, "a mapping key must be a scalar", hint)

    def _scalar(self, node: yaml.ScalarNode, mark: Mark) -> Any:
        tag, text = node.tag, node.value
        if tag == _PLAIN:
            return resolve_plain(text)
        if tag == _STR:
            return text
        typed = {_INT: _INT_TEXT, _FLOAT: _FLOAT_TEXT, _BOOL: _BOOL_TEXT, _NULL: _NULL_TEXT}.get(tag)
        if typed is None:
            raise self._foreign(node, mark)
        if not typed.match(text) and not (tag == _FLOAT and _INT_TEXT.match(text)):
            hint = "remove the tag, or write a value of that type"
            raise NotPlain(self._line(node), mark.path, f"'{text}' is not a valid {tag.removeprefix(_TAG)}", hint)
        return resolve_plain(text) if tag != _FLOAT else float(resolve_plain(text))

    def _foreign(self, node: yaml.Node, mark: Mark) -> NotPlain:
        tag = str(node.tag).replace(_TAG, "!!")
        return NotPlain(self._line(node), mark.path, f"the YAML tag '{tag}' is not plain data", _TAG_HINT)


_MAYBE_NOT_TEXT = frozenset("0123456789+-.~nNtTfF")


@functools.lru_cache(maxsize=8192)
def resolve_plain(text: str) -> Any:
    """What an unquoted scalar means under YAML 1.2's core schema (anything else is text)."""
    if text and text[0] not in _MAYBE_NOT_TEXT:
        return text
    if _NULL_TEXT.match(text):
        return None
    if _BOOL_TEXT.match(text):
        return text in ("true", "True", "TRUE")
    if _INT_TEXT.match(text):
        return _integer(text)
    if _FLOAT_TEXT.match(text):
        return _float(text)
    return text


def _integer(text: str) -> Any:
    digits = text.replace("_", "")
    sign = -1 if digits.startswith("-") else 1
    digits = digits.lstrip("+-")
    base = _BASES.get(digits[:2].lower(), 10)
    try:
        return sign * int(digits[2:] if base != 10 else digits, base)
    except ValueError:  # more digits than Python converts (sys.int_info): no spec means such a number
        return text


def _float(text: str) -> float:
    lowered = text.lower().replace("_", "")
    if lowered.endswith((".inf", ".nan")):
        return float(lowered.replace(".", ""))
    return float(lowered)
