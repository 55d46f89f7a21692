"""From app entries to concrete apps (spec layer): a chart entry renders its chart with merged values
(chart defaults < environment values < app values) and lays the entry's inline fields over every app
the chart renders; an inline entry is its own concrete app. Names: the entry's key, or
`<key>-<suffix>` for each app a chart renders with `suffix:` (charts that render several apps).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.core.naming import segment_problem
from reconciler.errors import ProblemList, SpecProblem
from reconciler.spec.chart_schema import SCHEMA_FILE, ValuesLayer, schema_problems
from reconciler.spec.chart_values import unknown_value_problems
from reconciler.spec.charts import Chart, ChartShelf, display, render_chart
from reconciler.spec.documents import AppEntry, ConcreteApp
from reconciler.spec.overlay import deep_merge, merge_marks
from reconciler.spec.prune import validate_pruned
from reconciler.spec.rules import app_problems
from reconciler.spec.source import Document, Marks
from reconciler.spec.specset import RENDERING_FIELDS, WHOLE_APP, AppSource, EnvironmentSource

ENTRY_ONLY_KEYS = ("chart", "values")


@dataclass(frozen=True)
class ConcreteEntry:
    """One concrete app of an environment, with the marks of its fields and the entry it came from
    (`broken`: its fields cut out for problems)."""

    name: str
    app: ConcreteApp
    marks: Marks
    source: AppSource
    broken: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Expansion:
    """The concrete apps of an environment, and the entries whose apps could not all be worked out
    (`unresolved`: they have problems of their own; a dependency on them is no further problem).
    """

    apps: dict[str, ConcreteEntry]
    unresolved: dict[str, AppSource] = field(default_factory=dict)

    def may_run(self, name: str) -> bool:
        """Whether `name` is an app here, or may be one of an unresolved entry (`<key>` or `<key>-<suffix>`)."""
        return name in self.apps or any(name == key or name.startswith(f"{key}-") for key in self.unresolved)


def expand_environment(environment: EnvironmentSource, shelf: ChartShelf, problems: ProblemList) -> Expansion:
    """Every concrete app of `environment`, by name; duplicates and invalid apps become problems."""
    result: dict[str, ConcreteEntry] = {}
    unresolved: dict[str, AppSource] = {}
    for source in environment.apps.values():
        if source.concrete is not None and source.name not in result:
            result[source.name] = _checked(source.name, source.concrete, source.marks, source, frozenset(), problems)
            continue
        rendered, complete = _expand_entry(source, environment, shelf, problems)
        if not complete:
            unresolved[source.name] = source
        for name, data, marks in rendered:
            if name in result:
                problems.add(_twice(name, environment.name, result[name].source.mark.where, marks))
                continue
            entry = _concrete(name, data, marks, source, problems)
            if entry is None:
                unresolved[name] = source
            else:
                result[name] = entry
    return Expansion(result, unresolved)


def _twice(name: str, environment: str, first: str, marks: Marks) -> SpecProblem:
    hint = f"the first is from {first}: give each a distinct name or `suffix`"
    if Path(marks.at(()).file).parent.name == "templates":  # most likely a file written to be included
        hint += "; a template only meant for {% include %} is named `_name.yaml` (or kept in a subfolder)"
    return marks.problem((), f"app '{name}' is defined twice in environment '{environment}'", hint)


def _concrete(
    name: str, data: dict[str, Any], marks: Marks, source: AppSource, problems: ProblemList
) -> ConcreteEntry | None:
    """The concrete app, without the fields that have problems; its rules checked on what is left."""
    pruned = validate_pruned(ConcreteApp, data, marks, problems)
    if pruned.model is None:
        return None
    return _checked(name, pruned.model, marks, source, pruned.cut_keys, problems)


def _checked(
    name: str, app: ConcreteApp, marks: Marks, source: AppSource, cut: frozenset[str], problems: ProblemList
) -> ConcreteEntry:
    """The concrete entry, its rules checked on the fields that are not cut out for problems."""
    broken = source.broken | cut
    for problem in app_problems(app, marks, source.mark, broken):
        problems.add(problem)
    return ConcreteEntry(name, app, marks, source, broken)


Rendered = list[tuple[str, dict[str, Any], Marks]]


def _expand_entry(
    source: AppSource, environment: EnvironmentSource, shelf: ChartShelf, problems: ProblemList
) -> tuple[Rendered, bool]:
    """The entry's apps (name, data, marks), and whether that is all of them (False after problems)."""
    if WHOLE_APP in source.broken or source.broken & set(ENTRY_ONLY_KEYS):
        return [], False  # its problems are reported: rendering it would only add follow-ons
    pruned = validate_pruned(AppEntry, source.data, source.marks, problems)
    entry = pruned.model
    if entry is None or pruned.cut_keys & set(ENTRY_ONLY_KEYS):
        return [], False
    inline = {key: value for key, value in pruned.data.items() if key not in ENTRY_ONLY_KEYS}
    if entry.chart is None:
        if entry.values is not None:
            hint = "values feed a chart: add `chart: <name>` or remove `values`"
            problems.add(source.marks.problem(("values",), "`values` without `chart`", hint))
        return [(source.name, inline, source.marks)], True
    if "charts" in environment.broken:
        return [], False  # which folder holds the chart is not known
    chart = shelf.get(environment.charts_dir, entry.chart, Marks({(): source.marks.at(("chart",))}))
    if chart is None:
        return [], False
    values_file = display(chart.folder / "values.yaml")
    for problem in unknown_value_problems(chart.name, values_file, chart.value_names, entry.values or {}, source.marks):
        problems.add(problem)
    if environment.broken & RENDERING_FIELDS:
        return [], False  # without the environment's values, rendering would only add follow-ons
    return _render_entry(source, environment, chart, entry.values or {}, inline, problems, shelf)


