"""Log setup (face layer): one key=value line per event, on stderr, every line scrubbed of secrets.

The level is `--log-level` when given; otherwise ERROR, except for `run`, which logs its cycles
(INFO): `DEFAULT_LEVEL` and `RUN_DEFAULT_LEVEL` are what `--help` and docs/controller.md show.
"""

from __future__ import annotations

import logging
import sys

from reconciler.cli.output import scrubbed
from reconciler.errors import UsageError

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEFAULT_LEVEL = "ERROR"
RUN_DEFAULT_LEVEL = "INFO"


class _ScrubbingFormatter(logging.Formatter):
    """The whole formatted line (message, arguments, traceback) passes through the redaction."""

    def format(self, record: logging.LogRecord) -> str:
        return scrubbed(super().format(record))


def check_level(level: str) -> str:
    """The level, upper-cased; a UsageError naming `--log-level` for anything else."""
    if level.upper() not in LEVELS:
        raise UsageError(f"--log-level {level!r} is not a level", hint=f"use one of {', '.join(LEVELS)}")
    return level.upper()


def configure_logging(level: str = DEFAULT_LEVEL) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ScrubbingFormatter("%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(check_level(level))
    for noisy in ("httpx", "httpcore", "apscheduler", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
