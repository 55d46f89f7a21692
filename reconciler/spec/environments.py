"""Building environments from validated documents (spec layer): a complete Environment as written,
and a functional environment as overrides over its base (it runs only the apps it lists; each is
the base's app of that name deep-merged with the override, or a new app).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from reconciler.core.naming import group_of, segment_problem
from reconciler.errors import ProblemList
from reconciler.spec.documents import AppEntry, Approval, ConcreteApp, EnvironmentDoc, FunctionalEnvSpec
from reconciler.spec.overlay import deep_merge, merge_marks
from reconciler.spec.prune import validate_pruned
from reconciler.spec.source import DataPath, Document
from reconciler.spec.specset import RENDERING_FIELDS, WHOLE_APP, AppSource, EnvironmentSource


def build_environment(
    document: Document,
    model: EnvironmentDoc,
    charts_dir: Path,
    problems: ProblemList,
    broken: frozenset[str] = frozenset(),
) -> EnvironmentSource:
    """A complete environment from its Environment document (`broken`: its fields cut out for problems)."""
    data: dict[str, Any] = document.data
    return EnvironmentSource(
        name=model.name,
        group=model.group or group_of(model.name),
        apps=_apps(document, ("apps",), data.get("apps") or {}, problems),
        mark=document.marks.at(("name",)),
        charts_dir=charts_dir,
        approval_required=model.approval == Approval.REQUIRED,
        values=data.get("values") or {},
        values_marks=document.marks.below(("values",)),
        dns=model.dns,
        group_mark=document.marks.written(("group",)),
        broken=broken,
    )


def build_functional(
    document: Document,
    prefix: DataPath,
    name: str,
    model: EnvironmentDoc | FunctionalEnvSpec | None,
    base: EnvironmentSource,
    charts_dir: Path,
    problems: ProblemList,
    broken: frozenset[str] = frozenset(),
) -> EnvironmentSource:
    """A functional environment: written at `prefix + (name,)` in a FunctionalSet, at the root of an Environment."""
    where: DataPath = (*prefix, name) if prefix else ()
    raw = _at(document.data, where)
    overrides = _apps(document, (*where, "apps"), raw.get("apps") or {}, problems)
    values = raw.get("values") or {}
    return EnvironmentSource(
        name=name,
        group=(model.group if model else None) or group_of(name),
        apps={app: _over_base(override, base) for app, override in overrides.items()},
        mark=document.marks.at(where if prefix else ("name",)),
        charts_dir=charts_dir,
        base=base.name,
        approval_required=bool(model and model.approval == Approval.REQUIRED),
        values=deep_merge(base.values, values),
        values_marks=merge_marks(base.values_marks, document.marks.below((*where, "values")), values),
        dns=(model.dns if model else None) or base.dns,
        group_mark=document.marks.written((*where, "group")),
        broken=broken | (base.broken & RENDERING_FIELDS),
    )


def _over_base(override: AppSource, base: EnvironmentSource) -> AppSource:
    base_app = base.apps.get(override.name)
    if base_app is None:
        return override
    return AppSource(
        name=override.name,
        data=deep_merge(base_app.data, override.data),
        marks=merge_marks(base_app.marks, override.marks, override.data),
        mark=override.mark,
        broken=base_app.broken | override.broken,
    )


def _apps(document: Document, where: DataPath, apps: dict[str, Any], problems: ProblemList) -> dict[str, AppSource]:
    """The app entries, each validated on its own: a broken field costs only that field (see prune)."""
    sources = {}
    for name, entry in apps.items():
        marks = document.marks.below((*where, name))
        concrete = inline_app(entry)
        if concrete is not None:
            sources[name] = AppSource(name, entry, marks, document.marks.at((*where, name)), concrete=concrete)
            continue
        pruned = validate_pruned(AppEntry, {} if entry is None else entry, marks, problems)
        sound = pruned.model is not None
        sources[name] = AppSource(
            name=name,
            data=pruned.data if sound else {},
            marks=marks,
            mark=document.marks.at((*where, name)),
            broken=pruned.cut_keys if sound else frozenset({WHOLE_APP}),
        )
    return sources


def inline_app(entry: Any) -> ConcreteApp | None:
    """The concrete app of an inline entry that is valid as written; None for any other entry (a chart
    entry, or one with problems: the entry's own validation then reports them, as AppEntry)."""
    if not isinstance(entry, dict) or "chart" in entry or "values" in entry:
        return None
    try:
        return ConcreteApp.model_validate(entry)
    except ValidationError:
        return None


def _at(data: Any, path: DataPath) -> dict[str, Any]:
    for part in path:
        data = data.get(part) if isinstance(data, dict) else None
    return data if isinstance(data, dict) else {}


def check_names(document: Document, problems: ProblemList) -> None:
    """Environment, group and app names must be valid Marathon id segments (no reserved words).

    Checked on the raw document, so that a name problem is reported even when other fields are invalid.
    """
    data = document.data
    if data.get("kind") == "FunctionalSet":
        sets = data.get("sets")
        for name, entry in sets.items() if isinstance(sets, dict) else ():
            _check_environment(document, ("sets", name), name, entry if isinstance(entry, dict) else {}, problems)
    else:
        _check_environment(document, (), data.get("name"), data, problems)


def _check_environment(
    document: Document, where: DataPath, name: Any, data: dict[str, Any], problems: ProblemList
) -> None:
    marks = document.marks
    problem = segment_problem(name) if isinstance(name, str) else None
    if problem:
        problems.add(marks.problem(where or ("name",), f"environment name: {problem}", "rename the environment"))
    group = data.get("group")
    group_problem = _group_problem(group) if isinstance(group, str) else None
    if group_problem:
        problems.add(marks.problem((*where, "group"), group_problem, "use an absolute group like /team/env"))
    apps = data.get("apps")
    for app in apps if isinstance(apps, dict) else ():
        problem = segment_problem(app) if isinstance(app, str) else "an app name must be a string"
        if problem:
            problems.add(marks.problem((*where, "apps", app), f"app name: {problem}", "rename the app"))


def _group_problem(group: str) -> str | None:
    """Marathon normalises `//a`, `/a/` and `/a/./b` to other ids than the one written, so the group
    would never be found again as written: each segment between single slashes must be valid."""
    if not group.startswith("/") or group == "/":
        return f"'{group}' is not an absolute Marathon group id"
    for segment in group[1:].split("/"):
        if not segment:
            return f"'{group}' has an empty segment (a doubled or trailing '/')"
        problem = segment_problem(segment)
        if problem:
            return problem
    return None