def _schema_refuses(
    chart: Chart, merged: dict[str, Any], source: AppSource, environment: EnvironmentSource, problems: ProblemList,
    accepted: set[str],
) -> bool:
    """Whether the chart's values.schema.json refuses the merged values (each refusal is a problem);
    `accepted`: the values it accepted before in this load, which are not validated again."""
    if chart.values_schema is None:
        return False
    # 1, 1.0 and true are written apart, as the schema tells them apart; repr for what JSON lacks (a date).
    key = json.dumps(merged, sort_keys=True, default=repr)
    if key in accepted:
        return False
    layers = (
        ValuesLayer(source.data.get("values") or {}, source.marks, ("values",)),
        ValuesLayer(environment.values, environment.values_marks),
        ValuesLayer(chart.defaults, chart.defaults_marks),
    )
    refused = schema_problems(chart.values_schema, merged, layers, chart.name, display(chart.folder / SCHEMA_FILE))
    for problem in refused:
        problems.add(problem)
    if not refused:
        accepted.add(key)
    return bool(refused)


def _render_entry(
    source: AppSource,
    environment: EnvironmentSource,
    chart: Chart,
    values: dict[str, Any],
    inline: dict[str, Any],
    problems: ProblemList,
    shelf: ChartShelf,
) -> tuple[Rendered, bool]:
    """The apps `chart` renders for this entry, each with the entry's inline fields laid over it."""
    merged = deep_merge(deep_merge(chart.defaults, environment.values), values)
    if _schema_refuses(chart, merged, source, environment, problems, shelf.accepted(chart)):
        return [], False  # what the template makes of a refused value would only add follow-ons
    context = {
        "values": merged,
        "app": source.name,
        "env": environment.name,
        "environment": {"name": environment.name, "group": environment.group, "base": environment.base},
        "chart": {"name": chart.meta.name, "version": chart.meta.version},
    }
    rendered = []
    origin = f"{environment.name}/{source.name}"
    documents, complete = render_chart(chart, context, problems, origin, shelf.environment(chart), shelf.memo(chart))
    for document in documents:
        apps, every = _rendered_apps(document, f"chart '{chart.name}' for app '{origin}'", problems)
        complete = complete and every
        for data, marks in apps:
            name = _rendered_name(source.name, data, marks, problems)
            complete = complete and name is not None
            if name is not None:
                # the app itself is where the template wrote it
                merged_marks = merge_marks(marks, source.marks, inline).with_mark(marks.at(()))
                rendered.append((name, deep_merge(data, inline), merged_marks))
    return rendered, complete


def _rendered_apps(
    document: Document, rendering: str, problems: ProblemList
) -> tuple[list[tuple[dict[str, Any], Marks]], bool]:
    """The app mappings of one rendered document (a mapping is one app, a list several), and whether
    every item was one (an empty list is a problem: a chart never makes an app vanish)."""
    items = document.data if isinstance(document.data, list) else [document.data]
    marks = (
        [document.marks.below((index,)) for index in range(len(items))]
        if isinstance(document.data, list)
        else [document.marks]
    )
    if not items:
        message = f"rendered template of {rendering}: an empty list, no app"
        problems.add(document.marks.problem((), message, "render one app as `key: value` lines, or a list of them"))
        return [], False
    apps = []
    for data, item_marks in zip(items, marks, strict=True):
        if isinstance(data, dict):
            apps.append((data, item_marks))
        else:
            message = f"rendered template of {rendering}: an app must be a mapping, not {type(data).__name__}"
            problems.add(item_marks.problem((), message, "render `key: value` lines"))
    return apps, len(apps) == len(items)


def _rendered_name(key: str, data: dict[str, Any], marks: Marks, problems: ProblemList) -> str | None:
    suffix = data.pop("suffix", None)
    if suffix is None:
        return key
    name = f"{key}-{suffix}"
    problem = segment_problem(name) if isinstance(suffix, str) and suffix else "a suffix is a non-empty string"
    if problem:
        problems.add(
            marks.problem(("suffix",), f"rendered template: suffix: {problem}", "use lowercase letters, digits and '-'")
        )
        return None
    return name
