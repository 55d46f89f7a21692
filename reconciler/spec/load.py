"""Loading a spec tree (spec layer): files -> validated documents -> SpecSet, with every problem
found reported at once (file, line, field path, message, hint).

Which charts directory: `load_specs(root, charts_dir=...)` when given; else `<root>/../charts` if it
exists, else `<root>/charts`. A document may name its own with `charts: <dir>` (relative to its file).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.errors import ProblemList, SpecProblem
from reconciler.spec.documents import EnvironmentDoc, FunctionalSetDoc
from reconciler.spec.environments import build_environment, build_functional
from reconciler.spec.problems import closest_hint, raise_problems
from reconciler.spec.render import check_rendering
from reconciler.spec.rendered import forget_renderings
from reconciler.spec.source import MAX_FILE_BYTES, Document, Mark, forget_parsed, read_documents
from reconciler.spec.specset import RENDERING_FIELDS, EnvironmentSource, SpecSet
from reconciler.spec.validation import CheckedDocument, declared_environment, validate_document

SPEC_SUFFIXES = (".yaml", ".yml")
MAX_BYTES_VARIABLE = "RECONCILER_MAX_SPEC_BYTES"
# The last successful load of each tree: (files and their digests, what they gave).
_TREES_KEPT = 8
_LOADED: dict[tuple[str, str, int], tuple[tuple[tuple[str, str], ...], SpecSet]] = {}


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
    """The SpecSet of the tree at `root`; raises SpecError naming every problem found.

    A tree whose spec files have the same bytes as at the last successful load gives that load's
    SpecSet again (a controller re-reads an unchanged tree every cycle); a changed file is parsed again
    alone (see `read_documents`).
    """
    problems = ProblemList()
    if not root.exists():
        problems.add(SpecProblem(str(root), None, "", "no such file or folder", "give the spec folder, e.g. specs/"))
        problems.raise_if_any()
    charts = charts_dir if charts_dir is not None else default_charts_dir(root)
    try:
        files = spec_files(root, charts)
    except OSError as exc:  # a folder vanished while it was listed (a checkout being updated)
        hint = "if the tree is being updated (git pull), the next load retries"
        problems.add(SpecProblem(str(root), None, "", f"cannot list the spec folder: {exc}", hint))
        problems.raise_if_any()
    limit = max_file_bytes()
    key = (str(root), str(charts), limit)
    fingerprint = _fingerprint(files)
    loaded = _LOADED.get(key)
    if loaded is not None and fingerprint is not None and loaded[0] == fingerprint:
        return loaded[1]
    specset = _load(root, files, charts, limit, problems)
    if fingerprint is not None and _fingerprint(files) == fingerprint:  # not changed while it was read
        _LOADED.pop(key, None)
        _LOADED[key] = (fingerprint, specset)
        while len(_LOADED) > _TREES_KEPT:
            del _LOADED[next(iter(_LOADED))]  # the tree loaded longest ago
    return specset


def _load(root: Path, files: list[Path], charts: Path, limit: int, problems: ProblemList) -> SpecSet:
    documents: list[CheckedDocument] = []
    invalid: dict[str, Mark] = {}
    unparsed: list[str] = []  # the text of each file that did not parse: it may declare any environment
    for path in files:
        read = _read(path, problems, limit)
        if read is None:
            unparsed.append(_text(path, limit))
        for document in read or ():
            checked = validate_document(document, problems)
            if checked is not None:
                documents.append(checked)
            else:
                invalid.update(declared_environment(document))
    assembly = assemble(documents, charts, problems, invalid, unparsed=unparsed)
    if problems.items:  # the specs are invalid: find what rendering would find too, so one run reports all
        check_rendering(assembly.environments, assembly.shadowed, problems)
    elif not assembly.environments:
        problems.add(_nothing_declared(root, files))
    raise_problems(problems)
    return SpecSet(environments=assembly.environments, files=tuple(str(path) for path in files))


def _nothing_declared(root: Path, files: list[Path]) -> SpecProblem:
    """An empty tree is refused: a mistyped checkout path must not look like "nothing to run" (which
    `apply --prune` would act on)."""
    if not files:
        message = "no spec files (*.yaml, *.yml) in this folder"
        hint = "give the folder of the spec files (hidden files and the charts folder are not read)"
        return SpecProblem(str(root), None, "", message, hint)
    hint = "declare one: apiVersion: reconciler/v1, kind: Environment, name: <name>, apps: {...}"
    return SpecProblem(str(root), None, "", f"no environment is declared in the {len(files)} spec file(s)", hint)


def max_file_bytes() -> int:
    """The size limit of one spec file: RECONCILER_MAX_SPEC_BYTES, else MAX_FILE_BYTES (8 MiB)."""
    text = os.environ.get(MAX_BYTES_VARIABLE, "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else MAX_FILE_BYTES


def _fingerprint(files: list[Path]) -> tuple[tuple[str, str], ...] | None:
    """Each file with the digest of its bytes; None when one cannot be read (the load reports it)."""
    try:
        return tuple((str(path), hashlib.sha256(path.read_bytes()).hexdigest()) for path in files)
    except OSError:
        return None


def _text(path: Path, limit: int) -> str:
    try:
        with path.open("rb") as file:
            return file.read(limit).decode("utf-8", errors="replace")
    except OSError:
        return ""


def _read(path: Path, problems: ProblemList, limit: int) -> list[Document] | None:
    """The file's documents; None when it could not be read or parsed (its problems are added)."""
    found: list[SpecProblem] = []
    documents = read_documents(path, str(path), found, max_bytes=limit)
    for problem in found:
        problems.add(problem)
    return None if found and not documents else documents


