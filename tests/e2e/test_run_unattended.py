"""`reconciler run` read by a machine: stdout piped into a file stays unwrapped, and `--log-format json`
writes one JSON object per line on stderr, each naming its cycle (real CLI, subprocess, sandbox)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.cli import PROJECT


def test_a_piped_run_prints_unwrapped_lines_and_json_logs_naming_the_cycle(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR", "RECONCILER_LOG_FORMAT")}
    env["RECONCILER_LOG_FORMAT"] = "json"
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "run", "specs", "--sandbox", "--cycles", "1", "--listen", "127.0.0.1:0",
         "--database", str(tmp_path / "history.db"), "--no-leader-election"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False, cwd=PROJECT, env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    # Rich would cut this line at 80 columns into a pipe; the reader grepping for it would miss it.
    [running] = [line for line in lines if line.startswith("controller running against")]
    assert running.endswith("Ctrl-C stops it.") and len(running) > 80
    rows = [line for line in lines if line.startswith("│")]
    # A table cut to 80 columns wraps its cells: continuation lines with an empty first cell.
    assert len(rows) > 3 and all(line.endswith("│") and line.split("│")[1].strip() for line in rows), rows
    assert "\x1b[" not in result.stdout  # plain: no colour or style codes
    documents = [json.loads(line) for line in result.stderr.splitlines()]
    assert all({"ts", "level", "logger", "msg"} <= set(d) for d in documents)
    in_cycle = [d for d in documents if d["logger"] == "reconciler.engine"]
    assert in_cycle and all(d["cycle"] == "c00001" for d in in_cycle), in_cycle[:3]
    # The example in docs/controller.md
    [start] = [d for d in in_cycle if d.get("event") == "cycle-start"]
    assert start["msg"] == "cycle=c00001 event=cycle-start trigger=start" and start["level"] == "INFO"
    assert (start["cycle"], start["trigger"]) == ("c00001", "start") and start["ts"].endswith("+00:00")
