"""Log lines as `configure_logging` writes them: text or JSON, scrubbed, and naming the cycle they ran in."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.cli.logs import configure_logging, fields_of
from reconciler.cli.output import protect_secrets
from reconciler.engine.cycle import cycle_scope
from reconciler.errors import UsageError

SECRET = "s3cr3t-t0ken-value"


@pytest.fixture
def stderr() -> Iterator[io.StringIO]:
    """What the handler configure_logging installs writes (pytest swaps sys.stderr per test phase)."""
    stream = io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    protect_secrets([SECRET])
    yield stream
    protect_secrets([])
    root.handlers[:] = handlers
    root.setLevel(level)


def configure(stream: io.StringIO, level: str, log_format: str) -> None:
    configure_logging(level, log_format)
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_json_lines_carry_ts_level_logger_msg_and_the_key_value_fields(stderr: io.StringIO) -> None:
    configure(stderr, "INFO", "json")
    log = logging.getLogger("reconciler.engine")
    log.info("cycle=%s event=cycle-end actions=%d seconds=%.3f", "c00007", 2, 0.25)
    log.warning("event=observe-failed error=%r url=%s", f"it's down, token {SECRET}", "http://u:p@m:8080/v2")
    first, second = (json.loads(line) for line in lines(stderr))
    assert first["level"] == "INFO" and first["logger"] == "reconciler.engine" and first["ts"].endswith("+00:00")
    assert first["msg"] == "cycle=c00007 event=cycle-end actions=2 seconds=0.250"
    assert (first["cycle"], first["event"], first["actions"], first["seconds"]) == ("c00007", "cycle-end", "2", "0.250")
    assert second["error"] == "it's down, token ***" and second["url"] == "http://***@m:8080/v2"
    assert SECRET not in stderr.getvalue() and "u:p@" not in stderr.getvalue()


def test_a_json_line_of_an_exception_has_its_scrubbed_traceback(stderr: io.StringIO) -> None:
    configure(stderr, "ERROR", "json")
    try:
        raise RuntimeError(f"Authorization: Bearer {SECRET}")
    except RuntimeError:
        logging.getLogger("reconciler.controller").error("event=cycle-crashed", exc_info=True)
    [line] = lines(stderr)
    document = json.loads(line)
    assert "Traceback" in document["exc"] and "RuntimeError" in document["exc"] and SECRET not in line


def test_a_line_logged_inside_a_cycle_names_it_whoever_logs_it(stderr: io.StringIO) -> None:
    configure(stderr, "INFO", "text")
    adapter = logging.getLogger("reconciler.marathon")
    with cycle_scope("c00042"):
        adapter.info("event=request method=GET path=%s", "/v2/apps")
        logging.getLogger("reconciler.engine").info("cycle=%s event=cycle-start", "c00042")
    adapter.info("event=request method=GET path=/v2/info")
    inside, named, outside = lines(stderr)
    assert inside.endswith("logger=reconciler.marathon cycle=c00042 event=request method=GET path=/v2/apps")
    assert named.count("cycle=") == 1  # a line that names its cycle is left as it is
    assert "cycle=" not in outside


def test_the_cycle_prefix_is_ours_alone_other_handlers_see_the_record_as_logged(stderr: io.StringIO) -> None:
    # A handler beside ours (pytest's log capture, a library's) once got the prefixed message too, as
    # the prefix was written into the record itself: a test matching a message exactly failed when an
    # earlier test in the same process had configured logging.
    configure(stderr, "INFO", "text")
    seen: list[logging.LogRecord] = []
    beside = logging.Handler()
    beside.emit = seen.append  # type: ignore[method-assign]
    logging.getLogger().addHandler(beside)
    with cycle_scope("c00043"):
        logging.getLogger("reconciler.approvals").warning("event=approval-pending env=%s", "shop")
    assert lines(stderr)[0].endswith("cycle=c00043 event=approval-pending env=shop")
    assert [r.getMessage() for r in seen] == ["event=approval-pending env=shop"]


def test_quoted_values_are_unquoted_and_reserved_keys_kept_apart() -> None:
    fields = fields_of("event=x error=\"can't read\" first='a b' level=bad reason=''")
    assert fields == {"event": "x", "error": "can't read", "first": "a b", "field_level": "bad", "reason": ""}


def test_an_unknown_format_is_a_usage_error_naming_the_flag() -> None:
    with pytest.raises(UsageError, match="--log-format 'yaml'"):
        configure_logging("INFO", "yaml")


def test_the_log_examples_in_the_controller_doc_are_what_the_formatters_write(stderr: io.StringIO) -> None:
    doc = (Path(__file__).resolve().parents[3] / "docs" / "controller.md").read_text()
    [text_example] = [line.strip() for line in doc.splitlines() if line.startswith("    2026-") and "level=" in line]
    [json_example] = [json.loads(line) for line in doc.splitlines() if line.startswith('    {"ts"')]
    for log_format in ("text", "json"):
        configure(stderr, "INFO", log_format)
        logging.getLogger("reconciler.engine").info("cycle=%s event=cycle-start trigger=%s", "c00001", "start")
    text, encoded = lines(stderr)
    assert text.split(" ", 2)[2] == text_example.split(" ", 2)[2]  # the same line after its timestamp
    assert {**json.loads(encoded), "ts": json_example["ts"]} == json_example