@dataclass(frozen=True)
class Assembly:
    """The environments by name, and the later declarations of a name already taken (`shadowed`)."""

    environments: dict[str, EnvironmentSource]
    shadowed: list[EnvironmentSource]


def assemble(
    documents: list[CheckedDocument],
    charts_dir: Path,
    problems: ProblemList,
    invalid: Mapping[str, Mark] | None = None,
    *,
    unparsed: Sequence[str] = (),
) -> Assembly:
    """Complete environments first, then the functional ones over them (a base may be in any file).

    `invalid`: complete environments whose documents were dropped (their sets get no follow-on problem);
    `unparsed`: the texts of files that did not parse: a base named there may be declared there (its sets
    get no follow-on problem either).
    """
    complete: dict[str, EnvironmentSource] = {}
    shadowed: list[EnvironmentSource] = []
    for checked in documents:
        model, document = checked.model, checked.document
        if isinstance(model, EnvironmentDoc) and model.base is None:
            charts = _charts(document, model.charts, charts_dir)
            _add(complete, build_environment(document, model, charts, problems, checked.broken()), shadowed, problems)
    environments = dict(complete)
    bases = _Bases(complete, _functional_names(documents), invalid or {}, unparsed)
    for checked in documents:
        for functional in _functional(checked, bases, problems):
            _add(environments, functional, shadowed, problems)
    return Assembly(environments, shadowed)


@dataclass(frozen=True)
class _Bases:
    """What a functional set's `base` may name: complete environments, and what it must not."""

    complete: dict[str, EnvironmentSource]
    functional: set[str]
    invalid: Mapping[str, Mark]
    unparsed: Sequence[str] = ()

    def maybe_unparsed(self, name: str) -> bool:
        """Whether `name` is written in a file that did not parse (it may declare it)."""
        word = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")
        return name not in self.functional and any(word.search(text) for text in self.unparsed)


def _functional(checked: CheckedDocument, bases: _Bases, problems: ProblemList) -> list[EnvironmentSource]:
    model, document = checked.model, checked.document
    if isinstance(model, EnvironmentDoc):
        if model.base is None:
            return []
        sets: dict[str, Any] = {model.name: model}
        prefix: tuple[str, ...] = ()
    else:
        sets = dict(model.sets)
        prefix = ("sets",)
    base = bases.complete.get(model.base or "")
    if base is None and bases.maybe_unparsed(model.base or ""):
        return []  # its base may be in a file that did not parse: that file's problem says it all
    if base is None or "apps" in base.broken:
        problems.add(_missing_base(document, model.base or "", bases))
        return []
    charts = _charts(document, model.charts, base.charts_dir)
    shared = checked.broken() & RENDERING_FIELDS if prefix else frozenset()  # the set document's own `charts`
    built = []
    for name, entry in sets.items():
        broken = checked.broken((*prefix, name) if prefix else ()) | shared
        built.append(build_functional(document, prefix, name, entry, base, charts, problems, broken))
    return built


_INVALID_BASE_HINT = "fix the base environment's problems: the sets over it are checked once it loads"


def _missing_base(document: Document, base: str, bases: _Bases) -> SpecProblem:
    if base in bases.complete:  # its `apps` is broken: the sets cannot be laid over it
        message = f"base environment '{base}' is invalid (see its problems at {bases.complete[base].mark.where})"
        return document.marks.problem(("base",), message, _INVALID_BASE_HINT)
    if base in bases.functional:
        message = f"base environment '{base}' is itself a functional environment"
        return document.marks.problem(("base",), message, "a base must be a complete environment, e.g. integration")
    if base in bases.invalid:
        message = f"base environment '{base}' is invalid (see its problems at {bases.invalid[base].where})"
        return document.marks.problem(("base",), message, _INVALID_BASE_HINT)
    complete = list(bases.complete)
    hint = (
        closest_hint(base, complete).replace("known keys here", "complete environments")
        if complete
        else "declare the base environment (kind: Environment)"
    )
    return document.marks.problem(("base",), f"base environment '{base}' does not exist", hint)


def _functional_names(documents: list[CheckedDocument]) -> set[str]:
    names: set[str] = set()
    for model in (checked.model for checked in documents):
        if isinstance(model, FunctionalSetDoc):
            names |= set(model.sets)
        elif model.base is not None:
            names.add(model.name)
    return names


def _add(
    environments: dict[str, EnvironmentSource],
    environment: EnvironmentSource,
    shadowed: list[EnvironmentSource],
    problems: ProblemList,
) -> None:
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
        shadowed.append(environment)
        return
    environments[environment.name] = environment


def _charts(document: Document, named: str | None, default: Path) -> Path:
    return (Path(document.file).parent / named) if named else default


def forget_loaded() -> None:
    """Drops every cached load, parse and rendering (benchmarks and tests measure a cold load with it)."""
    _LOADED.clear()
    forget_parsed()
    forget_renderings()
