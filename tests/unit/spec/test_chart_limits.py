"""Template work is bounded: CPU time, output size, and the operations that can grow without end all
end in a problem naming the template file and line, within seconds (templating.py, cpu_watchdog.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from reconciler.errors import ProblemList, SpecProblem, UsageError
from reconciler.spec.charts import read_chart, render_chart
from reconciler.spec.templating import ChartEnvironment, TemplateLimits, limits_from_environ
from tests.unit.spec.spec_tree import write_tree

HEAD = "cmd: run\nmem: 64\n"  # the hostile expression is on line 3
FAST = TemplateLimits(cpu_seconds=0.5, max_output=1_000_000)


def render_problems(tmp_path: Path, line_three: str, limits: TemplateLimits = FAST) -> list[SpecProblem]:
    chart_files = {
        "charts/c/Chart.yaml": "name: c\nversion: 1.0.0\n",
        "charts/c/templates/app.yaml": HEAD + line_three + "\n",
    }
    write_tree(tmp_path, chart_files)
    problems = ProblemList()
    chart = read_chart(tmp_path / "charts" / "c", problems)
    assert chart is not None
    environment = ChartEnvironment(chart.folder / "templates", limits)
    documents, complete = render_chart(chart, {"values": {"n": 10}}, problems, "e/a", environment)
    assert not complete and not documents
    return problems.items


HOSTILE = {
    "power": ("{{ 7 ** (10**7) }}", "exceeds 100000 bits"),
    "repeat": ('{{ "a" * 10**9 }}', "repeating 1 items 1000000000 times"),
    "list-repeat": ("{{ [0] * 10**7 }}", "repeating 1 items 10000000 times"),
    "nested-range": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "of CPU time",
    ),
    "nested-list": (
        "{% set l = [0] * 900000 %}{% for i in l %}{% for j in l %}{% endfor %}{% endfor %}",
        "of CPU time",
    ),
    "big-range": ("{{ range(10**6) | list }}", "at most 100000"),
    "output": ("{% for i in range(100000) %}xxxxxxxxxxxxxxxxxxxx{% endfor %}", "output exceeds 1000000"),
    "percent-width": ('{{ "%0999999999d" % 1 }}', "format width"),
    "format-width": ('{{ "{:>999999999}".format(1) }}', "format width"),
    "filter-width": ('{{ "x" | center(999999999) }}', "argument 999999999"),
    "format-filter": ('{{ "%999999999s" | format("x") }}', "format width"),
    "doubling": (
        '{% macro f(s) %}{{ f(s ~ s) }}{% endmacro %}{{ f("ab") }}',
        "exceeds 1000000 items or characters",
    ),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("line_three", "message"), HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_template_is_a_problem_at_its_line(tmp_path: Path, line_three: str, message: str) -> None:
    [problem] = render_problems(tmp_path, line_three)
    assert problem.file.endswith("charts/c/templates/app.yaml")
    assert problem.line == 3, problem.render()
    assert problem.field == "e/a"
    assert message in problem.message, problem.render()


@pytest.mark.timeout(60)
def test_after_an_interrupted_template_nothing_more_is_raised_in_the_thread(tmp_path: Path) -> None:
    render_problems(tmp_path, "{% set l = [0] * 900000 %}{% for i in l %}{% for j in l %}{% endfor %}{% endfor %}")
    end = time.thread_time() + 1.0  # well past the watchdog's repeat interval, busy in Python bytecode
    spins = 0
    while time.thread_time() < end:
        spins += 1
    assert spins > 0


def test_the_output_limit_is_the_setting(tmp_path: Path) -> None:
    small = TemplateLimits(cpu_seconds=5, max_output=50)
    [problem] = render_problems(tmp_path, "labels: {a: '{{ 'x' * 60 }}'}", small)
    assert "exceeds 50" in problem.message and problem.line == 3


def test_limits_come_from_the_environment_with_defaults() -> None:
    assert limits_from_environ({}) == TemplateLimits(cpu_seconds=2.0, max_output=1_000_000)
    environ = {"RECONCILER_TEMPLATE_CPU_SECONDS": "0.5", "RECONCILER_TEMPLATE_MAX_OUTPUT": "2000"}
    assert limits_from_environ(environ) == TemplateLimits(cpu_seconds=0.5, max_output=2000)


@pytest.mark.parametrize("text", ["abc", "0", "-1", "nan", "inf"])
def test_a_limit_that_is_not_a_positive_number_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="RECONCILER_TEMPLATE_CPU_SECONDS"):
        limits_from_environ({"RECONCILER_TEMPLATE_CPU_SECONDS": text})
    with pytest.raises(UsageError, match="RECONCILER_TEMPLATE_MAX_OUTPUT"):
        limits_from_environ({"RECONCILER_TEMPLATE_MAX_OUTPUT": text})


def test_big_numbers_that_build_nothing_large_are_fine(tmp_path: Path) -> None:
    line = 'labels: {t: "{{ values.get(\'t\', 3600000) }}", p: "{{ 2 ** 64 }}", r: "{{ (\'ab\' * 1000) | length }}"}'
    files = {"charts/c/Chart.yaml": "name: c\nversion: 1.0.0\n", "charts/c/templates/app.yaml": HEAD + line}
    write_tree(tmp_path, files)
    problems = ProblemList()
    chart = read_chart(tmp_path / "charts" / "c", problems)
    assert chart is not None
    environment = ChartEnvironment(chart.folder / "templates", FAST)
    [document], complete = render_chart(chart, {"values": {}}, problems, "e/a", environment)
    assert complete, [problem.render() for problem in problems.items]
    assert document.data["labels"] == {"t": "3600000", "p": str(2**64), "r": "2000"}
