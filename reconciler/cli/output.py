"""Terminal output (face layer): the one module that talks to Rich."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

from reconciler.errors import ReconcilerError, SpecError

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


class _Mode:
    """Set by a command run with `-o json`: its errors then also go to stdout as one JSON document."""

    json = False


def use_json_output(enabled: bool) -> None:
    _Mode.json = enabled


def error_document(exc: ReconcilerError) -> dict[str, Any]:
    """What `-o json` prints on stdout when the command fails: the code, message and hint, or every
    spec problem with its place."""
    error: dict[str, Any] = {"code": exc.code, "message": exc.message, "exit_code": exc.exit_code}
    if exc.hint:
        error["hint"] = exc.hint
    if isinstance(exc, SpecError):
        error["problems"] = [
            {"file": p.file, "line": p.line, "field": p.field, "message": p.message, "hint": p.hint}
            for p in exc.problems
        ]
    return {"error": error}


def report_error(exc: ReconcilerError) -> None:
    """The error on stderr (always), and as JSON on stdout for a command run with `-o json`."""
    print_error(str(exc))
    if _Mode.json:
        console.print_json(json.dumps(error_document(exc), default=str))


def print_error(message: str) -> None:
    """One clear line (or one line per problem) on stderr, never a traceback."""
    for line in message.splitlines() or [message]:
        err_console.print(f"[bold red]error:[/] {escape(line)}", markup=True, soft_wrap=True)


def is_tty() -> bool:
    return sys.stdout.isatty()
