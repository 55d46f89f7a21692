"""`fail(message, hint)` in a chart template: the chart refuses values that no schema can express (one
value against another), reported at the template line with the app being rendered, the chart's name and
its hint; nothing of that app is rendered. The shipped java-service chart refuses a heap that leaves the
JVM too little of the app's memory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.errors import SpecError
from reconciler.spec import load_desired
from tests.unit.spec.spec_tree import HEADER, problems_of, render

CHARTS = Path(__file__).resolve().parents[3] / "charts"
POOL = {
    "charts/pool/Chart.yaml": "name: pool\nversion: 1.0.0\n",
    "charts/pool/values.yaml": "min: 1\nmax: 4\n",
    "charts/pool/templates/app.yaml": (
        "cmd: run --min {{ values.min }} --max {{ values.max }}\ncpus: 0.1\nmem: 64\n"
        "{% if values.min > values.max %}\n"
        '{{ fail("min (" ~ values.min ~ ") is above max (" ~ values.max ~ ")", "lower min or raise max") }}\n'
        "{% endif %}\n"
    ),
}


def test_a_template_refuses_values_at_its_line_naming_the_app_and_the_hint(tmp_path: Path) -> None:
    spec = HEADER + "name: shop\napps:\n  workers: {chart: pool, values: {min: 5}}\n"
    [problem] = problems_of(tmp_path, {**POOL, "specs/shop.yaml": spec})
    assert problem.render().endswith(
        "templates/app.yaml:5: shop/workers: chart 'pool' refuses the values: min (5) is above max (4)"
        " (hint: lower min or raise max)"), problem.render()


def test_a_template_that_does_not_fail_renders_as_before(tmp_path: Path) -> None:
    spec = HEADER + "name: shop\napps:\n  workers: {chart: pool, values: {min: 2}}\n"
    desired = render(tmp_path, {**POOL, "specs/shop.yaml": spec})
    assert desired.apps["/shop/workers"].definition["cmd"] == "run --min 2 --max 4"


def test_a_refusal_without_a_hint_points_at_the_charts_values(tmp_path: Path) -> None:
    files = {**POOL, "charts/pool/templates/app.yaml": 'cmd: x\ncpus: 0.1\nmem: 64\n{{ fail("no") }}\n',
             "specs/shop.yaml": HEADER + "name: shop\napps:\n  workers: {chart: pool}\n"}
    [problem] = problems_of(tmp_path, files)
    assert problem.render().endswith("chart 'pool' refuses the values: no (hint: change the values (see "
                                     f"{tmp_path}/charts/pool/values.yaml))"), problem.render()


def _java_service(tmp_path: Path, values: dict[str, object]) -> Path:
    spec = tmp_path / "platform.yaml"
    entry = json.dumps({"chart": "java-service", "values": {"image": "user-api", **values}})
    spec.write_text(f"apiVersion: reconciler/v1\nkind: Environment\nname: platform\napps:\n  api: {entry}\n",
                    encoding="utf-8")
    return spec


@pytest.mark.parametrize(("heap", "mem"), [(384, 384), (321, 384), (1024, 512)])
def test_java_service_refuses_a_heap_the_apps_memory_cannot_hold(tmp_path: Path, heap: int, mem: int) -> None:
    with pytest.raises(SpecError) as refused:
        load_desired(_java_service(tmp_path, {"heapMb": heap, "mem": mem}), charts_dir=CHARTS)
    text = str(refused.value)
    assert f"platform/api: chart 'java-service' refuses the values: heapMb ({heap}) leaves less than 64 MiB of" \
           f" mem ({mem}) beside the heap" in text, text
    assert "hint: lower heapMb or raise mem" in text, text


@pytest.mark.parametrize(("heap", "mem"), [(256, 384), (320, 384), (200, 384)])
def test_java_service_takes_a_heap_with_room_beside_it(tmp_path: Path, heap: int, mem: int) -> None:
    desired = load_desired(_java_service(tmp_path, {"heapMb": heap, "mem": mem}), charts_dir=CHARTS)
    assert desired.apps["/platform/api"].definition["env"]["JAVA_OPTS"] == f"-Xmx{heap}m"
