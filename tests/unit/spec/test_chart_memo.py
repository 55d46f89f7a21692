"""A load renders a chart template once per distinct input (spec/chart_memo.py): apps with the same
values share one rendering, each with its own data; a template that prints the app name, or whose output
may differ for one input, renders for every app; a rendering with problems reports them for each app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.spec.chart_memo import RenderMemo
from reconciler.spec.templating import ChartEnvironment, TemplateLimits
from tests.unit.spec.spec_tree import HEADER, SVC_CHART, problems_of, render

APPS = "  a: {chart: svc}\n  b: {chart: svc}\n  c: {chart: svc, values: {tag: '2.0'}}\n"


@pytest.fixture
def renderings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the templates rendered (the rendering itself runs as always)."""
    seen: list[str] = []
    original = ChartEnvironment.render_template

    def counted(self: ChartEnvironment, name: str, context: dict[str, Any]) -> str:
        seen.append(name)
        return original(self, name, context)

    monkeypatch.setattr(ChartEnvironment, "render_template", counted)
    return seen


def test_apps_with_the_same_values_share_one_rendering(tmp_path: Path, renderings: list[str]) -> None:
    desired = render(tmp_path, {**SVC_CHART, "specs/int.yaml": HEADER + "name: int\napps:\n" + APPS})
    images = {app: desired.apps[f"/int/{app}"].definition["container"]["docker"]["image"] for app in "abc"}
    assert images == {"a": "svc:1.0", "b": "svc:1.0", "c": "svc:2.0"}
    assert renderings == ["app.yaml", "app.yaml"]


def test_a_template_that_prints_the_app_name_renders_for_each_app(tmp_path: Path, renderings: list[str]) -> None:
    template = SVC_CHART["charts/svc/templates/app.yaml"] + "labels: {name: '{{ app }}'}\n"
    files = {**SVC_CHART, "charts/svc/templates/app.yaml": template}
    desired = render(tmp_path, {**files, "specs/int.yaml": HEADER + "name: int\napps:\n" + APPS})
    assert {app: desired.apps[f"/int/{app}"].definition["labels"]["name"] for app in "abc"} == {
        "a": "a", "b": "b", "c": "c"
    }
    assert len(renderings) == 3


def test_each_app_gets_its_own_copy_of_a_shared_rendering(tmp_path: Path) -> None:
    """The name's `suffix` is taken out of each app's data: a shared copy would lose it for the second app."""
    template = SVC_CHART["charts/svc/templates/app.yaml"] + "suffix: worker\nenv: {MODE: '{{ values.tag }}'}\n"
    files = {**SVC_CHART, "charts/svc/templates/app.yaml": template}
    apps = "  a: {chart: svc, env: {EXTRA: '1'}}\n  b: {chart: svc}\n"
    desired = render(tmp_path, {**files, "specs/int.yaml": HEADER + "name: int\napps:\n" + apps})
    assert sorted(desired.apps) == ["/int/a-worker", "/int/b-worker"]
    assert desired.apps["/int/a-worker"].definition["env"] == {"MODE": "1.0", "EXTRA": "1"}
    assert desired.apps["/int/b-worker"].definition["env"] == {"MODE": "1.0"}


def test_a_rendering_with_problems_reports_them_for_each_app(tmp_path: Path) -> None:
    files = {**SVC_CHART, "charts/svc/templates/app.yaml": "image: '{{ values.missing }}'\n"}
    problems = problems_of(tmp_path, {**files, "specs/int.yaml": HEADER + "name: int\napps:\n" + APPS})
    undefined = [problem for problem in problems if "undefined template value" in problem.message]
    assert sorted(problem.field for problem in undefined) == ["int/a", "int/b", "int/c"]


@pytest.mark.parametrize(
    "template",
    [
        "image: '{{ [\"a\", \"b\"] | random }}'\n",
        "image: '{% filter random %}ab{% endfilter %}'\n",
        "image: '{{ lipsum(1) }}'\n",
        "{% include 'other.yaml' %}\n",
        "{% import 'other.yaml' as other %}image: x\n",
    ],
)
def test_a_template_whose_output_may_differ_for_one_input_is_never_shared(tmp_path: Path, template: str) -> None:
    (tmp_path / "app.yaml").write_text(template)
    (tmp_path / "other.yaml").write_text("image: x\n")
    memo = RenderMemo(ChartEnvironment(tmp_path, TemplateLimits()))
    assert memo.key("app.yaml", {"values": {}}) is None


def test_the_key_tells_apart_what_a_rendering_can(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text("image: '{{ values.tag }}'\n")
    memo = RenderMemo(ChartEnvironment(tmp_path, TemplateLimits()))
    keys = {memo.key("app.yaml", {"values": {"tag": tag}, "app": "x"}) for tag in (1, "1", 1.0, True)}
    assert len(keys) == 4
    assert memo.key("app.yaml", {"values": {"tag": 1}, "app": "x"}) == memo.key(
        "app.yaml", {"values": {"tag": 1}, "app": "y"}
    )
