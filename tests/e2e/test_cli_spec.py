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
from reconciler.errors import ReconcilerError
from reconciler.sandbox.marathon import MarathonSandbox
from tests.e2e.cli import copy_example_tree, run_cli
from tests.sandbox.marathon.fixtures import fast_config

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


def test_render_unknown_environment_is_a_usage_error_exit_2() -> None:
    """The specs are valid; the flag names nothing: exit 2 (usage), not 3 (invalid specs)."""
    result = run_reconciler("render", "specs", "--env", "func-3")
    assert result.returncode == 2
    assert "--env func-3: the specs have no environment named 'func-3'" in result.stderr and result.stdout == ""
    assert "the environments are: func-1, func-2, integration" in result.stderr


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


def empty_trees(tmp_path: Path) -> list[tuple[Path, str]]:
    """A folder with no spec file (hidden and backup files only), a mistyped path, and a folder whose
    only spec file declares nothing; with what the problem says about each."""
    empty = tmp_path / "empty"
    (empty / ".git").mkdir(parents=True)
    (empty / ".git" / "HEAD.yaml").write_text("a: 1\n")  # hidden: not a spec
    (empty / "notes.yaml~").write_text("a: 1\n")
    comments = tmp_path / "comments"
    comments.mkdir()
    (comments / "a.yaml").write_text("# nothing yet\n---\n")
    return [
        (empty, "no spec files (*.yaml, *.yml) in this folder"),
        (tmp_path / "chekout" / "specs", "no such file or folder"),
        (comments, "no environment is declared in the 1 spec file(s)"),
    ]


@pytest.mark.parametrize("command", ["validate", "render", "plan", "apply"])
def test_an_empty_missing_or_environment_less_tree_is_invalid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """A mistyped checkout path must not look like "nothing to run": exit 3 naming the path, before
    any remote is contacted (the Marathon URL here answers nothing)."""
    for folder, message in empty_trees(tmp_path):
        extra = ["--no-consul"] if command in ("plan", "apply") else []
        result = runner.invoke(app, ["--marathon", "http://127.0.0.1:9", command, str(folder), *extra])
        error = result.exception if isinstance(result.exception, ReconcilerError) else None
        code = error.exit_code if error is not None else result.exit_code  # as reconciler.cli.main:main maps it
        assert code == 3, (command, folder, result.output, result.exception)
        assert f"{folder}: {message}" in result.output + str(error or ""), result.output


def test_run_refuses_an_empty_missing_or_environment_less_tree(tmp_path: Path) -> None:
    """The controller exits 3 at once instead of reconciling "nothing" (bounded: one cycle at most). The
    mistyped path goes through a real process (the exit code as a user sees it); the other two trees take
    the same refusal in process, as the other commands' do above."""
    (empty, no_files), missing, (comments, declares_nothing) = empty_trees(tmp_path)
    def args(folder: Path) -> list[str]:
        return ["--marathon", "http://127.0.0.1:9", "run", str(folder), "--no-consul", "--cycles", "1"]

    result = run_reconciler(*args(missing[0]), cwd=tmp_path)
    assert result.returncode == 3, (missing, result.stdout + result.stderr)
    assert f"{missing[0]}: {missing[1]}" in result.stdout + result.stderr, result.stdout + result.stderr
    for folder, message in ((empty, no_files), (comments, declares_nothing)):
        ran = runner.invoke(app, args(folder))
        error = ran.exception if isinstance(ran.exception, ReconcilerError) else None
        code = error.exit_code if error is not None else ran.exit_code  # as reconciler.cli.main:main maps it
        assert code == 3, (folder, ran.output, ran.exception)
        assert f"{folder}: {message}" in ran.output + str(error or ""), ran.output


def test_a_yaml_error_in_a_base_file_is_reported_alone(tmp_path: Path) -> None:
    """The sets over a base whose file does not parse are not reported as "base does not exist"."""
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "a-functional.yaml").write_text(
        "apiVersion: reconciler/v1\nkind: FunctionalSet\nbase: integration\nsets: {func-1: {}}\n"
    )
    (specs / "b-base.yaml").write_text(
        "apiVersion: reconciler/v1\nkind: Environment\nname: integration\napps:\n  web: {image: [x\n"
    )
    result = run_reconciler("validate", str(specs), cwd=tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith(str(specs))]
    assert len(lines) == 1 and lines[0].startswith(f"{specs}/b-base.yaml:6: invalid YAML"), result.stdout


@pytest.mark.slow
async def test_one_spec_file_is_a_tree_for_plan_apply_and_run(tmp_path: Path) -> None:
    """docs/spec.md: every command takes SPECS as a folder or one file (the file's environments only)."""
    specs = copy_example_tree(tmp_path)
    file = specs / "integration.yaml"
    async with MarathonSandbox(fast_config(keep_event_history=False)) as sandbox:
        planned = await run_cli("plan", str(file), marathon=sandbox.url)
        assert planned.code == 2, planned.output
        assert "+ /integration/redis" in planned.stdout and "/func-1/" not in planned.stdout
        assert "Plan: 8 to create." in planned.stdout
        applied = await run_cli("apply", str(file), marathon=sandbox.url)
        assert applied.code == 0, applied.output
        ran = await run_cli("run", str(file), "--cycles", "1", marathon=sandbox.url)
        assert ran.code == 0, ran.output
        assert "invalid" not in ran.output
        again = await run_cli("plan", str(file), marathon=sandbox.url)
        assert again.code == 0, again.output
