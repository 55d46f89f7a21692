"""`reconciler validate`, `render` and `schema` end to end: the real command in a subprocess for exit
codes and output streams, and through Typer's runner for the output formats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from reconciler.cli.main import app

PROJECT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture(autouse=True)
def _in_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT)  # the commands take `specs` relative, as a user in a checkout does


def run_reconciler(*args: str, cwd: Path = PROJECT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_validate_example_tree_exits_0_with_a_summary() -> None:
    result = run_reconciler("validate", "specs")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("valid: 3 environments (1 complete, 2 functional")
    assert "13 apps" in result.stdout


def test_validate_invalid_tree_exits_3_and_prints_every_problem(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "a.yaml").write_text(
        "apiVersion: reconciler/v1\nkind: Environment\nname: integration\n"
        "apps:\n  web:\n    imgae: nginx\n  api:\n    image: api\n    cpus: -1\n    dependencies: [ghost]\n"
    )
    (specs / "b.yaml").write_text("apiVersion: reconciler/v1\nkind: FunctionalSet\nbase: nowhere\nsets: {f: {}}\n")
    result = run_reconciler("validate", str(specs), cwd=tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert f"{specs}/a.yaml:6: apps.web.imgae: unknown key 'imgae' (hint: did you mean 'image'?)" in lines
    assert any(line.startswith(f"{specs}/a.yaml:9: apps.api.cpus: ") for line in lines)
    assert any(line.startswith(f"{specs}/b.yaml:3: base: base environment 'nowhere' does not exist") for line in lines)
    # api keeps its sound fields, so its unknown dependency shows in the same run; web is no "runs nothing"
    assert any(
        line.startswith(f"{specs}/a.yaml:10: apps.api.dependencies[0]: dependency on unknown app 'ghost'")
        for line in lines
    )
    assert "invalid: 4 problems" in result.stderr
    assert "Traceback" not in result.stderr


def test_render_yaml_prints_every_app_as_a_document() -> None:
    result = runner.invoke(app, ["render", "specs"])
    assert result.exit_code == 0, result.output
    documents = list(YAML(typ="safe", pure=True).load_all(result.stdout))
    assert len(documents) == 13
    assert documents[0]["id"] == "/integration/zookeeper"
    assert "# Source: specs/integration.yaml:" in result.stdout


def test_render_marathon_json_for_one_environment() -> None:
    result = runner.invoke(app, ["render", "specs", "--env", "func-1", "--format", "marathon-json"])
    assert result.exit_code == 0, result.output
    bodies = json.loads(result.stdout)
    assert [body["id"] for body in bodies] == ["/func-1/user-api", "/func-1/redis"]
    assert bodies[0]["container"]["docker"]["image"].endswith("user-api:feature-login")
    assert bodies[0]["labels"]["reconciler.environment"] == "func-1"


def test_render_unknown_environment_exits_3() -> None:
    result = runner.invoke(app, ["render", "specs", "--env", "func-3"])
    assert result.exit_code == 3
    assert "no environment named 'func-3'" in result.stderr and result.stdout == ""


def test_render_invalid_specs_exits_3(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("apiVersion: reconciler/v1\nkind: Environment\nname: e\napps: {web: {}}\n")
    result = runner.invoke(app, ["render", str(tmp_path)])
    assert result.exit_code == 3
    assert "the app runs nothing" in result.stderr and result.stdout == ""  # stdout is data: never problems


def test_schema_prints_the_json_schema() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert schema["$schema"].endswith("2020-12/schema")
    assert set(schema["discriminator"]["mapping"]) == {"Environment", "FunctionalSet"}
