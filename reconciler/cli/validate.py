"""`reconciler validate` (face layer): load and render a spec tree, print every problem found.

Exit 0 with a one-line summary when the specs are valid, 3 with one `file:line: field: message
(hint: ...)` line per problem when they are not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import typer

from reconciler.cli.plan_opts import ChartsOpt, SpecsArg
from reconciler.errors import ExitCode, SpecError, SpecProblem

if TYPE_CHECKING:
    from reconciler.core.model import Desired

T = TypeVar("T")



def register(app: typer.Typer) -> None:
    app.command("validate")(validate_command)


def validate_command(specs: SpecsArg, charts: ChartsOpt = None) -> None:
    """Check spec files and charts; report every problem at once (exit 3 when any)."""
    from reconciler.gc_pause import gc_paused
    from reconciler.spec import dns_warnings, empty_file_warnings, load_specs, render_desired  # not for --help

    # The process ends after one load: collecting garbage cycles among thousands of live apps again
    # and again would cost a fifth of it (reference counting still frees everything else).
    with gc_paused():
        specset = load_or_exit(lambda: load_specs(specs, charts_dir=charts))
        desired = load_or_exit(lambda: render_desired(specset))
    print_warnings(empty_file_warnings(specset) + dns_warnings(specset))
    typer.echo(summary(desired, files=len(specset.files)))


def print_warnings(warnings: list[SpecProblem]) -> None:
    """Advice on stderr (stdout stays the command's output); the exit code does not change."""
    for warning in warnings:
        typer.echo(f"warning: {warning.render()}", err=True)


def load_or_exit(load: Callable[[], T], *, problems_to_stderr: bool = False) -> T:
    """The result of `load`; on SpecError prints every problem (plain text, greppable) and exits 3.

    `validate` prints the problems on stdout (they are its output); commands whose stdout is data
    (render) print them on stderr, so `render ... > apps.json` never writes them into the file.
    """
    try:
        return load()
    except SpecError as exc:
        for problem in exc.problems:
            typer.echo(problem.render(), err=problems_to_stderr)
        if exc.hint:
            typer.echo(exc.hint, err=problems_to_stderr)
        count = len(exc.problems)
        typer.echo(f"invalid: {count} problem{'s' if count != 1 else ''}", err=True)
        raise typer.Exit(ExitCode.INVALID_SPEC) from None


def summary(desired: Desired, *, files: int) -> str:
    functional = sum(1 for env in desired.environments.values() if env.base)
    complete = len(desired.environments) - functional
    names = ", ".join(desired.environments)
    return (
        f"valid: {len(desired.environments)} environments ({complete} complete, {functional} functional: {names}), "
        f"{len(desired.apps)} apps, {files} files"
    )
