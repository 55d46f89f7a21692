"""Validating one spec document (spec layer): its kind, its names, and its fields, keeping what is sound.

An app entry is validated on its own when its environment is built (a broken app costs only its own
broken fields); here the entries only need to be mappings under valid names. A broken field of an
environment is cut out and named, so the environment still loads and later checks skip what would
read that field. A document that cannot be understood at all (no kind, wrong apiVersion, no name)
is dropped; the environment it names is remembered, so that nothing says it does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.errors import ProblemList
from reconciler.spec.documents import API_VERSION, DOCUMENT_MODELS, EnvironmentDoc, FunctionalSetDoc, Kind
from reconciler.spec.environments import check_names
from reconciler.spec.problems import closest_hint
from reconciler.spec.prune import validate_pruned
from reconciler.spec.source import DataPath, Document, Mark


@dataclass(frozen=True)
class CheckedDocument:
    """A document without its broken parts (`cut`), and its model."""

    document: Document
    model: EnvironmentDoc | FunctionalSetDoc
    cut: frozenset[DataPath] = frozenset()

    def broken(self, where: DataPath = ()) -> frozenset[str]:
        """The fields cut out of the environment written at `where` (`()`, or `("sets", name)`)."""
        size = len(where)
        return frozenset(
            str(path[size])
            for path in self.cut
            if path[:size] == where and len(path) > size and not (path[size] == "apps" and len(path) > size + 1)
        )


def validate_document(document: Document, problems: ProblemList) -> CheckedDocument | None:
    """The document's sound part and model, or None; its problems are added to `problems`."""
    data = document.data
    if not isinstance(data, dict):
        hint = f"start it with `apiVersion: {API_VERSION}`"
        problems.add(document.marks.problem((), "a spec document must be a mapping", hint))
        return None
    check_names(document, problems)
    kind = data.get("kind")
    model = DOCUMENT_MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        message = "missing `kind`" if kind is None else f"unknown kind '{kind}'"
        hint = (
            closest_hint(str(kind), list(DOCUMENT_MODELS))
            if kind is not None
            else "use kind: Environment or FunctionalSet"
        )
        problems.add(document.marks.problem(("kind",) if "kind" in data else (), message, hint))
        return None
    functional = model is FunctionalSetDoc
    pruned = validate_pruned(
        model,
        data,
        document.marks,
        problems,
        unit=_set_unit if functional else _environment_unit,
        shell=_sets_shell if functional else _environment_shell,
    )
    if pruned.model is None:
        return None
    return CheckedDocument(
        Document(document.file, document.line, pruned.data, document.marks), pruned.model, pruned.cut
    )


def declared_environment(document: Document) -> dict[str, Mark]:
    """The complete environment a dropped document declares, if it names one: {name: where}."""
    data = document.data
    if not isinstance(data, dict) or data.get("kind") == Kind.FUNCTIONAL_SET or data.get("base") is not None:
        return {}
    name = data.get("name")
    return {name: document.marks.at(("name",))} if isinstance(name, str) else {}


def _environment_shell(data: Any) -> Any:
    """The environment with empty app entries: entries are validated one by one when it is built."""
    apps = data.get("apps") if isinstance(data, dict) else None
    if not isinstance(apps, dict):
        return data
    return {**data, "apps": dict.fromkeys(apps)}


def _sets_shell(data: Any) -> Any:
    sets = data.get("sets") if isinstance(data, dict) else None
    if not isinstance(sets, dict):
        return data
    return {**data, "sets": {name: _environment_shell(entry) for name, entry in sets.items()}}


def _environment_unit(path: DataPath) -> DataPath:
    """What a problem at `path` costs: its app entry (an invalid name), or the field it is in."""
    return path[:2] if path[:1] == ("apps",) else path[:1]


def _set_unit(path: DataPath) -> DataPath:
    if path[:1] == ("sets",) and len(path) > 2:
        return (*path[:2], *_environment_unit(path[2:]))
    return path[:2] if path[:1] == ("sets",) else path[:1]
