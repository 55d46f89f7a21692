"""`reconciler autoscale simulate` end to end: the documented example prints what the doc says, the
JSON output has exactly the documented fields, and bad input is exit 3 with file:line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.store import Store

PROJECT = Path(__file__).resolve().parents[2]
DOC = PROJECT / "docs" / "autoscaling.md"


def simulate(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb")
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "autoscale", "simulate", str(path), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def doc_blocks(kind: str) -> list[str]:
    """The blocks of the doc's `autoscale simulate` section."""
    section = DOC.read_text().split("## `reconciler autoscale simulate`", 1)[1]
    return re.findall(rf"```{kind}\n(.*?)```", section, re.S)


def test_history_options_without_from_history_or_with_a_file_are_usage_errors(tmp_path: Path) -> None:
    example = tmp_path / "load.yaml"
    example.write_text(doc_blocks("yaml")[0])
    both = simulate(example, "--from-history", "/shop/web")
    assert both.returncode == 2 and "not both" in both.stderr, both.stderr
    alone = simulate(example, "--since", "1h")
    assert alone.returncode == 2 and "go with --from-history" in alone.stderr, alone.stderr


def test_from_history_of_a_store_without_samples_names_none(tmp_path: Path) -> None:
    Store.open(tmp_path / "history.db").close()
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb")
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "autoscale", "simulate", "--from-history", "web", "--since", "1h",
         "--database", str(tmp_path / "history.db")],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )
    assert result.returncode == 2, result.stderr
    message = " ".join(result.stderr.split())
    assert "no autoscale samples of web in the last 1h" in message and "none (no autoscale samples" in message


def test_the_documented_example_prints_what_the_doc_shows(tmp_path: Path) -> None:
    example = tmp_path / "load.yaml"
    example.write_text(doc_blocks("yaml")[0])
    result = simulate(example)
    assert result.returncode == 0, result.stderr
    assert result.stdout == doc_blocks("text")[0]


def test_json_output_has_exactly_the_documented_fields(tmp_path: Path) -> None:
    example = tmp_path / "load.yaml"
    example.write_text(doc_blocks("yaml")[0])
    result = simulate(example, "-o", "json")
    assert result.returncode == 0, result.stderr
    steps = json.loads(result.stdout)["steps"]
    assert [s["instances"] for s in steps] == [4, 1]
    assert all(set(s) == {"at", "instances", "recommendation", "metrics", "limitedBy", "reason"} for s in steps)
    assert steps[0]["metrics"] == [{"name": "cpu", "current": 90.0, "target": 50.0, "proposal": 4}]


def test_json_input_works_too(tmp_path: Path) -> None:
    path = tmp_path / "load.json"
    body = {
        "policy": {"min": 1, "max": 5, "metrics": [{"prometheus": {"query": "sum(q)", "target": {"value": 10}}}]},
        "instances": 2,
        "history": {"recommendations": [], "scaleEvents": []},
        "steps": [{"at": 0, "tasks": [{"healthy": True}, {"healthy": True}], "external": {"sum(q)": 40}}],
    }
    path.write_text(json.dumps(body))
    result = simulate(path, "-o", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["steps"][0]["instances"] == 4  # ceil(40/10 x 2 ready) = 8, legacy limit 4


@pytest.mark.parametrize(
    ("body", "line", "field", "message"),
    [
        (
            "policy: {min: 5, max: 2, metrics: [{cpu: 50%}]}\ninstances: 1\nsteps: [{at: 0}]\n",
            1,
            "policy",
            "min (5) is greater than max (2)",
        ),
        (
            "policy: {min: 1, max: 2, metrics: [{gpu: 50%}]}\ninstances: 1\nsteps: [{at: 0}]\n",
            1,
            "policy.metrics[0].gpu",
            "unknown key",
        ),
        (
            "policy: {min: 1, max: 2, metrics: [{cpu: 50%}], tolerance: -5%}\ninstances: 1\nsteps: [{at: 0}]\n",
            1,
            "policy.tolerance",
            "not a percentage",
        ),
        (
            "policy: {min: 1, max: 2, metrics: [{cpu: 50%}]}\ninstances: 1\nsteps:\n  - at: 5\n  - at: 0\n",
            3,
            "steps",
            "steps go forward in time",
        ),
        (
            "policy: {min: 1, max: 2, metrics: [{cpu: 50%}]}\ninstances: 1\nsteps:\n  - at: .inf\n",
            4,
            "steps[0].at",
            "finite",
        ),
    ],
)
def test_bad_input_is_exit_3_with_file_line_and_field(
    tmp_path: Path, body: str, line: int, field: str, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    result = simulate(path)
    assert result.returncode == 3, result.output if hasattr(result, "output") else result.stderr
    assert f"{path}:{line}: {field}: " in result.stdout, result.stdout
    assert message in result.stdout
    assert "Traceback" not in result.stderr


def test_run_refuses_a_samples_retention_that_is_not_a_duration(tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb")
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "run", str(tmp_path / "specs"), "--autoscale-samples-keep", "soon",
         "--database", str(tmp_path / "history.db")],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "--autoscale-samples-keep: 'soon' is not a duration" in " ".join(result.stderr.split())
    assert not (tmp_path / "history.db").exists()  # refused before anything ran
