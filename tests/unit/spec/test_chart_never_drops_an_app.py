"""A chart never makes an app vanish: a chart or template that yields no app is a problem naming the
chart and the app, never a valid spec with one app fewer (which `apply --prune` would then delete)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import SpecProblem
from tests.unit.spec.spec_tree import HEADER, SVC_CHART, problems_of

SPECS = {"specs/e.yaml": HEADER + "name: e\napps:\n  keep: {cmd: run, mem: 32}\n  api: {chart: svc}\n"}


def rendered_text(problems: list[SpecProblem]) -> str:
    return "\n".join(problem.render() for problem in problems)


@pytest.mark.parametrize("text", ["", "# only a comment\n", "null\n", "---\n...\n"])
def test_an_empty_chart_yaml_names_the_chart_and_the_app(tmp_path: Path, text: str) -> None:
    problems = problems_of(tmp_path, {**SVC_CHART, "charts/svc/Chart.yaml": text, **SPECS})
    chart_problem, app_problem = sorted(problems, key=lambda problem: problem.file)
    assert chart_problem.file.endswith("charts/svc/Chart.yaml") and "empty" in chart_problem.message
    assert app_problem.file.endswith("specs/e.yaml") and app_problem.line == 6
    assert app_problem.field == "apps.api.chart" and "chart 'svc' has problems" in app_problem.message


def test_a_chart_yaml_that_is_not_a_mapping_names_the_app_too(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, {**SVC_CHART, "charts/svc/Chart.yaml": "[]\n", **SPECS})
    assert {problem.field for problem in problems} == {"", "apps.api.chart"}


@pytest.mark.parametrize(
    "template",
    ["", "# only a comment\n", "{% if false %}\ncmd: run\n{% endif %}\n", "null\n", "~\n", "---\n---\n"],
    ids=["empty", "comment", "false-if", "null", "tilde", "empty-documents"],
)
def test_a_template_that_renders_nothing_names_the_chart_and_the_app(tmp_path: Path, template: str) -> None:
    files = {**SVC_CHART, "charts/svc/templates/app.yaml": template, **SPECS}
    [problem] = problems_of(tmp_path, files)
    assert problem.file.endswith("charts/svc/templates/app.yaml")
    assert problem.field == "e/api"
    assert "chart 'svc': the template renders no app" in problem.message


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("[]\n", "an empty list, no app"),
        ("42\n", "an app must be a mapping, not int"),
        ("- cmd: run\n- just text\n", "an app must be a mapping, not str"),
    ],
)
def test_a_template_that_renders_no_mapping_names_the_chart_and_the_app(
    tmp_path: Path, template: str, message: str
) -> None:
    files = {**SVC_CHART, "charts/svc/templates/app.yaml": template, **SPECS}
    problems = problems_of(tmp_path, files)
    text = rendered_text(problems)
    assert "rendered template of chart 'svc' for app 'e/api'" in text and message in text
    assert all(problem.file.endswith("charts/svc/templates/app.yaml") for problem in problems)
