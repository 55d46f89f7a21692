"""The values a chart knows (spec layer): the keys its values.yaml declares and those its templates
read (`values.tag`, `values["tag"]`, `values.get("tag")`), found in the templates' Jinja2 syntax tree.
An app value the chart does not know is a typo that would otherwise be ignored without a word.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment

from reconciler.errors import SpecProblem
from reconciler.spec.problems import closest_hint
from reconciler.spec.source import Marks

VALUES = "values"
# A template that uses `values` whole (iterates it, passes it on, calls its methods) may read any key.
_DICT_METHODS = frozenset({"items", "keys", "values", "get", "pop", "copy", "update", "setdefault", "popitem"})


def known_values(templates_folder: Path, defaults: dict[str, Any]) -> frozenset[str] | None:
    """The value keys the chart declares or reads; None when its templates may read any key."""
    names = {str(key) for key in defaults}
    parser = SandboxedEnvironment()
    for path in sorted(templates_folder.rglob("*")):
        if not path.is_file():
            continue
        try:
            tree = parser.parse(path.read_text(encoding="utf-8"))
        except (jinja2.TemplateSyntaxError, OSError, UnicodeDecodeError):
            return None  # reported when the chart renders; which keys it reads is unknown
        read = _read_keys(tree)
        if read is None:
            return None
        names |= read
    return frozenset(names)


def _read_keys(tree: nodes.Node) -> set[str] | None:
    keys: set[str] = set()
    for name, parent, grandparent in _names(tree, None, None):
        if name.name != VALUES:
            continue
        key = _key(name, parent, grandparent)
        if key is None:
            return None
        keys.add(key)
    return keys


def _names(
    node: nodes.Node, parent: nodes.Node | None, grandparent: nodes.Node | None
) -> Iterator[tuple[nodes.Name, nodes.Node | None, nodes.Node | None]]:
    if isinstance(node, nodes.Name):
        yield node, parent, grandparent
    for child in node.iter_child_nodes():
        yield from _names(child, node, parent)


def _key(name: nodes.Name, parent: nodes.Node | None, grandparent: nodes.Node | None) -> str | None:
    """The key read by this use of `values`, or None when it is not one key (the whole mapping is used)."""
    if name.ctx != "load":
        return None
    if isinstance(parent, nodes.Getattr) and parent.node is name:
        if parent.attr == "get" and isinstance(grandparent, nodes.Call) and grandparent.node is parent:
            return _constant(grandparent.args[0]) if grandparent.args else None
        return None if parent.attr in _DICT_METHODS else parent.attr
    if isinstance(parent, nodes.Getitem) and parent.node is name:
        return _constant(parent.arg)
    return None


def _constant(node: nodes.Node) -> str | None:
    return node.value if isinstance(node, nodes.Const) and isinstance(node.value, str) else None


def unknown_value_problems(
    chart: str, values_file: str, known: frozenset[str] | None, values: dict[str, Any], marks: Marks
) -> list[SpecProblem]:
    """A problem for each of an app's `values` keys its chart does not know (`marks`: of the app entry)."""
    if known is None:
        return []
    problems = []
    for key in values:
        if str(key) in known:
            continue
        message = f"chart '{chart}' has no value '{key}': {values_file} does not declare it and no template reads it"
        hint = closest_hint(str(key), sorted(known)).replace("known keys here", f"values of chart '{chart}'")
        problems.append(marks.problem((VALUES, key), message, hint))
    return problems
