"""Marathon's `label=` selector for GET /v2/apps (sandbox layer, pure; LabelSelector.scala).

Comma means AND; each term is `key`, `key==v`, `key!=v`, `key in (a,b)` or `key notin (a,b)`;
a backslash escapes the next character.
"""

from __future__ import annotations

import re

TERM = re.compile(r"^\s*(?P<key>(?:\\.|[^\s=!,()])+)\s*(?:(?P<op>==|!=|\s+in\s+|\s+notin\s+)\s*(?P<value>.*?))?\s*$")


def split_terms(selector: str) -> list[str]:
    terms, current, depth, escaped = [], "", 0, False
    for char in selector:
        if escaped:
            current, escaped = current + "\\" + char, False
        elif char == "\\":
            escaped = True
        elif char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            depth += {"(": 1, ")": -1}.get(char, 0)
            current += char
    terms.append(current)
    return [term for term in terms if term.strip()]


def unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def matches_selector(selector: str, labels: dict[str, str]) -> bool:
    return all(_term_matches(term, labels) for term in split_terms(selector))


def _term_matches(term: str, labels: dict[str, str]) -> bool:
    found = TERM.match(term)
    if found is None:
        return False
    key = unescape(found["key"])
    op = (found["op"] or "").strip()
    value = found["value"] or ""
    if not op:
        return key in labels
    if op in ("==", "!="):
        return (labels.get(key) == unescape(value)) == (op == "==")
    options = {unescape(v.strip()) for v in split_terms(value.strip().removeprefix("(").removesuffix(")"))}
    present = key in labels and labels[key] in options
    return present if op == "in" else not present
