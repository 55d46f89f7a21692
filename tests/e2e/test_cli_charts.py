"""`reconciler validate` and `render` on hostile charts: a chart never drops an app, values never become
YAML syntax, and template work ends in exit 3 naming the template line within seconds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli.main import app

PROJECT = Path(__file__).resolve().parents[2]
HEADER = "apiVersion: reconciler/v1\nkind: Environment\nname: integration\n"
runner = CliRunner()


def tree(tmp_path: Path, apps: str, template: str | None = None, chart_yaml: str | None = None) -> Path:
    """A spec tree with the example nginx chart (its template or Chart.yaml replaced when given)."""
    shutil.copytree(PROJECT / "charts" / "nginx", tmp_path / "charts" / "nginx")
    if template is not None:
        (tmp_path / "charts" / "nginx" / "templates" / "nginx.yaml").write_text(template)
    if chart_yaml is not None:
        (tmp_path / "charts" / "nginx" / "Chart.yaml").write_text(chart_yaml)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "a.yaml").write_text(HEADER + "apps:\n" + apps)
    return tmp_path / "specs"


NOTHING = "integration/edge: chart 'nginx': the template renders no app"
APPS = "  cache: {cmd: run, mem: 32}\n  edge: {chart: nginx}\n"


@pytest.mark.parametrize(
    ("template", "chart_yaml", "expected"),
    [
        (None, "# emptied by mistake\n", "apps.edge.chart: chart 'nginx' has problems"),
        (
            "{% if false %}\ncmd: run\n{% endif %}\n",
            None,
            "integration/edge: chart 'nginx': the template renders no app",
        ),
        ("null\n", None, "integration/edge: chart 'nginx': the template renders no app"),
        ("[]\n", None, "rendered template of chart 'nginx' for app 'integration/edge': an empty list"),
    ],
    ids=["empty-chart-yaml", "renders-nothing", "null", "empty-list"],
)
def test_validate_refuses_a_chart_that_would_drop_an_app(
    tmp_path: Path, template: str | None, chart_yaml: str | None, expected: str
) -> None:
    specs = tree(tmp_path, APPS, template, chart_yaml)
    result = runner.invoke(app, ["validate", str(specs)])
    assert result.exit_code == 3, result.output
    assert expected in result.output


def test_a_value_that_looks_like_yaml_renders_verbatim_and_adds_no_field(tmp_path: Path) -> None:
    hostile = '1"\ncmd: "rm -rf /'
    specs = tree(tmp_path, f"  edge: {{chart: nginx, values: {{tag: {json.dumps(hostile)}}}}}\n")
    result = runner.invoke(app, ["render", str(specs), "--format", "marathon-json"])
    assert result.exit_code == 0, result.output
    [body] = json.loads(result.stdout)
    assert body["container"]["docker"]["image"] == f"nginx:{hostile}"
    assert "cmd" not in body


def run_reconciler(*args: str, environ: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT), **(environ or {})}
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        check=False,
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "expression",
    [
        "{{ 7 ** (10**7) }}",
        '{{ "a" * 10**9 }}',
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    ],
    ids=["power", "repeat", "nested-loops"],
)
def test_a_hostile_template_ends_in_exit_3_at_its_line_with_the_default_limits(tmp_path: Path, expression: str) -> None:
    specs = tree(tmp_path, APPS, template=f"cmd: run\nmem: 64\n{expression}\n")
    result = run_reconciler("validate", str(specs))
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"{tmp_path}/charts/nginx/templates/nginx.yaml:3: integration/edge: " in result.stdout


@pytest.mark.timeout(120)
def test_template_limits_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT)
    small = runner.invoke(app, ["validate", "specs"], env={"RECONCILER_TEMPLATE_MAX_OUTPUT": "100"})
    assert small.exit_code == 3, small.output
    assert "charts/web/templates/web.yaml:1: integration/web: template output exceeds 100 characters" in small.output
    bad = run_reconciler("validate", "specs", environ={"RECONCILER_TEMPLATE_CPU_SECONDS": "soon"})
    assert bad.returncode == 2, bad.stdout + bad.stderr  # a bad setting is a usage error
    assert "RECONCILER_TEMPLATE_CPU_SECONDS='soon': not a positive number" in bad.stderr
