"""Consul's `?filter` expression language over JSON results (sandbox layer, Consul emulator).

Supports `==`, `!=`, `in`, `not in`, `contains`, `not contains`, `matches`, `not matches`,
`is empty`, `is not empty`, combined with `and`, `or`, `not` and parentheses (not > and > or).
A selector that crosses a list (`Checks.Status`) matches when any element matches. As in Consul, a
selector the endpoint's items cannot have fails the request instead of matching nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.sandbox.consul.http_wire import ConsulHTTPError

Predicate = Callable[[dict[str, Any]], bool]
_TOKEN = re.compile(
    r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*"|`[^`]*`)|(?P<op>==|!=|\(|\))"""
    r"""|(?P<word>[A-Za-z_][A-Za-z0-9_\-]*(?:\.[A-Za-z0-9_\-]+|\["[^"]*"\])*)|(?P<number>-?\d+(?:\.\d+)?))"""
)
_KEYWORDS = {"and", "or", "not", "in", "contains", "matches", "is", "empty"}
_MISSING = object()


def _tokens(text: str) -> list[tuple[str, str]]:
    found, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise _error(text, f"unexpected input at offset {position}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        found.append(("keyword" if kind == "word" and value in _KEYWORDS else kind, value))
        position = match.end()
    return found


def _error(text: str, why: str) -> ConsulHTTPError:
    return ConsulHTTPError(400, f"Failed to create boolean expression evaluator: filter {text!r}: {why}")


@dataclass(frozen=True)
class Selectors:
    """The dotted selectors a filter may name: the fields of one endpoint's items.

    `fields` maps each key to what lies below it (None: a value with nothing inside to select);
    `fields=None` takes any key and anything below it (maps keyed by data, such as `Meta`).
    """

    fields: Mapping[str, Selectors | None] | None = None

    @classmethod
    def of(cls, sample: Mapping[str, Any], free: frozenset[str]) -> Selectors:
        """The selectors of items shaped like `sample`; keys in `free`, and empty objects, take any key."""
        fields: dict[str, Selectors | None] = {}
        for key, value in sample.items():
            # A list of objects is selected through its elements (`Checks.Status`).
            element = value[0] if isinstance(value, list) and value and isinstance(value[0], dict) else value
            if key in free or element == {}:
                fields[key] = cls()
            else:
                fields[key] = cls.of(element, free) if isinstance(element, dict) else None
        return cls(fields)

    def first_unknown(self, parts: list[str]) -> int | None:
        """The index of the first part no item can have, or None when the whole selector is valid."""
        below: Selectors | None = self
        for index, part in enumerate(parts):
            if below is None:
                return index
            if below.fields is None:
                return None
            if part not in below.fields:
                return index
            below = below.fields[part]
        return None


def _literal(kind: str, value: str) -> str:
    if kind == "string" and value.startswith('"'):
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value[1:-1] if kind == "string" else value


def _selector_parts(selector: str) -> list[str]:
    return [p for p in re.split(r'\.|\["([^"]*)"\]', selector) if p]


def _candidates(item: Any, parts: list[str]) -> tuple[list[Any], bool]:
    """Values a selector reaches, and whether it crossed a list on the way."""
    values, crossed = [item], False
    for part in parts:
        step: list[Any] = []
        for value in values:
            if isinstance(value, list):
                crossed = True
                step.extend(v.get(part, _MISSING) for v in value if isinstance(v, dict))
            elif isinstance(value, dict):
                step.append(value.get(part, _MISSING))
            else:
                step.append(_MISSING)
        values = step
    return [v for v in values if v is not _MISSING] if crossed else values, crossed


def _coerce(target: Any, literal: str) -> Any:
    if isinstance(target, bool):
        return literal.lower() == "true"
    if isinstance(target, int | float):
        try:
            return type(target)(literal)
        except ValueError:
            return literal
    return literal


def _holds(container: Any, literal: str, crossed: bool) -> bool:
    if crossed or isinstance(container, list):
        return literal in (container if isinstance(container, list) else [container])
    if isinstance(container, dict):
        return literal in container
    return isinstance(container, str) and literal in container


def _match(op: str, selector: str, literal: str) -> Predicate:
    parts = _selector_parts(selector)

    def test(item: dict[str, Any]) -> bool:
        values, crossed = _candidates(item, parts)
        if op in {"==", "!="}:
            hit = any(v == _coerce(v, literal) for v in values)
            return hit if op == "==" else not hit
        if op in {"contains", "in"}:
            return any(_holds(v, literal, False) for v in values) if not crossed else literal in values
        if op == "matches":
            return any(isinstance(v, str) and re.search(literal, v) for v in values)
        if op == "empty":
            return all(v in (None, "", [], {}, _MISSING) for v in values)
        raise AssertionError(op)

    return test


class _Parser:
    def __init__(self, text: str, selectors: Selectors | None) -> None:
        self.text = text
        self.selectors = selectors
        self.tokens = _tokens(text)
        self.at = 0

    def peek(self, offset: int = 0) -> tuple[str, str]:
        index = self.at + offset
        return self.tokens[index] if index < len(self.tokens) else ("end", "")

    def take(self, kind: str, value: str | None = None) -> str:
        token = self.peek()
        if token[0] != kind or (value is not None and token[1] != value):
            raise _error(self.text, f"expected {value or kind}, found {token[1] or 'end of input'!r}")
        self.at += 1
        return token[1]

    def parse(self) -> Predicate:
        predicate = self.any_of()
        if self.peek()[0] != "end":
            raise _error(self.text, f"unexpected {self.peek()[1]!r}")
        return predicate

    def any_of(self) -> Predicate:
        parts = [self.all_of()]
        while self.peek() == ("keyword", "or"):
            self.at += 1
            parts.append(self.all_of())
        return parts[0] if len(parts) == 1 else (lambda item: any(p(item) for p in parts))

    def all_of(self) -> Predicate:
        parts = [self.negation()]
        while self.peek() == ("keyword", "and"):
            self.at += 1
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else (lambda item: all(p(item) for p in parts))

    def negation(self) -> Predicate:
        if self.peek() == ("keyword", "not"):
            self.at += 1
            inner = self.negation()
            return lambda item: not inner(item)
        if self.peek() == ("op", "("):
            self.at += 1
            inner = self.any_of()
            self.take("op", ")")
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        kind, value = self.peek()
        if kind in {"string", "number"}:
            self.at += 1
            negate = self._negated()
            self.take("keyword", "in")
            return self._maybe_not(_match("in", self._selector(), _literal(kind, value)), negate)
        return self._operator(self._selector())

    def _selector(self) -> str:
        selector = self.take("word")
        parts = _selector_parts(selector)
        unknown = self.selectors.first_unknown(parts) if self.selectors is not None else None
        if unknown is not None:
            raise _error(self.text, f'Selector "{".".join(parts[: unknown + 1])}" is not valid')
        return selector

    def _negated(self) -> bool:
        if self.peek() == ("keyword", "not"):
            self.at += 1
            return True
        return False

    @staticmethod
    def _maybe_not(predicate: Predicate, negate: bool) -> Predicate:
        return (lambda item: not predicate(item)) if negate else predicate

    def _operator(self, selector: str) -> Predicate:
        kind, value = self.peek()
        if kind == "op" and value in {"==", "!="}:
            self.at += 1
            return _match(value, selector, self._value())
        if (kind, value) == ("keyword", "is"):
            self.at += 1
            negate = self._negated()
            self.take("keyword", "empty")
            return self._maybe_not(_match("empty", selector, ""), negate)
        negate = self._negated()
        word = self.peek()
        if word[0] == "keyword" and word[1] in {"contains", "matches"}:
            self.at += 1
            return self._maybe_not(_match(word[1], selector, self._value()), negate)
        raise _error(self.text, f"expected an operator after {selector!r}")

    def _value(self) -> str:
        kind, value = self.peek()
        if kind not in {"string", "number", "word"}:
            raise _error(self.text, f"expected a value, found {value or 'end of input'!r}")
        self.at += 1
        return _literal(kind, value)


def compile_filter(text: str, selectors: Selectors | None = None) -> Predicate:
    """A predicate over one result item, or a 400 error naming the expression and what is wrong.

    With `selectors`, a selector outside them is such an error too (None checks syntax only).
    """
    return _Parser(text, selectors).parse()


def compile_request_filter(text: str | None, selectors: Selectors) -> Predicate | None:
    """The request's `?filter`, compiled before any blocking wait so that a bad one fails at once."""
    return compile_filter(text, selectors) if text else None


def apply_filter(items: list[Any], predicate: Predicate | None) -> list[Any]:
    return items if predicate is None else [item for item in items if predicate(item)]
