"""Charts (spec layer): `charts/<name>/` with Chart.yaml, values.yaml (defaults) and templates/*.yaml.

Templates render in templating.ChartEnvironment (sandboxed, bounded, StrictUndefined); values reach
the app as data through placeholders (placeholders.py). Each template renders YAML of one app, or a
list (or several documents) of apps; one that renders no app is a problem naming chart and app.
"""

from __future__ import annotations

import os
import re
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import jinja2
from pydantic import ValidationError

from reconciler.errors import ProblemList, SpecProblem
from reconciler.spec.chart_memo import RenderMemo
from reconciler.spec.chart_schema import SCHEMA_FILE, read_values_schema
from reconciler.spec.chart_values import known_values
from reconciler.spec.cpu_watchdog import CpuWatchdog
from reconciler.spec.documents import ChartMeta
from reconciler.spec.placeholders import Placeholders
from reconciler.spec.problems import closest_hint, validation_problems
from reconciler.spec.source import Document, Marks, parse_text, read_documents
from reconciler.spec.templating import (
    LIMITS_HINT,
    ChartEnvironment,
    ChartRefusal,
    TemplateLimitError,
    TemplateLimits,
    TemplateTimeout,
    limits_from_environ,
)

if TYPE_CHECKING:  # jsonschema is imported only by a chart that has a values schema (chart_schema.py)
    from jsonschema.protocols import Validator

# The watchdog fires a little after the template's own CPU checks: when both saw the budget spent at once,
# its exception could land in the unwinding of the precise one (outside the template's frames) and take
# the problem's line with it.
_BACKSTOP_GRACE = 0.25
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
    values_schema: Validator | None = None  # values.schema.json, when the chart has one
    defaults_marks: Marks = field(default_factory=Marks)  # where values.yaml writes each default


class ChartShelf:
    """The charts used by one load, each read once; missing or broken charts become problems."""

    def __init__(self, problems: ProblemList, limits: TemplateLimits | None = None) -> None:
        self._problems = problems
        self.limits = limits if limits is not None else limits_from_environ()
        self._environments: dict[Path, ChartEnvironment] = {}
        self._charts: dict[Path, Chart | None] = {}
        self._folders: dict[tuple[Path, str], Path | None] = {}
        self._memos: dict[Path, RenderMemo] = {}
        self._accepted: dict[Path, set[str]] = {}

    def get(self, charts_dir: Path, name: str, where: Marks) -> Chart | None:
        """The chart `name` in `charts_dir`; `where` marks the `chart:` reference for problems."""
        folder = self._folder(charts_dir, name)
        if folder is None:
            folder = charts_dir / name
            self._problems.add(
                where.problem(
                    (), f"unknown chart '{name}' (no {display(folder / 'Chart.yaml')})", _chart_hint(charts_dir, name)
                )
            )
            return None
        if folder not in self._charts:
            self._charts[folder] = read_chart(folder, self._problems)
        chart = self._charts[folder]
        if chart is None:  # the app is not silently left out: its entry names the broken chart too
            message = f"chart '{name}' has problems (reported at {display(folder)}), so this app cannot render"
            self._problems.add(where.problem((), message, "fix the problems reported in the chart's files"))
        return chart

    def _folder(self, charts_dir: Path, name: str) -> Path | None:
        """The chart's folder if it has a Chart.yaml (looked at once per load, not once per app)."""
        key = (charts_dir, name)
        if key not in self._folders:
            folder = charts_dir / name
            self._folders[key] = folder if (folder / "Chart.yaml").is_file() else None
        return self._folders[key]

    def environment(self, chart: Chart) -> ChartEnvironment:
        """The chart's template environment, shared by its apps (each template is compiled once, and
        compiled again when its file changed since an earlier load)."""
        if chart.folder not in self._environments:
            environment = shared_environment(chart.folder / "templates", self.limits)
            environment.forget_changed()
            self._environments[chart.folder] = environment
        return self._environments[chart.folder]

    def accepted(self, chart: Chart) -> set[str]:
        """The merged values (as canonical JSON) the chart's values schema accepted in this load: thousands of
        apps of one chart share a few, and one validation is about 0.1 ms."""
        return self._accepted.setdefault(chart.folder, set())

    def memo(self, chart: Chart) -> RenderMemo:
        """The chart's renderings in this load, by template and input (see chart_memo.py)."""
        if chart.folder not in self._memos:
            self._memos[chart.folder] = RenderMemo(self.environment(chart))
        return self._memos[chart.folder]


def shared_environment(folder: Path, limits: TemplateLimits) -> ChartEnvironment:
    """This thread's environment of a templates folder: each template is compiled once per process (Jinja
    compiles again a template whose file changed). One per thread: a rendering keeps its state in it."""
    environments: dict[tuple[Path, TemplateLimits], ChartEnvironment] = _THREAD.__dict__.setdefault("kept", {})
    key = (folder.resolve(), limits)
    if key not in environments:
        environments[key] = ChartEnvironment(folder, limits)
    return environments[key]


_THREAD = threading.local()


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
    schema = read_values_schema(folder, display(folder / SCHEMA_FILE), found)
    templates = tuple(sorted(path for path in (folder / "templates").glob("*.y*ml") if _renders_apps(path)))
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
        defaults=defaults.data if defaults is not None else {},
        templates=templates,
        value_names=known_values(folder / "templates", defaults.data if defaults is not None else {}),
        values_schema=schema,
        defaults_marks=defaults.marks if defaults is not None else Marks(),
    )


