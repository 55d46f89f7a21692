"""Shared YAML in a chart, as docs/spec.md shows it: `{% include "_ports.yaml" %}`. A file named `_x.yaml`
(as Helm's `_helpers.tpl`) or kept in a subfolder of `templates/` is only included, never rendered as an
app of its own; the values it reads are values the chart knows; an include of a file that is not there is
a problem at the including line that says where included files go."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.spec.spec_tree import HEADER, SVC_CHART, problems_of, render

APP = 'image: "{{ values.image }}:{{ values.tag }}"\ncpus: 0.1\nmem: 128\n{% include "INCLUDED" %}\n'
PORTS = "ports: [{name: http, containerPort: {{ values.port }}}]\n"
SPEC = {"specs/shop.yaml": HEADER + "name: shop\napps:\n  api: {chart: svc, values: {port: 9000}}\n"}


@pytest.mark.parametrize("included", ["_ports.yaml", "parts/ports.yaml"])
def test_an_included_file_renders_inside_the_app_and_no_app_of_its_own(tmp_path: Path, included: str) -> None:
    files = {**SVC_CHART, **SPEC, "charts/svc/templates/app.yaml": APP.replace("INCLUDED", included),
             f"charts/svc/templates/{included}": PORTS}
    desired = render(tmp_path, files)
    assert list(desired.apps) == ["/shop/api"]
    [mapping] = desired.apps["/shop/api"].definition["container"]["portMappings"]
    assert (mapping["containerPort"], mapping["name"]) == (9000, "http")


def test_an_include_of_a_missing_file_names_the_line_and_where_included_files_go(tmp_path: Path) -> None:
    files = {**SVC_CHART, **SPEC, "charts/svc/templates/app.yaml": APP.replace("INCLUDED", "_port.yaml"),
             "charts/svc/templates/_ports.yaml": PORTS}
    [problem] = problems_of(tmp_path, files)
    assert (problem.file, problem.line) == (f"{tmp_path}/charts/svc/templates/app.yaml", 4), problem.render()
    assert problem.message == "template error: no template '_port.yaml' to include"
    assert "correct the name" in problem.hint and "`_name.yaml` or put it in a subfolder" in problem.hint


def test_a_file_for_include_named_like_a_template_is_a_second_app_and_the_hint_says_how_to_name_it(
    tmp_path: Path,
) -> None:
    files = {**SVC_CHART, **SPEC, "charts/svc/templates/app.yaml": APP.replace("INCLUDED", "ports.yaml"),
             "charts/svc/templates/ports.yaml": PORTS}
    [problem] = problems_of(tmp_path, files)
    assert problem.file == f"{tmp_path}/charts/svc/templates/ports.yaml", problem.render()
    assert problem.message == "app 'api' is defined twice in environment 'shop'"
    assert "named `_name.yaml`" in problem.hint
