"""Terminal output (face layer): the one module that talks to Rich.

Everything written to stdout and stderr through it (text, tables, JSON documents, errors) passes
through reconciler.redaction with the secrets the command was given (`protect_secrets`). Into a pipe
or a file, lines are plain and never wrapped: one status row is one line, whatever the terminal around.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from rich.console import Console, ConsoleDimensions
from rich.markup import escape

from reconciler.errors import ReconcilerError, SpecError
from reconciler.redaction import redact


class _Mode:
    """Set by a command run with `-o json`: its errors then also go to stdout as one JSON document.
    `secrets`: every form of the credentials this process was given, masked wherever they appear."""

    json = False
    secrets: tuple[str, ...] = ()


def use_json_output(enabled: bool) -> None:
    _Mode.json = enabled


def protect_secrets(secrets: Iterable[str]) -> None:
    """Mask these values (and any URL userinfo or authorization header) in everything printed."""
    _Mode.secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))


def scrubbed(text: str) -> str:
    return redact(text, _Mode.secrets)


class _ScrubbedStream:
    """The current sys.stdout or sys.stderr (looked up at each write, as Rich does), scrubbed."""

    def __init__(self, name: str) -> None:
        self._name = name

    @property
    def _stream(self) -> TextIO:
        stream: TextIO = getattr(sys, self._name)
        return stream

    def write(self, text: str) -> int:
        return self._stream.write(scrubbed(text))

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", None) or "utf-8"


# Wide enough that no table or line is ever cut; tables still print at their natural width.
UNWRAPPED_WIDTH = 10_000


class _Console(Console):
    """A Console that, writing anywhere but a terminal, never wraps. Rich would wrap at 80 columns,
    or at the width of whichever of stdin/stdout/stderr is a terminal, and cut a log reader's lines."""

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        return size if self.is_terminal else ConsoleDimensions(UNWRAPPED_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


console = _Console(file=_ScrubbedStream("stdout"), highlight=False)  # type: ignore[arg-type]
err_console = _Console(file=_ScrubbedStream("stderr"), highlight=False)  # type: ignore[arg-type]


def print_lines(lines: list[str]) -> None:
    """Lines of markup on stdout, in one print: Rich's cost per call, not per line, was most of printing
    a plan of 10,000 actions (the output is the same as printing each line with `soft_wrap=True`)."""
    if lines:
        console.print("\n".join(lines), soft_wrap=True)


def print_json_document(document: Any) -> None:
    """A JSON document on stdout, indented by 2, as `console.print_json(json.dumps(document, default=str))`
    prints it. Into a pipe or a file no colour shows, so the text is written as is: Rich's highlighting
    of a 10,000-app document takes seconds."""
    text = json.dumps(document, default=str)
    if console.is_terminal:
        console.print_json(text)
        return
    # Rich reads the text back and writes it again indented, keeping non-ASCII characters as they are.
    console.file.write(json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n")
    console.file.flush()


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
        print_json_document(error_document(exc))


def print_error(message: str) -> None:
    """One clear line (or one line per problem) on stderr, never a traceback."""
    for line in message.splitlines() or [message]:
        err_console.print(f"[bold red]error:[/] {escape(line)}", markup=True, soft_wrap=True)


def print_warning(message: str) -> None:
    err_console.print(f"[bold yellow]warning:[/] {escape(message)}", markup=True, soft_wrap=True)


def is_tty() -> bool:
    return sys.stdout.isatty()
