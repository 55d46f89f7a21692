"""`reconciler autoscale simulate --from-history` end to end: the controller runs against the sandbox
with a store (as `reconciler run` does), a load raised through the fault API scales the app up, and
replaying the recorded samples decides exactly what the controller decided, cycle by cycle. The
command run is the one docs/autoscaling.md shows; the rebuilt input (`--write-input`) replays alike.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.model import ActionKind
from reconciler.engine.reporting import Reporter
from reconciler.engine.telemetry import ControllerMetrics
from reconciler.spec import load_desired
from reconciler.store import Store
from tests.e2e.autoscale_support import APP, controller
from tests.e2e.test_autoscale_controller import SPEC
from tests.sandbox.marathon.fixtures import until

pytestmark = pytest.mark.slow
DOC = Path(__file__).resolve().parents[2] / "docs" / "autoscaling.md"


def documented_command() -> list[str]:
    """The `--from-history` command of the doc's section, without the leading `$ reconciler`."""
    section = DOC.read_text().split("### Replaying what the controller saw", 1)[1]
    line = next(line for line in re.findall(r"```console\n(.*?)```", section, re.S)[0].splitlines()
                if line.startswith("$ reconciler autoscale simulate --from-history"))
    return shlex.split(line)[2:]


def reconciler(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb")
    return subprocess.run([sys.executable, "-m", "reconciler", *args], capture_output=True, text=True,
                          timeout=120, env=env, check=False, cwd=cwd)


def gist(step: dict[str, Any]) -> tuple[Any, ...]:
    return step["instances"], step["recommendation"], step["limitedBy"], step["reason"]


@pytest.mark.timeout(300)
async def test_replaying_the_recorded_samples_decides_what_the_controller_decided(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "history.db")
    reporter = Reporter(ControllerMetrics(), store, lambda: {}, lambda: load_desired(tmp_path / "specs"))
    try:
        async with controller(tmp_path, SPEC, also=reporter.record) as running:
            mark = len(running.results)
            await running.load(0.9)  # 90% of the cpus against 50%: a scale-up
            await until(lambda: [a for a in running.executed(mark) if a.kind == ActionKind.SCALE],
                        "a scale-up after the load rose", timeout=60)
            await until(lambda: running.settled_at(6), "the scale-up to max (6) done", timeout=90)
            decided = [s for s in running.scalings() if s.decision is not None]
    finally:
        store.close()
    # Cycles the controller ran after `decided` was taken are recorded too: compare the common prefix.
    controller_steps = [(s.desired, s.recommendation, s.limited_by, s.reason) for s in decided]
    assert any(s.desired > s.current for s in decided), [s.line() for s in decided]

    command = documented_command()
    result = reconciler(tmp_path, *command, "-o", "json", "--write-input", "replay.yaml")
    assert result.returncode == 0, result.stderr
    replayed = [gist(step) for step in json.loads(result.stdout)["steps"]]
    assert replayed[: len(controller_steps)] == controller_steps

    edited = reconciler(tmp_path, "autoscale", "simulate", "replay.yaml", "-o", "json")
    assert edited.returncode == 0, edited.stderr
    assert [gist(step) for step in json.loads(edited.stdout)["steps"]] == [gist(s) for s in
                                                                           json.loads(result.stdout)["steps"]]

    unknown = reconciler(tmp_path, "autoscale", "simulate", "--from-history", "/shop/nope", "--database",
                         "history.db")
    assert unknown.returncode == 2, unknown.stderr
    message = " ".join(unknown.stderr.split())
    assert "no autoscale samples of /shop/nope" in message and f"apps with samples: {APP}" in message
