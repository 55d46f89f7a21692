"""A command imports what it needs only (cli/main.py LazyCommands): `validate` starts without the
sandbox, the store, the Prometheus client or the Docker SDK, `--help` lists every command without
importing any command module, and its list is the real commands' names and help. A command's own
`--help` imports none of its work (each module names its flags; its work is imported when it runs),
and a command imports the store, the engine or the clients only on the path that uses them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from aiohttp import web
from typer.testing import CliRunner

from reconciler.cli.main import COMMAND_MODULES, LISTED_COMMANDS, LazyCommands, app
from tests.e2e.cli import answering
from tests.unit.spec.spec_tree import HEADER, write_tree

HEAVY = ("reconciler.sandbox", "reconciler.store", "sqlmodel", "sqlalchemy", "aiohttp", "prometheus_client", "docker")
# What no command's --help needs: besides HEAVY, the controller's scheduler and machinery, the web
# server, the clients (httpx), the spec loader (Jinja2) and the engine's sync.
NOT_FOR_HELP = (*HEAVY, "apscheduler", "httpx", "jinja2", "reconciler.web", "reconciler.marathon", "reconciler.consul",
                "reconciler.metrics.mesos", "reconciler.spec", "reconciler.engine.sync", "reconciler.engine.controller")
PROBE = """
import sys
from reconciler.cli.main import main
sys.argv = ["reconciler", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
print("EXIT", code)
print("LOADED", " ".join(sorted(sys.modules)))
"""


def loaded_by(*args: str) -> tuple[str, set[str]]:
    command = [sys.executable, "-c", PROBE, *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines() if line.startswith(("EXIT", "LOADED")))
    return lines["EXIT"], set(lines["LOADED"].split())


def test_validate_imports_none_of_the_heavy_packages(tmp_path: Path) -> None:
    specs = write_tree(tmp_path, {"specs/a.yaml": HEADER + "name: a\ndns: {domain: consul}\napps:\n  web: {cmd: x}\n"})
    code, modules = loaded_by("validate", str(specs))
    assert code == "0"
    assert not [m for m in modules if m.startswith(HEAVY)]


def test_help_lists_every_command_and_a_typo_gets_a_suggestion() -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["--help"]).output
    assert all(f" {name} " in listed for name in COMMAND_MODULES)
    typo = runner.invoke(app, ["valdate"])
    assert typo.exit_code == 2 and "validate" in typo.output


def test_each_invocation_builds_its_commands_again() -> None:
    """Typer builds a new group per call: a command loaded by an earlier call is there in the next."""
    runner = CliRunner()
    for _ in range(2):
        result = runner.invoke(app, ["schema"])
        assert result.exit_code == 0 and '"properties"' in result.output


def test_plan_and_apply_import_no_store_when_no_environment_requires_an_approval(tmp_path: Path) -> None:
    """The store is what an approval reads; an apply in scope of none, and every plan, start without it
    (Marathon is a closed loopback port here: the command fails after the imports, exit 1)."""
    specs = write_tree(tmp_path, {"specs/a.yaml": HEADER + "name: a\napps:\n  web: {cmd: x}\n"})
    closed = ("--marathon", "http://127.0.0.1:9")
    for command in (("plan", "--no-consul"), ("apply", "--no-consul"), ("apply", "--dry-run", "--no-consul")):
        code, modules = loaded_by(*closed, *command, str(specs))
        assert code == "1", command
        assert "reconciler.cli.plan_steps" in modules and not [m for m in modules if m.startswith(HEAVY)], command


def test_the_listed_commands_are_the_real_ones_with_their_help() -> None:
    """Every command the modules register, in the order help always gave (the modules', then the ones a
    module adds), each with the help its module declares: the table must follow a command's docstring."""
    group = typer.main.get_group(app)
    assert isinstance(group, LazyCommands)
    group.load(COMMAND_MODULES)
    names = [n for n in COMMAND_MODULES if n in group.commands]
    names += [n for n in group.commands if n not in COMMAND_MODULES]
    real = {name: group.commands[name] for name in names}
    assert list(LISTED_COMMANDS) == names
    assert {name: command.short_help or command.help for name, command in real.items()} == LISTED_COMMANDS
    assert not [name for name, command in real.items() if command.hidden or command.deprecated
                or getattr(command, "rich_help_panel", None)]


def test_help_imports_no_command_module_and_shows_each_help() -> None:
    code, modules = loaded_by("--help")
    assert code == "0"
    assert not [m for m in modules if m.startswith("reconciler.cli.") and m.split(".")[2] in COMMAND_MODULES]
    runner = CliRunner()
    listed = " ".join(runner.invoke(app, ["--help"]).output.replace("│", " ").split())  # rows of a boxed table
    for name, text in LISTED_COMMANDS.items():
        assert f" {name} {' '.join(text.split())}" in listed, name


def test_a_command_listed_by_help_still_runs_and_shows_its_own_help() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["autoscale", "--help"])
    assert result.exit_code == 0 and "simulate" in result.output
    assert runner.invoke(app, ["plan", "--help"]).exit_code == 0


@pytest.mark.parametrize("command", [
    ("validate",), ("render",), ("schema",), ("plan",), ("apply",), ("run",), ("status",), ("history",),
    ("approve",), ("rollback",), ("resume",), ("autoscale", "simulate"), ("sandbox", "up"),
], ids=" ".join)
def test_a_commands_help_imports_none_of_its_work(command: tuple[str, ...]) -> None:
    code, modules = loaded_by(*command, "--help")
    assert code == "0", command
    assert not [m for m in modules if m.startswith(NOT_FOR_HELP)], command


async def test_a_status_the_controller_answers_imports_no_store_engine_or_spec_loader() -> None:
    """The store, the Marathon and Consul clients and the engine build a status only when no controller
    answers (cli/status.py): asking a live controller needs an HTTP GET."""
    document = {"environments": {"prod": {"sync": "Synced", "health": "Healthy", "apps": 0}}, "apps": {}}

    async def status(request: web.Request) -> web.Response:
        return web.json_response(document)

    async with answering(status) as address:
        code, modules = await asyncio.to_thread(loaded_by, "status", "--controller", f"http://{address}", "-o", "json")
    assert code == "0"
    assert not [m for m in modules if m.startswith((*HEAVY, "reconciler.engine.status", "reconciler.marathon",
                                                     "reconciler.consul", "reconciler.spec"))]


def test_a_simulation_from_a_file_imports_no_store(tmp_path: Path) -> None:
    """Only `--from-history` reads the store."""
    section = (Path(__file__).resolve().parents[3] / "docs" / "autoscaling.md").read_text()
    example = section.split("## `reconciler autoscale simulate`", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "load.yaml").write_text(example)
    code, modules = loaded_by("autoscale", "simulate", str(tmp_path / "load.yaml"))
    assert code == "0"
    assert not [m for m in modules if m.startswith(HEAVY)]


@pytest.mark.parametrize(("since", "code"), [("1h30m", "1"), ("5x", "2")])
def test_history_since_reads_its_duration_without_the_spec_package(tmp_path: Path, since: str, code: str) -> None:
    """`--since` shares the spec files' duration syntax (core/durations.py) but not the spec package,
    whose import (pydantic models, Jinja2, the loader) cost 0.35 s. Exit 1: the duration was read, then
    the missing database named; exit 2: the duration refused as a usage error."""
    code_seen, modules = loaded_by("history", "--since", since, "--database", str(tmp_path / "none.db"))
    assert code_seen == code
    assert not [m for m in modules if m.startswith(("reconciler.spec", "jinja2"))]
