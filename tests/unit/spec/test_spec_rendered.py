"""An unchanged tree gives its last Desired again (spec/rendered.py); every change that rendering
reads (a spec file, a chart's template or values, the env, the revision, the template limits) renders
again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.errors import SpecProblem
from reconciler.spec import load_desired
from reconciler.spec.source import parse_text
from reconciler.spec.templating import CPU_SECONDS_VARIABLE
from tests.unit.spec.spec_tree import HEADER, SVC_CHART, write_tree

TREE = {
    **SVC_CHART,
    "specs/int.yaml": HEADER + "name: int\napps:\n  web: {chart: svc}\n  db: {cmd: serve, mem: 64}\n",
}


def image(specs: Path, env: str | None = None) -> str:
    return str(load_desired(specs, env=env).apps["/int/web"].definition["container"]["docker"]["image"])


def test_an_unchanged_tree_gives_the_same_desired_object(tmp_path: Path) -> None:
    specs = write_tree(tmp_path, TREE)
    first = load_desired(specs)
    assert load_desired(specs) is first
    assert load_desired(specs, revision="abc") is not first  # the revision is part of what was rendered
    assert load_desired(specs, revision="abc").revision == "abc"


def test_a_changed_spec_file_renders_again(tmp_path: Path) -> None:
    specs = write_tree(tmp_path, TREE)
    assert load_desired(specs).apps["/int/db"].definition["mem"] == 64
    (specs / "int.yaml").write_text(TREE["specs/int.yaml"].replace("mem: 64", "mem: 96"))
    assert load_desired(specs).apps["/int/db"].definition["mem"] == 96


@pytest.mark.parametrize(
    ("relative", "old", "new", "expected"),
    [
        ("charts/svc/templates/app.yaml", "{{ values.tag }}", "{{ values.tag }}-b", "svc:1.0-b"),
        ("charts/svc/values.yaml", "tag: '1.0'", "tag: '2.0'", "svc:2.0"),
    ],
)
def test_a_changed_chart_renders_again_though_no_spec_file_changed(
    tmp_path: Path, relative: str, old: str, new: str, expected: str
) -> None:
    specs = write_tree(tmp_path, TREE)
    assert image(specs) == "svc:1.0"
    (tmp_path / relative).write_text(SVC_CHART[relative].replace(old, new))
    assert image(specs) == expected


def test_each_environment_selection_is_its_own_rendering(tmp_path: Path) -> None:
    specs = write_tree(tmp_path, {**TREE, "specs/prod.yaml": HEADER + "name: prod\napps:\n  api: {cmd: serve}\n"})
    assert set(load_desired(specs, env="prod").apps) == {"/prod/api"}
    assert set(load_desired(specs).apps) == {"/int/web", "/int/db", "/prod/api"}
    assert set(load_desired(specs, env="prod").apps) == {"/prod/api"}


def test_other_template_limits_render_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    specs = write_tree(tmp_path, TREE)
    first = load_desired(specs)
    monkeypatch.setenv(CPU_SECONDS_VARIABLE, "1.5")
    assert load_desired(specs) is not first


def test_a_template_rewritten_within_the_same_mtime_is_compiled_again(tmp_path: Path) -> None:
    """Jinja would trust the mtime; the loader compares the text (spec/templating.py _ContentLoader)."""
    specs = write_tree(tmp_path, TREE)
    template = tmp_path / "charts/svc/templates/app.yaml"
    assert image(specs) == "svc:1.0"
    stat = template.stat()
    template.write_text(SVC_CHART["charts/svc/templates/app.yaml"].replace("{{ values.tag }}", "{{ values.tag }}-c"))
    os.utime(template, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert image(specs) == "svc:1.0-c"


def test_a_rendered_text_seen_before_reports_its_problems_again() -> None:
    problems: list[SpecProblem] = []
    assert parse_text("a: [1,\n", "t.yaml", problems) == []
    assert parse_text("a: [1,\n", "t.yaml", problems) == []
    assert len(problems) == 2 and problems[0] == problems[1] and problems[0].file == "t.yaml"
    assert parse_text("a: 1\n", "t.yaml", problems)[0].data == {"a": 1}
