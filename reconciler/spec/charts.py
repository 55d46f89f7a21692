"""Charts (spec layer): `charts/<name>/` with Chart.yaml, values.yaml (defaults) and templates/*.yaml.

Templates are rendered with Jinja2 (sandboxed; StrictUndefined, so an undefined value is an error
naming the template file and line; filters `json` and `merge` besides the built-ins). Each rendered
template is YAML of one app, or a list (or several documents) of apps.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from pydantic import ValidationError

from reconciler.errors import ProblemList, SpecProblem
from reconciler.spec.chart_values import known_values
from reconciler.spec.documents import ChartMeta
from reconciler.spec.overlay import deep_merge
from reconciler.spec.problems import closest_hint, validation_problems
from reconciler.spec.source import Document, Marks, parse_documents, read_documents

_UNDEFINED_NAME = re.compile(r"has no attribute '([^']+)'|'([^']+)' is undefined")


def display(path: Path) -> str:
    """A path as problems show it (`specs/../charts/x` reads better as `charts/x`)."""
    return os.path.normpath(str(path))


@dataclass(frozen=True)
class Chart:
    name: str
    folder: Path
    meta: ChartMeta
    defaults: dict[str, Any]
    templates: tuple[Path, ...]
    value_names: frozenset[str] | None = None  # declared or read by a template (None: any may be read)


class ChartShelf:
    """The charts used by one load, each read once; missing or broken charts become problems."""

    def __init__(self, problems: ProblemList) -> None:
        self._problems = problems
        self._charts: dict[Path, Chart | None] = {}

    def get(self, charts_dir: Path, name: str, where: Marks) -> Chart | None:
        """The chart `name` in `charts_dir`; `where` marks the `chart:` reference for problems."""
        folder = charts_dir / name
        if not (folder / "Chart.yaml").is_file():
            self._problems.add(
                where.problem(
                    (), f"unknown chart '{name}' (no {display(folder / 'Chart.yaml')})", _chart_hint(charts_dir, name)
                )
            )
            return None
        if folder not in self._charts:
            self._charts[folder] = read_chart(folder, self._problems)
        return self._charts[folder]


def _chart_hint(charts_dir: Path, name: str) -> str:
    known = (
        sorted(path.name for path in charts_dir.iterdir() if (path / "Chart.yaml").is_file())
        if charts_dir.is_dir()
        else []
    )
    if not known:
        return f"no charts in {display(charts_dir)}: pass --charts DIR or add `charts: <dir>` to the document"
    return closest_hint(name, known).replace("known keys here", "charts")


def read_chart(folder: Path, problems: ProblemList) -> Chart | None:
    found: list[SpecProblem] = []
    meta = _meta(folder, found)
    defaults = _defaults(folder, found)
    templates = tuple(sorted(path for path in (folder / "templates").glob("*.y*ml") if path.is_file()))
    if not templates:
        found.append(SpecProblem(display(folder), None, "", "the chart has no templates", "add templates/<name>.yaml"))
    for problem in found:
        problems.add(problem)
    if found or meta is None:
        return None
    return Chart(
        name=folder.name,
        folder=folder,
        meta=meta,
        defaults=defaults,
        templates=templates,
        value_names=known_values(folder / "templates", defaults),
    )


def _single_mapping(path: Path, found: list[SpecProblem]) -> Document | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        documents = read_documents(path, display(path), found)
    if not documents:
        return None
    if len(documents) > 1 or not isinstance(documents[0].data, dict):
        found.append(documents[0].marks.problem((), "expected one YAML mapping", "write key: value lines"))
        return None
    return documents[0]


def _meta(folder: Path, found: list[SpecProblem]) -> ChartMeta | None:
    document = _single_mapping(folder / "Chart.yaml", found)
    if document is None:
        return None
    try:
        meta = ChartMeta.model_validate(document.data)
    except ValidationError as exc:
        found.extend(validation_problems(exc, ChartMeta, document.data, document.marks))
        return None
    if meta.name != folder.name:
        found.append(
            document.marks.problem(
                ("name",), f"chart name '{meta.name}' differs from its folder '{folder.name}'", "make them equal"
            )
        )
    return meta


def _defaults(folder: Path, found: list[SpecProblem]) -> dict[str, Any]:
    path = folder / "values.yaml"
    if not path.is_file():
        return {}
    document = _single_mapping(path, found)
    return document.data if document is not None else {}


def render_chart(
    chart: Chart, context: dict[str, Any], problems: ProblemList, origin: str
) -> tuple[list[Document], bool]:
    """The documents every template of `chart` renders to (YAML parsed, with marks in the template file),
    and whether every template rendered (False: some had problems, their apps are missing).

    `origin` (`env/app`) names the app being rendered in template problems: one chart serves many apps.
    """
    environment = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(chart.folder / "templates")),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    environment.filters["json"] = json.dumps  # JSON is YAML: the safe way to write any value
    environment.filters["merge"] = deep_merge
    documents: list[Document] = []
    complete = True
    for template in chart.templates:
        text = _render_template(environment, template, context, problems, origin)
        found: list[SpecProblem] = []
        if text is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                documents.extend(parse_documents(text, display(template), found))
        for problem in found:
            problems.add(SpecProblem(problem.file, problem.line, origin, f"rendered {problem.message}", problem.hint))
        complete = complete and text is not None and not found
    return documents, complete


def _render_template(
    environment: SandboxedEnvironment, template: Path, context: dict[str, Any], problems: ProblemList, origin: str
) -> str | None:
    line: int | None
    try:
        return environment.get_template(template.name).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        line, message, hint = exc.lineno, f"template syntax error: {exc.message}", "check the {{ }} and {% %} tags"
    except jinja2.UndefinedError as exc:
        line, message = _template_line(exc.__traceback__, template), f"undefined template value: {exc.message}"
        hint = _undefined_hint(exc.message or "", template)
    except Exception as exc:  # a template may fail any way Python can (a bad filter, a division by zero)
        line, message = _template_line(exc.__traceback__, template), f"template error: {type(exc).__name__}: {exc}"
        hint = "fix the template expression on that line"
    problems.add(SpecProblem(display(template), line, origin, message, hint))
    return None


def _template_line(trace: TracebackType | None, template: Path) -> int | None:
    """The template line in a Jinja traceback (Jinja rewrites its frames to point at template lines)."""
    line = None
    target = os.path.normpath(str(template))
    while trace is not None:
        if os.path.normpath(trace.tb_frame.f_code.co_filename) == target:
            line = trace.tb_lineno
        trace = trace.tb_next
    return line


def _undefined_hint(message: str, template: Path) -> str:
    match = _UNDEFINED_NAME.search(message)
    name = next((group for group in match.groups() if group), "it") if match else "it"
    values = display(template.parent.parent / "values.yaml")
    return f"set `{name}` in {values}, in the environment's values or in the app's values"
