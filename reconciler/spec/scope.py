"""Why `--env X` still fails on another environment's problems (spec layer).

A spec tree is one commit, and the controller applies a commit whole or not at all: a plan of X alone
from a tree that does not load would show a state that never runs. So `--env X` keeps failing on any
problem of the tree, and says which environment is broken (file:line) and why X does not skip it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from reconciler.errors import SpecError, SpecProblem
from reconciler.spec.source import Document, read_documents

_SET_FIELD = re.compile(r"sets\.([^.\[\]]+)")
_RENDERED_APP = re.compile(r"([a-z0-9][a-z0-9.-]*)/[a-z0-9][a-z0-9.-]*")  # a chart problem names `env/app`


@contextlib.contextmanager
def env_scope(env: str | None) -> Iterator[None]:
    """Re-raises a SpecError of the block with a hint naming the other environments it is about, when
    `env` is given and some problem is not `env`'s own."""
    try:
        yield
    except SpecError as exc:
        hint = None if env is None or exc.hint else scope_hint(exc.problems, env)
        if hint is None:
            raise
        raise SpecError(exc.problems, hint=hint) from None


def scope_hint(problems: Sequence[SpecProblem], env: str) -> str | None:
    """The words on the problems not in `env`, or None when every one is `env`'s own."""
    elsewhere: dict[str, list[str]] = {}
    for problem in problems:
        where = f"{problem.file}:{problem.line}" if problem.line else problem.file
        for label in _labels(problem, env):
            elsewhere.setdefault(label, []).append(where)
    if not elsewhere:
        return None
    broken = ", ".join(f"{what} ({_places(wheres)})" for what, wheres in elsewhere.items())
    return (f"--env {env} does not skip {broken}: the controller applies a commit whole, never one environment of"
            f" a tree that does not load, so {env} alone would show a state that never runs; fix the problems"
            " above (`reconciler validate` lists them all)")


def _labels(problem: SpecProblem, env: str) -> list[str]:
    """What the problem breaks besides `env`: other environments, or a file that may declare any; nothing
    for `env`'s own problems and for those that cannot be placed (a chart's file: its line says where)."""
    owners = environments_of(problem)
    if owners is None:
        return ["a file that does not load (it may declare any environment)"] if _unparsed(problem) else []
    return [] if env in owners else [f"environment {name}" for name in sorted(owners)]


def _places(wheres: list[str]) -> str:
    more = len(wheres) - 1
    return wheres[0] + (f" and {more} more problem{'s' if more > 1 else ''}" if more else "")


def environments_of(problem: SpecProblem) -> frozenset[str] | None:
    """The environments a problem is about; None when that cannot be told (a file that does not parse)."""
    in_set = _SET_FIELD.match(problem.field)
    if in_set:
        return frozenset({in_set.group(1)})
    rendered = _RENDERED_APP.fullmatch(problem.field)
    if rendered:
        return frozenset({rendered.group(1)})
    document = _document_at(problem)
    return _declared(document.data) if document is not None else None


def _unparsed(problem: SpecProblem) -> bool:
    """Whether the problem's file is a spec file that gives no document (bad YAML, not UTF-8, too big)."""
    path = Path(problem.file)
    if not path.name.endswith((".yaml", ".yml")) or _in_chart(path):
        return False
    found: list[SpecProblem] = []
    return not read_documents(path, problem.file, found) and bool(found)


def _in_chart(path: Path) -> bool:
    """A chart's own file (Chart.yaml, values.yaml, a template): it serves whichever environments use it."""
    return any((folder / "Chart.yaml").is_file() for folder in (path.parent, path.parent.parent))


def _document_at(problem: SpecProblem) -> Document | None:
    """The spec document the problem's line lies in (a file read before is not parsed again)."""
    if problem.line is None:
        return None
    documents = read_documents(Path(problem.file), problem.file, [])
    before = [document for document in documents if document.line <= problem.line]
    return before[-1] if before else None


def _declared(data: object) -> frozenset[str] | None:
    """The environments a document declares: its `name`, or the names of its `sets`."""
    if not isinstance(data, dict):
        return None
    if data.get("kind") == "Environment" and isinstance(data.get("name"), str):
        return frozenset({data["name"]})
    if data.get("kind") == "FunctionalSet" and isinstance(data.get("sets"), dict):
        return frozenset(str(name) for name in data["sets"])
    return None
