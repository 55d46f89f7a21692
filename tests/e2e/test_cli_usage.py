"""Usage errors and `--help` as a user meets them: exit 2, one line naming the flag (real CLI, subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.store import Store
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



@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "-inf"])
def test_a_timeout_that_is_not_a_positive_number_of_seconds_is_a_usage_error(value: str) -> None:
    # Before: 0 and -1 ran and reported "no answer in time" (exit 1), nan ended in a traceback.
    result = reconciler(f"--timeout={value}", "plan", "specs", "--no-consul")
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: --timeout") and value in line and "seconds" in line, line


@pytest.mark.parametrize("command", ["apply", "rollback"])
@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf"])
def test_a_deadline_that_is_not_a_positive_number_of_seconds_is_a_usage_error(command: str, value: str) -> None:
    # Before: apply ran with any of them (nan and inf waited forever, 0 and -5 timed out at once).
    args = ["integration", "--to", "abc"] if command == "rollback" else ["specs", "--no-consul"]
    result = reconciler(command, *args, f"--deadline={value}")
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: --deadline") and value in line, line


@pytest.mark.parametrize("flag", ["--agent-cpus", "--agent-mem"])
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_sandbox_agent_resources_must_be_finite(flag: str, value: str) -> None:
    # Before: `--agent-cpus nan` started a sandbox whose agents could never take a task.
    result = reconciler("sandbox", "up", "--marathon-port", "0", "--consul-port", "0", "--dns-port", "0",
                        f"{flag}={value}")
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "cpus, mem and disk" in line, line


@pytest.mark.parametrize(
    ("args", "flag"),
    [(("plan", "specs", "--no-such-flag"), "--no-such-flag"), (("run", "specs", "--resync", "0"), "--resync"),
     (("plan", "specs", "-o", "yaml"), "--output")],
)
def test_a_bad_flag_is_one_error_line_naming_it(args: tuple[str, ...], flag: str) -> None:
    # The README promises one line naming the flag; click printed a usage line, a "Try" line and the error.
    result = reconciler(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and flag in line and f"reconciler {args[0]} --help" in line, line


def test_insecure_says_it_skips_the_verification_of_marathon_only() -> None:
    # Only the Marathon client takes `verify=not insecure` (cli/adapters.py); the help said "Skip TLS verification".
    shown = " ".join(reconciler("--help").stdout.replace("│", " ").split())
    assert "Skip the TLS verification of Marathon (not recommended); Consul's is always verified." in shown


@pytest.mark.parametrize(
    ("args", "flag"),
    [(("plan", "specs", "--consul", "http://ops:pw-9@[::1"), "--consul"),
     (("apply", "specs", "--consul", "consul:8500"), "--consul"),
     (("status", "--controller", "localhost:9090"), "--controller")],
)
def test_a_command_url_that_is_not_one_is_a_usage_error(args: tuple[str, ...], flag: str) -> None:
    # Before: plan's `--consul` with a broken URL ended in a traceback, and status took any --controller
    # for "no controller answered" and went on to the store.
    result = reconciler(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {flag}: not ") and "pw-9" not in line, line


def test_history_of_an_unknown_environment_or_beyond_any_date_is_a_usage_error(tmp_path: Path) -> None:
    # Before: `--env nope` printed nothing with exit 0 (as a quiet environment does), and a --since past
    # year 1 ended in an OverflowError traceback.
    database = str(tmp_path / "history.db")
    Store.open(database).close()
    unknown = reconciler("history", "--database", database, "--env", "nope")
    assert unknown.returncode == 2, unknown.stdout + unknown.stderr
    assert unknown.stderr.strip() == ("error: --env: no environment 'nope' in the store"
                                      " (hint: the environments are: none recorded yet)")
    ancient = reconciler("history", "--database", database, "--since", "99999999999h")
    assert ancient.returncode == 2, ancient.stdout + ancient.stderr
    [line] = ancient.stderr.strip().splitlines()
    assert line.startswith("error: --since: '99999999999h' is longer than 2147483647 seconds"), line


@pytest.mark.parametrize(
    "flags",
    [("--marathon-password", "pw-Hidden-7"),
     ("--marathon-token", "tok-Hidden-8", "--marathon-user", "ops", "--marathon-password", "pw-Hidden-7")],
)
def test_marathon_credentials_that_would_be_ignored_are_a_usage_error(flags: tuple[str, ...]) -> None:
    # Before: a password without a user was never sent, and a token silently won over a user and password.
    result = reconciler(*flags, "plan", "specs", "--no-consul")
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: --marathon-") and "Hidden" not in result.stdout + result.stderr, line


def test_status_of_a_tree_without_a_controller_or_store_points_at_plan(tmp_path: Path) -> None:
    # After one-off applies (which record no sync) there is no store: say what compares instead.
    result = reconciler("status", "specs", "--controller", NOWHERE, "--database", str(tmp_path / "none.db"),
                        "--no-consul")
    assert result.returncode == 1, result.stdout + result.stderr
    [line] = result.stderr.strip().splitlines()
    assert f"no history database at {tmp_path}/none.db" in line
    assert line.endswith("without a controller, `reconciler plan SPECS` shows what differs from the specs)"), line


@pytest.mark.parametrize("args", [(), ("sandbox",)])
def test_a_command_without_arguments_prints_its_help_and_no_error_line(args: tuple[str, ...]) -> None:
    result = subprocess.run([sys.executable, "-m", "reconciler", *args], capture_output=True, text=True, timeout=60,
                            check=False, cwd=PROJECT, env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.returncode == 2 and "Usage: " in result.stdout, result.stdout + result.stderr
    assert "error" not in result.stderr, result.stderr
