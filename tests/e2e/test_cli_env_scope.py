"""`plan --env X` (and apply, render) when environment Y of the tree is broken: still exit 3, since the
controller applies a commit whole, and the error names Y's file:line and why `--env X` does not skip it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.cli import copy_example_tree

NOWHERE = "http://127.0.0.1:9"  # an invalid tree is refused before any remote is asked


def reconciler(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "--marathon", NOWHERE, *args],
        capture_output=True, text=True, timeout=60, check=False, cwd=cwd, env={"COLUMNS": "200", "NO_COLOR": "1"},
    )


def break_func_2(specs: Path, line: str) -> int:
    """Adds `line` under func-2 in functional.yaml; returns the line number it lands on."""
    path = specs / "functional.yaml"
    lines = path.read_text().splitlines()
    at = next(index for index, text in enumerate(lines) if text.startswith("  func-2:"))
    lines.insert(at + 1, line)
    path.write_text("\n".join(lines) + "\n")
    return at + 2


@pytest.mark.parametrize("command", [("plan", "--no-consul"), ("apply", "--no-consul", "--dry-run"), ("render",)])
def test_env_fails_on_another_environments_problem_and_says_why(tmp_path: Path, command: tuple[str, ...]) -> None:
    specs = copy_example_tree(tmp_path)
    line = break_func_2(specs, "    imgae: x")
    result = reconciler(tmp_path, command[0], "specs", "--env", "integration", *command[1:])
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"specs/functional.yaml:{line}: sets.func-2.imgae: unknown key 'imgae'" in result.stderr
    explained = next(text for text in result.stderr.splitlines() if "does not skip" in text)
    assert f"--env integration does not skip environment func-2 (specs/functional.yaml:{line})" in explained
    assert "applies a commit whole" in explained
    assert "Traceback" not in result.stderr


def test_plan_env_fails_on_another_environments_chart_problem_too(tmp_path: Path) -> None:
    # integration renders alone; func-2's web does not: the whole tree is what the controller would load.
    copy_example_tree(tmp_path)
    # A template problem in func-2 alone (a value of the wrong type is refused earlier, by the chart's schema).
    template = tmp_path / "charts" / "web" / "templates" / "web.yaml"
    template.write_text("{% if env == 'func-2' %}{{ values.nosuch }}{% endif %}" + template.read_text())
    result = reconciler(tmp_path, "plan", "specs", "--env", "integration", "--no-consul", "-o", "json")
    assert result.returncode == 3, result.stdout + result.stderr
    error = json.loads(result.stdout)["error"]
    assert {p["field"].split("/")[0] for p in error["problems"]} == {"func-2"}
    assert error["hint"].startswith("--env integration does not skip environment func-2 (charts/web/templates/")


def test_env_with_its_own_problem_gets_no_word_on_scope(tmp_path: Path) -> None:
    specs = copy_example_tree(tmp_path)
    break_func_2(specs, "    imgae: x")
    result = reconciler(tmp_path, "plan", "specs", "--env", "func-2", "--no-consul")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "does not skip" not in result.stderr and "sets.func-2.imgae" in result.stderr
