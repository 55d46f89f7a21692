"""Log setup (face layer): one key=value line per event, on stderr, every line scrubbed of secrets.

The level is `--log-level` when given; otherwise ERROR, except for `run`, which logs its cycles
(INFO): `DEFAULT_LEVEL` and `RUN_DEFAULT_LEVEL` are what `--help` and docs/controller.md show.
`--log-format json` writes one JSON object per line instead: ts, level, logger, msg and the line's
key=value pairs as fields. A line logged while a cycle runs carries `cycle=<id>`, whoever logs it.
"""

from __future__ import annotations

import ast
import copy
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from reconciler.cli.output import scrubbed
from reconciler.errors import UsageError

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEFAULT_LEVEL = "ERROR"
RUN_DEFAULT_LEVEL = "INFO"
FORMATS = ("text", "json")
DEFAULT_FORMAT = "text"
_TEXT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"
# `key=value`, the value bare or quoted as %r quotes it ('...' or "...", with backslash escapes).
_PAIR = re.compile(r"(?<!\S)(?P<key>[a-z_][a-z0-9_.-]*)=(?P<value>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\S*)")
_RESERVED = ("ts", "level", "logger", "msg", "exc")
CYCLE_MODULE = "reconciler.engine.cycle"  # where current_cycle() lives


def _in_cycle(record: logging.LogRecord) -> logging.LogRecord:
    """The record with `cycle=<id>` before its message when it is logged inside a cycle that it does not
    name (an adapter's line). A copy: other handlers (pytest's capture, a library's) see the record as
    it was logged, and a record formatted twice is not prefixed twice."""
    # Looked up, not imported: a command that never imports the engine (validate) runs no cycle,
    # and importing it here would cost every command the engine's imports.
    engine = sys.modules.get(CYCLE_MODULE)
    cycle_id = engine.current_cycle() if engine is not None else None
    if cycle_id is None or "cycle=" in str(record.msg):
        return record
    prefixed = copy.copy(record)
    prefixed.msg = f"cycle={cycle_id} {record.msg}"
    return prefixed


class _ScrubbingFormatter(logging.Formatter):
    """The whole formatted line (message, arguments, traceback) passes through the redaction."""

    def format(self, record: logging.LogRecord) -> str:
        return scrubbed(super().format(_in_cycle(record)))


def fields_of(message: str) -> dict[str, str]:
    """The key=value pairs of one of our log lines, quoted values unquoted."""
    fields: dict[str, str] = {}
    for match in _PAIR.finditer(message):
        key, value = match.group("key"), match.group("value")
        if value[:1] in ("'", '"'):
            try:
                value = str(ast.literal_eval(value))
            except (ValueError, SyntaxError):
                value = value[1:-1]
        fields[key if key not in _RESERVED else f"field_{key}"] = value
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line. The message and traceback are scrubbed before they are parsed and
    encoded, not the encoded line: a pattern ending on a JSON escape would cut it and break the line."""

    def format(self, record: logging.LogRecord) -> str:
        message = scrubbed(_in_cycle(record).getMessage())
        document: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "msg": message, **fields_of(message),
        }
        if record.exc_info:
            document["exc"] = scrubbed(self.formatException(record.exc_info))
        return json.dumps(document, ensure_ascii=False)


def check_level(level: str) -> str:
    """The level, upper-cased; a UsageError naming `--log-level` for anything else."""
    if level.upper() not in LEVELS:
        raise UsageError(f"--log-level {level!r} is not a level", hint=f"use one of {', '.join(LEVELS)}")
    return level.upper()


def check_format(log_format: str) -> str:
    """The format, lower-cased; a UsageError naming `--log-format` for anything else."""
    if log_format.lower() not in FORMATS:
        raise UsageError(f"--log-format {log_format!r} is not a log format", hint=f"use one of {', '.join(FORMATS)}")
    return log_format.lower()


class _Stderr:
    """sys.stderr as it is at each write: `run`'s live tables in a terminal route it above themselves."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str = DEFAULT_LEVEL, log_format: str = DEFAULT_FORMAT) -> None:
    handler = logging.StreamHandler(_Stderr())
    handler.setFormatter(JsonFormatter() if check_format(log_format) == "json" else _ScrubbingFormatter(_TEXT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(check_level(level))
    for noisy in ("httpx", "httpcore", "apscheduler", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
