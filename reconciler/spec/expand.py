"""From app entries to concrete apps (spec layer): a chart entry renders its chart with merged values
(chart defaults < environment values < app values) and lays the entry's inline fields over every app
the chart renders; an inline entry is its own concrete app. Names: the entry's key, or
`<key>-<suffix>` for each app a chart renders with `suffix:` (charts that render several apps).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from reconciler.core.naming import segment_problem
from reconciler.errors import ProblemList
from reconciler.spec.charts import Chart, ChartShelf, render_chart
from reconciler.spec.documents import AppEntry, ConcreteApp
from reconciler.spec.overlay import deep_merge, merge_marks
from reconciler.spec.problems import validation_problems
from reconciler.spec.rules import app_problems
from reconciler.spec.source import Document, Marks
from reconciler.spec.specset import AppSource, EnvironmentSource

ENTRY_ONLY_KEYS = ("chart", "values")


@dataclass(frozen=True)
class ConcreteEntry:
    """One concrete app of an environment, with the marks of its fields and the entry it came from."""

    name: str
    app: ConcreteApp
    marks: Marks
    source: AppSource


def expand_environment(
    environment: EnvironmentSource, shelf: ChartShelf, problems: ProblemList
) -> dict[str, ConcreteEntry]:
    """Every concrete app of `environment`, by name; duplicates and invalid apps become problems."""
    result: dict[str, ConcreteEntry] = {}
    for source in environment.apps.values():
        for name, data, marks in _expand_entry(source, environment, shelf, problems):
            if name in result:
                first = result[name].source.mark.where
                problems.add(
                    marks.problem(
                        (),
                        f"app '{name}' is defined twice in environment '{environment.name}'",
                        f"the first is from {first}: give each a distinct name or `suffix`",
                    )
                )
                continue
            app = _validate(data, marks, problems)
            if app is not None:
                for problem in app_problems(app, marks, source.mark):
                    problems.add(problem)
                result[name] = ConcreteEntry(name, app, marks, source)
    return result


def _validate(data: dict[str, Any], marks: Marks, problems: ProblemList) -> ConcreteApp | None:
    try:
        return ConcreteApp.model_validate(data)
    except ValidationError as exc:
        for problem in validation_problems(exc, ConcreteApp, data, marks):
            problems.add(problem)
        return None


def _expand_entry(
    source: AppSource, environment: EnvironmentSource, shelf: ChartShelf, problems: ProblemList
) -> list[tuple[str, dict[str, Any], Marks]]:
    try:
        entry = AppEntry.model_validate(source.data)
    except ValidationError as exc:
        for problem in validation_problems(exc, AppEntry, source.data, source.marks):
            problems.add(problem)
        return []
    inline = {key: value for key, value in source.data.items() if key not in ENTRY_ONLY_KEYS}
    if entry.chart is None:
        if entry.values is not None:
            hint = "values feed a chart: add `chart: <name>` or remove `values`"
            problems.add(source.marks.problem(("values",), "`values` without `chart`", hint))
        return [(source.name, inline, source.marks)]
    chart = shelf.get(environment.charts_dir, entry.chart, Marks({(): source.marks.at(("chart",))}))
    if chart is None:
        return []
    return _render_entry(source, environment, chart, entry.values or {}, inline, problems)


def _render_entry(
    source: AppSource,
    environment: EnvironmentSource,
    chart: Chart,
    values: dict[str, Any],
    inline: dict[str, Any],
    problems: ProblemList,
) -> list[tuple[str, dict[str, Any], Marks]]:
    """The apps `chart` renders for this entry, each with the entry's inline fields laid over it."""
    context = {
        "values": deep_merge(deep_merge(chart.defaults, environment.values), values),
        "app": source.name,
        "env": environment.name,
        "environment": {"name": environment.name, "group": environment.group, "base": environment.base},
        "chart": {"name": chart.meta.name, "version": chart.meta.version},
    }
    rendered = []
    for document in render_chart(chart, context, problems, f"{environment.name}/{source.name}"):
        for data, marks in _rendered_apps(document, problems):
            name = _rendered_name(source.name, data, marks, problems)
            if name is not None:
                merged_marks = merge_marks(marks, source.marks, inline)
                merged_marks.table[()] = marks.at(())  # the app itself is where the template wrote it
                rendered.append((name, deep_merge(data, inline), merged_marks))
    return rendered


def _rendered_apps(document: Document, problems: ProblemList) -> list[tuple[dict[str, Any], Marks]]:
    """The app mappings of one rendered document: a mapping is one app, a list several."""
    items = document.data if isinstance(document.data, list) else [document.data]
    marks = (
        [document.marks.below((index,)) for index in range(len(items))]
        if isinstance(document.data, list)
        else [document.marks]
    )
    apps = []
    for data, item_marks in zip(items, marks, strict=True):
        if isinstance(data, dict):
            apps.append((data, item_marks))
        else:
            problems.add(
                item_marks.problem((), "rendered template: an app must be a mapping", "render `key: value` lines")
            )
    return apps


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
