"""What a chart template rendered, by what it read (spec layer): apps rendered from one chart with
the same values give the same documents, so a load renders a template once per distinct input.

A template's input is the context names it reads (Jinja's `find_undeclared_variables`): a chart that
never prints `app` renders the same text for every app with the same values. A template that includes
or imports another one, or calls `random` / `lipsum`, is rendered for every app. Only renderings
without problems are kept; each app gets its own copy of the data (marks are shared, never changed).
"""

from __future__ import annotations

from typing import Any

from jinja2 import meta, nodes

from reconciler.spec.overlay import fresh
from reconciler.spec.source import Document
from reconciler.spec.templating import ChartEnvironment

# What gives two renderings of one input different outputs: Jinja's `lipsum` global, `random` filter.
_UNSTEADY_NAMES = frozenset({"lipsum"})
_UNSTEADY_FILTERS = frozenset({"random"})
_OTHER_TEMPLATES = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)


class RenderMemo:
    """The documents each (template, input) rendered in one load (one memo per chart and load)."""

    def __init__(self, environment: ChartEnvironment) -> None:
        self._environment = environment
        self._reads: dict[str, tuple[str, ...] | None] = {}
        self._kept: dict[tuple[str, str], list[Document]] = {}

    def key(self, template: str, context: dict[str, Any]) -> tuple[str, str] | None:
        """The memo key of rendering `template` with `context`; None when it must render each time.

        repr keeps what a rendering can tell apart: 1 from '1' and True, and the order of a mapping.
        """
        reads = self._reads_of(template)
        if reads is None:
            return None
        return template, repr([(name, context[name]) if name in context else (name,) for name in reads])

    def get(self, key: tuple[str, str] | None) -> list[Document] | None:
        kept = self._kept.get(key) if key is not None else None
        if kept is None:
            return None
        return [Document(document.file, document.line, fresh(document.data), document.marks) for document in kept]

    def put(self, key: tuple[str, str] | None, documents: list[Document]) -> None:
        if key is not None:
            self._kept[key] = [
                Document(document.file, document.line, fresh(document.data), document.marks) for document in documents
            ]

    def _reads_of(self, template: str) -> tuple[str, ...] | None:
        if template not in self._reads:
            self._reads[template] = _context_names(self._environment, template)
        return self._reads[template]


def _context_names(environment: ChartEnvironment, template: str) -> tuple[str, ...] | None:
    """The context names `template` reads, sorted; None when its output may differ for the same input."""
    loader = environment.loader
    if loader is None:
        return None
    try:
        source, _, _ = loader.get_source(environment, template)
        tree = environment.parse(source)
    except Exception:  # the rendering reports it, with its line
        return None
    if any(True for _ in tree.find_all(_OTHER_TEMPLATES)):
        return None
    if any(node.name in _UNSTEADY_FILTERS for node in tree.find_all(nodes.Filter)):
        return None
    if any(node.name in _UNSTEADY_NAMES for node in tree.find_all(nodes.Name)):
        return None  # a global: find_undeclared_variables does not name it
    return tuple(sorted(meta.find_undeclared_variables(tree)))
