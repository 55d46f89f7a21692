"""Values are data, never YAML syntax (spec layer): how a chart's `{{ }}` values reach the rendered app.

While a template renders, every `{{ value }}` is written as an opaque placeholder (`__rcv<nonce>_<n>__`,
letters, digits and `_`: plain YAML in any position, and the random nonce is in no template). The text
is parsed as YAML, then each placeholder is put back as data: a plain (unquoted) scalar or key that is
exactly one placeholder becomes the value itself (an int stays an int, a mapping or list stays
structure); a quoted one, or one inside longer text, becomes the value's text. Whatever characters a
value holds (quotes, newlines, `: `, `#`, `---`), it can never add, remove or rename a field.
Control flow (`{% if %}`, `{% for %}`) and filters still see the real values; only output is deferred.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from reconciler.errors import SpecProblem
from reconciler.spec.source import DataPath, Document, Mark, Marks, PathPart

_QUOTED = ("'", '"')
_PLAIN_MARKS_KEPT = 64


class JsonText(str):
    """What `| json` gives: the value's JSON text (inside a longer string), remembering the value
    itself (where the placeholder stands alone, the value is placed as structure)."""

    data: Any

    def __new__(cls, text: str, data: Any) -> JsonText:
        made = super().__new__(cls, text)
        made.data = data
        return made


class Placeholders:
    """The values one template rendering wrote, and their placeholders."""

    def __init__(self) -> None:
        self._nonce = secrets.token_hex(8)
        self._prefix = f"__rcv{self._nonce}_"
        self._pattern = re.compile(rf"__rcv{self._nonce}_(\d+)__")
        self.values: list[Any] = []
        # Marks trees (of parsed texts, shared by every app a template renders) whose paths hold no
        # placeholder: resolving changes nothing in them, so they are handed back as they are.
        self._plain_marks: dict[int, Marks] = {}

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"__rcv{self._nonce}_{len(self.values) - 1}__"

    def reset(self) -> None:
        self.values = []

    def text(self, index: int) -> str:
        """The value as text. A string may itself hold placeholders (a macro's or `{% set %}` block's
        output): those are earlier values, put back as their text, so they stay data too."""
        value = self.values[index]
        if isinstance(value, JsonText):
            return str(value)
        if isinstance(value, str):
            return self.substitute(value, below=index)
        return str(value)

    def substitute(self, text: str, below: int | None = None) -> str:
        if self._prefix not in text:
            return text
        limit = len(self.values) if below is None else below

        def replace(match: re.Match[str]) -> str:
            index = int(match.group(1))
            return self.text(index) if index < limit else match.group()

        return self._pattern.sub(replace, text)

    def typed(self, index: int) -> Any:
        value = self.values[index]
        if isinstance(value, JsonText):
            return _plain(value.data)
        if isinstance(value, str):
            return self.substitute(value, below=index)
        return _plain(value)

    def whole(self, text: str) -> int | None:
        """The index of the placeholder that is all of `text`, if it is one."""
        if not text.startswith(self._prefix):
            return None
        match = self._pattern.fullmatch(text)
        return int(match.group(1)) if match else None

    def quoted(self, text: str) -> set[int]:
        """The placeholders written between a pair of quotes in the YAML `text`. Where such a scalar is
        exactly one placeholder, it was quoted (so it means text). The text is not parsed again: each
        placeholder occurs once, and a scalar that is exactly a placeholder shows the quotes around it
        only if they delimit it (anything else, escaped quotes too, leaves more in the scalar)."""
        found = set()
        for match in self._pattern.finditer(text):
            before = text[match.start() - 1 : match.start()]
            if before in _QUOTED and text[match.end() : match.end() + 1] == before:
                found.add(int(match.group(1)))
        return found

    def resolve(self, document: Document, quoted: set[int], problems: list[SpecProblem]) -> Document:
        """The document with every placeholder put back as data (its marks re-keyed to match)."""
        resolver = _Resolver(self, quoted, document.marks, problems)
        data = resolver.value(document.data, ())
        return Document(document.file, document.line, data, self._resolved_marks(resolver, document.marks))

    def _resolved_marks(self, resolver: _Resolver, marks: Marks) -> Marks:
        """`marks` itself when no key or path in it holds a placeholder (found once per parsed text: the
        apps a template renders share its text and its marks), else the tree remarked."""
        if self._plain_marks.get(id(marks)) is marks:
            return marks
        if self._in_keys(marks):
            return self._remarked(resolver, marks)
        if len(self._plain_marks) >= _PLAIN_MARKS_KEPT:
            self._plain_marks.clear()
        self._plain_marks[id(marks)] = marks
        return marks

    def _in_keys(self, marks: Marks) -> bool:
        """Whether a placeholder is in a key or a mark's path anywhere in the tree."""
        if marks.mark is not None and self._prefix in marks.mark.path:
            return True
        return any(
            (isinstance(part, str) and self._prefix in part) or self._in_keys(child)
            for part, child in marks.children.items()
        )

    def _remarked(self, resolver: _Resolver, marks: Marks) -> Marks:
        """The marks tree with its keys and paths resolved like the data they follow."""
        children = {resolver.part(part): self._remarked(resolver, child) for part, child in marks.children.items()}
        mark = marks.mark
        return Marks.node(None if mark is None else Mark(mark.file, mark.line, self.substitute(mark.path)), children)


class _Resolver:
    def __init__(self, placeholders: Placeholders, quoted: set[int], marks: Marks, problems: list[SpecProblem]):
        self._placeholders = placeholders
        self._quoted = quoted
        self._marks = marks
        self._problems = problems

    def value(self, node: Any, path: DataPath) -> Any:
        if isinstance(node, dict):
            result: dict[Any, Any] = {}
            for key, item in node.items():
                resolved = self.key(key)
                if resolved in result:
                    self._duplicate(resolved, (*path, key))
                    continue
                result[resolved] = self.value(item, (*path, key))
            return result
        if isinstance(node, list):
            return [self.value(item, (*path, index)) for index, item in enumerate(node)]
        if isinstance(node, str):
            index = self._placeholders.whole(node)
            if index is not None and index not in self._quoted:
                return self._placeholders.typed(index)
            return self._placeholders.substitute(node)
        return node

    def key(self, key: Any) -> Any:
        if not isinstance(key, str):
            return key
        index = self._placeholders.whole(key)
        if index is not None and index not in self._quoted:
            typed = self._placeholders.typed(index)
            if typed is None or isinstance(typed, str | int | float | bool):
                return typed
        return self._placeholders.substitute(key)

    def part(self, part: PathPart) -> PathPart:
        return _part(self.key(part))

    def _duplicate(self, key: Any, path: DataPath) -> None:
        mark = self._marks.at(path)
        message = f"rendered template: the key '{key}' is written twice in one mapping"
        hint = "the values that name keys must differ"
        field = self._placeholders.substitute(mark.path)
        self._problems.append(SpecProblem(mark.file, mark.line, field, message, hint))


def _part(key: Any) -> PathPart:
    return key if isinstance(key, str | int) and not isinstance(key, bool) else str(key)


def _plain(value: Any) -> Any:
    """A copy of a template value as plain data (apps share their values: no rendering may alias them)."""
    if isinstance(value, dict):
        return {_plain(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, JsonText):
        return _plain(value.data)
    if isinstance(value, str):
        return str(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)
