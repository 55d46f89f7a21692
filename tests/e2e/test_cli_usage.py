"""Usage errors and `--help` as a user meets them: exit 2, one line naming the flag (real CLI, subprocess)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.e2e.cli import PROJECT

NOWHERE = "http://127.0.0.1:9"  # discard port: nothing a usage error does may need a remote


def reconciler(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "--marathon", NOWHERE, *args],
        capture_output=True, text=True, timeout=60, check=False, cwd=PROJECT, env={"COLUMNS": "200", "NO_COLOR": "1"},
    )


def test_help_states_the_log_level_defaults_that_commands_use() -> None:
    shown = " ".join(reconciler("--help").stdout.split())
    assert "DEBUG, INFO, WARNING, ERROR (default: ERROR; INFO for run)." in shown


@pytest.mark.parametrize("command", ["render", "validate", "plan"])
def test_an_unknown_env_is_a_usage_error_naming_the_flag_and_the_environments(command: str) -> None:
    args = [command, "specs", "--env", "nope"] + (["--no-consul"] if command == "plan" else [])
    if command == "validate":  # validate takes no --env: click's own usage error, also 2
        result = reconciler(command, "specs", "--env", "nope")
        assert result.returncode == 2 and "--env" in result.stderr, result.stderr
        return
    result = reconciler(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "--env nope" in line and "func-1, func-2, integration" in line


def test_an_unknown_log_level_is_a_usage_error() -> None:
    result = reconciler("--log-level", "LOUD", "render", "specs")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "--log-level 'LOUD'" in line and "DEBUG, INFO, WARNING, ERROR" in line


def test_an_unknown_log_format_is_a_usage_error_naming_the_flag() -> None:
    result = reconciler("--log-format", "yaml", "render", "specs")
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "--log-format 'yaml'" in line and "text, json" in line