def _renders_apps(path: Path) -> bool:
    """A template of the chart's apps; `_name.yaml` (as Helm's `_helpers.tpl`) and files in subfolders are
    only there to be included."""
    return path.is_file() and not path.name.startswith("_")


def _single_mapping(path: Path, found: list[SpecProblem], *, required: bool) -> Document | None:
    """The one mapping in `path`; an empty file (or only comments, or null) is a problem if `required`."""
    before = len(found)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        documents = read_documents(path, display(path), found)
    if not documents:
        if required and len(found) == before:
            message = "the file is empty (or only comments, or null): expected `name` and `version`"
            found.append(SpecProblem(display(path), None, "", message, "write name: <folder name> and version: 1.0.0"))
        return None
    if len(documents) > 1 or not isinstance(documents[0].data, dict):
        found.append(documents[0].marks.problem((), "expected one YAML mapping", "write key: value lines"))
        return None
    return documents[0]


def _meta(folder: Path, found: list[SpecProblem]) -> ChartMeta | None:
    document = _single_mapping(folder / "Chart.yaml", found, required=True)
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


def _defaults(folder: Path, found: list[SpecProblem]) -> Document | None:
    path = folder / "values.yaml"
    if not path.is_file():
        return None
    return _single_mapping(path, found, required=False)


def render_chart(
    chart: Chart,
    context: dict[str, Any],
    problems: ProblemList,
    origin: str,
    environment: ChartEnvironment | None = None,
    memo: RenderMemo | None = None,
) -> tuple[list[Document], bool]:
    """The documents every template of `chart` renders to (YAML parsed, values put back as data, with
    marks in the template file), and whether every template rendered (False: some had problems).

    `origin` (`env/app`) names the app being rendered in template problems: one chart serves many apps.
    `environment`: the chart's (ChartShelf.environment), else one with the default limits; `memo`: the
    chart's (ChartShelf.memo), so that each distinct input of a template is rendered once per load.
    """
    environment = environment or ChartEnvironment(chart.folder / "templates", TemplateLimits())
    documents: list[Document] = []
    complete = True
    for template in chart.templates:
        found: list[SpecProblem] = []
        key = memo.key(template.name, context) if memo is not None else None
        kept = memo.get(key) if memo is not None else None
        if kept is not None:
            documents.extend(kept)
            continue
        rendered = _render_template(environment, template, context, found)
        if rendered is not None:
            parsed = _parsed(environment.placeholders, rendered, template, chart, found)
            documents.extend(parsed)
            if memo is not None and not found:
                memo.put(key, parsed)
        for problem in found:
            problems.add(SpecProblem(problem.file, problem.line, origin, problem.message, problem.hint))
        complete = complete and not found
    return documents, complete


def _parsed(
    placeholders: Placeholders, text: str, template: Path, chart: Chart, found: list[SpecProblem]
) -> list[Document]:
    parse_problems: list[SpecProblem] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        documents = parse_text(text, display(template), parse_problems)
    for problem in parse_problems:
        found.append(SpecProblem(problem.file, problem.line, "", f"rendered {problem.message}", problem.hint))
    if parse_problems:
        return []
    if not documents:
        message = f"chart '{chart.name}': the template renders no app (nothing, only comments, or null)"
        found.append(SpecProblem(display(template), None, "", message, "render one app as `key: value` lines"))
        return []
    quoted = placeholders.quoted(text)
    return [placeholders.resolve(document, quoted, found) for document in documents]


def _render_template(
    environment: ChartEnvironment, template: Path, context: dict[str, Any], found: list[SpecProblem]
) -> str | None:
    line: int | None
    try:
        with CpuWatchdog(environment.limits.cpu_seconds + _BACKSTOP_GRACE, TemplateTimeout):
            return environment.render_template(template.name, context)
    except jinja2.TemplateSyntaxError as exc:
        line, message, hint = exc.lineno, f"template syntax error: {exc.message}", "check the {{ }} and {% %} tags"
    except jinja2.UndefinedError as exc:
        line, message = _template_line(exc.__traceback__, template), f"undefined template value: {exc.message}"
        hint = _undefined_hint(exc.message or "", template)
    except jinja2.TemplateNotFound as exc:
        line = _template_line(exc.__traceback__, template)
        message = f"template error: no template '{exc.name}' to include"
        hint = (f"correct the name (relative to {display(template.parent)}) or create that file; name an included"
                " file `_name.yaml` or put it in a subfolder, so that it renders no app of its own")
    except ChartRefusal as exc:
        line = _template_line(exc.__traceback__, template)
        message = f"chart '{template.parent.parent.name}' refuses the values: {exc.message}"
        hint = exc.hint or f"change the values (see {display(template.parent.parent / 'values.yaml')})"
    except TemplateLimitError as exc:
        line = exc.line or _template_line(exc.__traceback__, template)
        message = environment.timeout_message() if isinstance(exc, TemplateTimeout) else str(exc)
        hint = f"bound the loops and values on that line, {LIMITS_HINT}"
    except Exception as exc:  # a template may fail any way Python can (a bad filter, a division by zero)
        line, message = _template_line(exc.__traceback__, template), f"template error: {type(exc).__name__}: {exc}"
        hint = "fix the template expression on that line"
    found.append(SpecProblem(display(template), line, "", message, hint))
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
    where = f"in {values}, in the environment's values or in the app's values"
    if "(did you mean '" in message:  # the mapping has a key close to it: a typo, most likely
        return f"correct `{name}` in the template, or in the value it is looked up by; or set `{name}` {where}"
    return f"set `{name}` {where}"
