"""Terminal output (face layer): the one module that talks to Rich."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.markup import escape

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def print_error(message: str) -> None:
    """One clear line (or one line per problem) on stderr, never a traceback."""
    for line in message.splitlines() or [message]:
        err_console.print(f"[bold red]error:[/] {escape(line)}", markup=True, soft_wrap=True)


def is_tty() -> bool:
    return sys.stdout.isatty()
