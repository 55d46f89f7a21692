"""Values are data, never YAML syntax: how `{{ }}` values reach a rendered app (placeholders.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import ProblemList
from reconciler.spec.charts import read_chart, render_chart
from tests.unit.spec.spec_tree import HEADER, problems_of, render, write_tree

CHART = {"charts/c/Chart.yaml": "name: c\nversion: 1.0.0\n", "charts/c/values.yaml": "v: x\nw: y\n"}


def rendered(tmp_path: Path, template: str, values: dict[str, Any]) -> dict[str, Any]:
    """The Marathon body the one-template chart `c` renders for app `a` with `values`."""
    files = {
        **CHART,
        "charts/c/templates/app.yaml": template,
        "specs/e.yaml": HEADER + "name: e\napps:\n  a:\n    chart: c\n    values: " + _flow(values) + "\n",
    }
    return render(tmp_path, files).apps["/e/a"].definition


def _flow(values: dict[str, Any]) -> str:
    return json.dumps(values)  # JSON is YAML: the values arrive exactly as given


def rendered_data(tmp_path: Path, template: str, values: dict[str, Any]) -> Any:
    """What chart `c` renders, as data, before any app validation."""
    write_tree(tmp_path, {**CHART, "charts/c/templates/app.yaml": template})
    problems = ProblemList()
    chart = read_chart(tmp_path / "charts" / "c", problems)
    assert chart is not None
    [document], complete = render_chart(chart, {"values": values}, problems, "e/a")
    assert complete and not problems.items
    return document.data


def test_the_reported_injection_renders_the_tag_verbatim_and_no_cmd(tmp_path: Path) -> None:
    template = 'image: "app:{{ values.v }}"\nargs: [serve]\n'
    body = rendered(tmp_path, template, {"v": '1"\ncmd: "rm -rf /'})
    assert body["container"]["docker"]["image"] == 'app:1"\ncmd: "rm -rf /'
    assert "cmd" not in body and body["args"] == ["serve"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(384, 384), (0.25, 0.25), (True, True), ("384", "384"), ("yes", "yes"), ("a: b", "a: b"), (None, None)],
)
def test_a_value_alone_and_unquoted_is_the_value_itself(tmp_path: Path, value: Any, expected: Any) -> None:
    data = rendered_data(tmp_path, "x: {{ values.v }}\ny: [{{ values.v }}]\n", {"v": value})
    assert data == {"x": expected, "y": [expected]}
    assert type(data["x"]) is type(expected)


def test_a_quoted_value_is_its_text_and_text_around_values_stays(tmp_path: Path) -> None:
    template = (
        'cmd: run\nenv:\n  A: "{{ values.v }}"\n  B: \'{{ values.v }}\'\n  C: "-p{{ values.v }}:{{ values.w }}"\n'
    )
    body = rendered(tmp_path, template, {"v": 8080, "w": "x'\"y"})
    assert body["env"] == {"A": "8080", "B": "8080", "C": "-p8080:x'\"y"}


def test_a_mapping_or_list_value_is_placed_as_structure(tmp_path: Path) -> None:
    template = "cmd: run\nenv: {{ values.v }}\nconstraints: {{ values.w }}\n"
    body = rendered(tmp_path, template, {"v": {"A": "1\n2", "B: c": "#d"}, "w": [["hostname", "UNIQUE"]]})
    assert body["env"] == {"A": "1\n2", "B: c": "#d"}
    assert body["constraints"] == [["hostname", "UNIQUE"]]


def test_a_key_alone_is_the_value_and_two_equal_keys_are_a_problem(tmp_path: Path) -> None:
    template = "cmd: run\nenv:\n{% for k, v in values.v | dictsort %}\n  {{ k }}: {{ v }}\n{% endfor %}\n"
    body = rendered(tmp_path, template, {"v": {"A: x\nB": "1", "#C": "2"}})
    assert body["env"] == {"A: x\nB": "1", "#C": "2"}
    files = {
        **CHART,
        "charts/c/templates/app.yaml": "cmd: run\nenv:\n  {{ values.v }}: a\n  {{ values.w }}: b\n",
        "specs/e.yaml": HEADER + "name: e\napps:\n  a: {chart: c, values: {v: K, w: K}}\n",
    }
    [problem] = problems_of(tmp_path / "dup", files)
    assert problem.file.endswith("charts/c/templates/app.yaml") and problem.line == 4
    assert "'K' is written twice" in problem.message


def test_json_filter_is_the_value_alone_and_json_text_inside_a_string(tmp_path: Path) -> None:
    template = 'cmd: "run {{ values.v | json }}"\nenv: {{ values.v | json }}\n'
    body = rendered(tmp_path, template, {"v": {"A": "1"}})
    assert body["cmd"] == 'run {"A": "1"}'
    assert body["env"] == {"A": "1"}


def test_control_flow_and_filters_see_the_real_values(tmp_path: Path) -> None:
    template = (
        'cmd: run\nenv:\n{% if values.v > 2 %}\n  BIG: "{{ values.v * 2 }}"\n{% endif %}\n'
        "  UP: {{ values.w | upper }}\n"
    )
    body = rendered(tmp_path, template, {"v": 3, "w": "a\nb: c"})
    assert body["env"] == {"BIG": "6", "UP": "A\nB: C"}


def test_macro_and_set_block_output_is_text_with_the_values_in_it(tmp_path: Path) -> None:
    template = (
        "{% macro url(host) %}http://{{ host }}:8080{% endmacro %}\n"
        "{% set banner %}{{ values.w }}!{% endset %}\n"
        'cmd: "{{ banner }}"\nenv:\n  URL: {{ url(values.v) }}\n'
    )
    body = rendered(tmp_path, template, {"v": 'h"\ncmd: x', "w": "#w"})
    assert body["env"] == {"URL": 'http://h"\ncmd: x:8080'}
    assert body["cmd"] == "#w!"


def test_a_value_that_looks_like_a_placeholder_stays_itself(tmp_path: Path) -> None:
    body = rendered(tmp_path, 'cmd: "{{ values.v }}"\n', {"v": "__rcv0000000000000000_0__"})
    assert body["cmd"] == "__rcv0000000000000000_0__"


def test_apps_rendered_from_one_value_do_not_share_it(tmp_path: Path) -> None:
    files = {
        **CHART,
        "charts/c/templates/app.yaml": "{{ values.v }}\n",
        "specs/e.yaml": HEADER
        + "name: e\nvalues: {v: {cmd: run, suffix: one, labels: {k: v}}}\napps:\n  a: {chart: c}\n  b: {chart: c}\n",
    }
    desired = render(tmp_path, files)
    assert set(desired.apps) == {"/e/a-one", "/e/b-one"}  # `suffix` is taken from each app, not the shared value


def test_an_undefined_value_is_still_an_error_with_its_line(tmp_path: Path) -> None:
    files = {
        **CHART,
        "charts/c/templates/app.yaml": "cmd: run\nenv: {{ [values.nope] }}\n",
        "specs/e.yaml": HEADER + "name: e\napps:\n  a: {chart: c}\n",
    }
    [problem] = problems_of(tmp_path, files)
    assert problem.line == 2 and "undefined template value" in problem.message
