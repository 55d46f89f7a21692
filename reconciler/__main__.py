"""Entry point for `python -m reconciler`: the CLI face."""

from reconciler.cli.main import entry

entry()
