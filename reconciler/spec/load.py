"""Loading a spec tree (spec layer): files -> validated documents -> SpecSet, with every problem
found reported at once (file, line, field path, message, hint).

Which charts directory: `load_specs(root, charts_dir=...)` when given; else `<root>/../charts` if it
exists, else `<root>/charts`. A document may name its own with `charts: <dir>` (relative to its file).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from reconciler.errors import ProblemList, SpecProblem
from reconciler.spec.documents import API_VERSION, DOCUMENT_MODELS, EnvironmentDoc, FunctionalSetDoc, Kind
from reconciler.spec.environments import build_environment, build_functional, check_names
from reconciler.spec.problems import closest_hint, validation_problems
from reconciler.spec.source import Document, Mark, read_documents
from reconciler.spec.specset import EnvironmentSource, SpecSet

SPEC_SUFFIXES = (".yaml", ".yml")


def default_charts_dir(root: Path) -> Path:
    """`<root>/../charts` if it exists, else `<root>/charts` (root: the spec folder, or a file's folder)."""
    folder = root if root.is_dir() else root.parent
    beside = folder.parent / "charts"
    return beside if beside.is_dir() else folder / "charts"


def spec_files(root: Path, charts_dir: Path) -> list[Path]:
    """The spec files under `root` (or `root` itself), sorted; hidden paths and charts are skipped."""
    if root.is_file():
        return [root]
    found = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.suffix not in SPEC_SUFFIXES or not path.is_file():
            continue
        if any(part.startswith(".") for part in relative.parts) or _inside(path, charts_dir):
            continue
        found.append(path)
    return found


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def load_specs(root: Path, *, charts_dir: Path | None = None) -> SpecSet:
    """The SpecSet of the tree at `root`; raises SpecError naming every problem found."""
    problems = ProblemList()
    if not root.exists():
        problems.add(SpecProblem(str(root), None, "", "no such file or folder", "give the spec folder, e.g. specs/"))
        problems.raise_if_any()
    charts = charts_dir if charts_dir is not None else default_charts_dir(root)
    files = spec_files(root, charts)
    documents: list[tuple[Document, EnvironmentDoc | FunctionalSetDoc]] = []
    invalid: dict[str, Mark] = {}
    for path in files:
        for document in _read(path, problems):
            model = validate_document(document, problems)
            if model is not None:
                documents.append((document, model))
            else:
                invalid.update(_declared_environment(document))
    environments = assemble(documents, charts, problems, invalid)
    problems.raise_if_any()
    return SpecSet(environments=environments, files=tuple(str(path) for path in files))


def _read(path: Path, problems: ProblemList) -> list[Document]:
    found: list[SpecProblem] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ruamel's warnings (reused anchors) are not spec errors
        documents = read_documents(path, str(path), found)
    for problem in found:
        problems.add(problem)
    return documents


def validate_document(document: Document, problems: ProblemList) -> EnvironmentDoc | FunctionalSetDoc | None:
    """The document's model, or None after adding its problems."""
    data = document.data
    if not isinstance(data, dict):
        problems.add(
            document.marks.problem(
                (), "a spec document must be a mapping", f"start it with `apiVersion: {API_VERSION}`"
            )
        )
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
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for problem in validation_problems(exc, model, data, document.marks):
            problems.add(problem)
        return None


def _declared_environment(document: Document) -> dict[str, Mark]:
    """The complete environment an invalid document declares, if it names one: {name: where}."""
    data = document.data
    if not isinstance(data, dict) or data.get("kind") == Kind.FUNCTIONAL_SET or data.get("base") is not None:
        return {}
    name = data.get("name")
    return {name: document.marks.at(("name",))} if isinstance(name, str) else {}


def assemble(
    documents: list[tuple[Document, EnvironmentDoc | FunctionalSetDoc]],
    charts_dir: Path,
    problems: ProblemList,
    invalid: Mapping[str, Mark] | None = None,
) -> dict[str, EnvironmentSource]:
    """Complete environments first, then the functional ones over them (a base may be in any file).

    `invalid`: complete environments whose documents are invalid (their sets get no follow-on problem).
    """
    complete: dict[str, EnvironmentSource] = {}
    for document, model in documents:
        if isinstance(model, EnvironmentDoc) and model.base is None:
            _add(
                complete,
                build_environment(document, model, _charts(document, model.charts, charts_dir)),
                problems,
            )
    environments = dict(complete)
    bases = _Bases(complete, _functional_names(documents), invalid or {})
    for document, model in documents:
        for functional in _functional(document, model, bases, charts_dir, problems):
            _add(environments, functional, problems)
    return environments


@dataclass(frozen=True)
class _Bases:
    """What a functional set's `base` may name: complete environments, and what it must not."""

    complete: dict[str, EnvironmentSource]
    functional: set[str]
    invalid: Mapping[str, Mark]


def _functional(
    document: Document,
    model: EnvironmentDoc | FunctionalSetDoc,
    bases: _Bases,
    charts_dir: Path,
    problems: ProblemList,
) -> list[EnvironmentSource]:
    if isinstance(model, EnvironmentDoc):
        if model.base is None:
            return []
        sets: dict[str, Any] = {model.name: model}
        prefix: tuple[str, ...] = ()
    else:
        sets = dict(model.sets)
        prefix = ("sets",)
    base = bases.complete.get(model.base or "")
    if base is None:
        problems.add(_missing_base(document, model.base or "", bases))
        return []
    charts = _charts(document, model.charts, base.charts_dir)
    return [build_functional(document, prefix, name, entry, base, charts) for name, entry in sets.items()]


def _missing_base(document: Document, base: str, bases: _Bases) -> SpecProblem:
    if base in bases.functional:
        message = f"base environment '{base}' is itself a functional environment"
        return document.marks.problem(("base",), message, "a base must be a complete environment, e.g. integration")
    if base in bases.invalid:
        message = f"base environment '{base}' is invalid (see its problems at {bases.invalid[base].where})"
        hint = "fix the base environment's problems: the sets over it are checked once it loads"
        return document.marks.problem(("base",), message, hint)
    complete = list(bases.complete)
    hint = closest_hint(base, complete) if complete else "declare the base environment (kind: Environment)"
    return document.marks.problem(("base",), f"base environment '{base}' does not exist", hint)


def _functional_names(documents: list[tuple[Document, EnvironmentDoc | FunctionalSetDoc]]) -> set[str]:
    names: set[str] = set()
    for _, model in documents:
        if isinstance(model, FunctionalSetDoc):
            names |= set(model.sets)
        elif model.base is not None:
            names.add(model.name)
    return names


def _add(environments: dict[str, EnvironmentSource], environment: EnvironmentSource, problems: ProblemList) -> None:
    first = environments.get(environment.name)
    if first is not None:
        message = f"environment '{environment.name}' is declared twice"
        problems.add(
            SpecProblem(
                environment.mark.file,
                environment.mark.line,
                environment.mark.path,
                message,
                f"the first is at {first.mark.where}: rename or merge one",
            )
        )
        return
    environments[environment.name] = environment


def _charts(document: Document, named: str | None, default: Path) -> Path:
    return (Path(document.file).parent / named) if named else default
