"""Advice on a valid tree: an environment without `dns` is told that bare app names will not resolve in
its containers, on stderr of `validate` and `render`, with exit 0; one with `dns` (own or its base's) is not."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from reconciler.cli.main import app
from reconciler.spec import dns_warnings, empty_file_warnings, load_specs
from tests.unit.spec.spec_tree import HEADER, write_tree

TREE = {
    "specs/a.yaml": HEADER + "name: plain\napps:\n  web: {image: web}\n",
    "specs/b.yaml": HEADER + "name: named\ndns: {domain: consul}\napps:\n  web: {image: web}\n",
    "specs/c.yaml": "apiVersion: reconciler/v1\nkind: FunctionalSet\nbase: named\nsets:\n  func-1:\n"
    "    apps:\n      web: {}\n",
}


def test_only_an_environment_without_dns_is_warned(tmp_path: Path) -> None:
    specs = load_specs(write_tree(tmp_path, TREE))
    [warning] = dns_warnings(specs)
    assert (warning.file, warning.line) == (f"{tmp_path}/specs/a.yaml", 3)
    assert warning.message == (
        "environment 'plain' has no `dns`: its containers get no `dns-search plain.query.consul`,"
        " so bare app names (`redis`) will not resolve in them"
    )
    assert warning.hint is not None and "plain.query.consul" in warning.hint
    assert dns_warnings(specs, env="named") == []


def test_validate_and_render_print_the_warning_on_stderr_and_exit_0(tmp_path: Path) -> None:
    specs = str(write_tree(tmp_path, TREE))
    runner = CliRunner()
    for args in (["validate", specs], ["render", specs, "--env", "plain"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert f"warning: {tmp_path}/specs/a.yaml:3: environment 'plain' has no `dns`" in result.stderr
        assert "warning" not in result.stdout
    quiet = runner.invoke(app, ["render", specs, "--env", "func-1"])
    assert quiet.exit_code == 0 and "warning" not in quiet.stderr


def test_a_spec_file_that_declares_nothing_is_warned_by_validate(tmp_path: Path) -> None:
    # A truncated file (a bad merge, an editor) dropped its environment from the tree without a word.
    tree = {**TREE, "specs/d.yaml": "# emptied by a merge\n---\n", "specs/e.yaml": ""}
    specs = load_specs(write_tree(tmp_path, tree))
    assert [w.file for w in empty_file_warnings(specs)] == [f"{tmp_path}/specs/d.yaml", f"{tmp_path}/specs/e.yaml"]
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "specs")])
    assert result.exit_code == 0, result.output
    assert f"warning: {tmp_path}/specs/e.yaml: the file declares no environment" in result.output
    assert not empty_file_warnings(load_specs(write_tree(tmp_path / "full", TREE)))
