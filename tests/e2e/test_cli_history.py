"""`reconciler history` end to end: the real CLI in a subprocess reads a SQLite history written through
the store's API (two environments, every kind of record, one part two hours old)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.store import Store

PROJECT = Path(__file__).resolve().parents[2]
CONTROLLER_DOC = PROJECT / "docs" / "controller.md"
OLD = datetime.now(UTC) - timedelta(hours=2)


@dataclass(frozen=True)
class _Action:
    kind: str
    target: str
    env: str
    reason: str
    outcome: str
    detail: str = ""


def _write_history(path: Path) -> None:
    """Old: func-1 synced and redis created. Recent: func-1's redis healed and autoscaled, func-2 a plan
    approved (as `approve` records it: the decision, the approved state's event, the status), applied, with
    an action on web."""
    when = [OLD]

    def clock() -> datetime:  # a millisecond per record: the order written is the order read back
        when[0] += timedelta(milliseconds=1)
        return when[0]

    store = Store.open(path, clock=clock)
    try:
        store.record_plan("p-old", "func-1", "abc123", "d1", "applied", cycle_id="c1")
        store.record_actions("p-old", [_Action("create", "/func-1/redis", "func-1", "not in Marathon", "succeeded")])
        store.record_revision("func-1", "abc123", "d1", source="/specs")
        when[0] = datetime.now(UTC) - timedelta(minutes=1)
        store.record_heal("func-1", "/func-1/redis", "redis.t1", "critical for 30s", "succeeded")
        store.record_autoscale("func-1", "/func-1/redis", 2, 4, "cpu 90% above 70%")
        plan = store.record_plan("p-new", "func-2", "def456", "d2", "awaiting-approval")
        store.approve_plan(plan, "awaiting-approval", "approved", by="alice", event="approved")
        store.move_plan("p-new", "approved", "applied", detail="1 action")
        store.record_actions("p-new", [_Action("update", "/func-2/web", "func-2", "image changed", "failed", "500")])
        store.record_env_event("func-1", "paused", revision="abc123", digest="d1", by="bob@ops", detail="rollback")
    finally:
        store.close()


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("history") / "history.db"
    _write_history(path)
    return path


def _history(*args: str, state: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="300", NO_COLOR="1", TERM="dumb")
    if state is not None:
        env["XDG_STATE_HOME"] = str(state)
    return subprocess.run([sys.executable, "-m", "reconciler", "history", *args], capture_output=True, text=True,
                          env=env, cwd=PROJECT, timeout=120, check=False)


def _kinds(stdout: str) -> list[str]:
    return [line.split()[1] for line in stdout.splitlines()]


def test_every_event_one_line_oldest_first(database: Path) -> None:
    result = _history("--database", str(database))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert _kinds(result.stdout) == ["plan", "action", "revision", "heal", "autoscale", "plan", "approval",
                                     "env-event", "plan-status", "plan-status", "action", "env-event"]
    stamps = [line.split()[0] for line in lines]
    assert stamps == sorted(stamps) and all(s.endswith("Z") for s in stamps)
    assert "action env=func-1 app=/func-1/redis create /func-1/redis succeeded: not in Marathon" in lines[1]
    assert "revision env=func-1 app=- synced to abc123 (digest d1)" in lines[2]
    assert "autoscale /func-1/redis 2->4: cpu 90% above 70%" in lines[4]
    assert "env-event env=func-2 app=- approved at def456 by alice" in lines[7]
    assert "plan p-new applied: 1 action" in lines[9]
    assert "env-event env=func-1 app=- paused at abc123 by bob@ops: rollback" in lines[11]


def test_filters_by_env_app_and_since(database: Path) -> None:
    by_env = _history("--database", str(database), "--env", "func-2")
    assert _kinds(by_env.stdout) == ["plan", "approval", "env-event", "plan-status", "plan-status", "action"]
    assert all(" env=func-2 " in line for line in by_env.stdout.splitlines())
    by_app = _history("--database", str(database), "--app", "redis")
    assert _kinds(by_app.stdout) == ["action", "heal", "autoscale"]
    recent = _history("--database", str(database), "--env", "func-1", "--since", "1h")
    assert _kinds(recent.stdout) == ["heal", "autoscale", "env-event"]
    wide = _history("--database", str(database), "--app", "/func-1/redis", "--since", "3h")
    assert _kinds(wide.stdout) == ["action", "heal", "autoscale"]


def _documented_keys() -> tuple[set[str], dict[str, set[str]]]:
    """The event keys and each kind's record keys, from the two tables of docs/controller.md's history part."""
    text = CONTROLLER_DOC.read_text()
    part = text[text.index("`reconciler history"):]
    rows = re.findall(r"^\| `([a-z_-]+)` \| (.*) \|$", part, flags=re.MULTILINE)
    event_keys = {name for name, _ in rows if name in ("at", "kind", "env", "app", "summary", "record")}
    records = {name: set(re.findall(r"`([a-z_]+)`", keys)) for name, keys in rows if name not in event_keys}
    return event_keys, records


def test_json_keys_are_exactly_the_documented_ones(database: Path) -> None:
    result = _history("--database", str(database), "-o", "json")
    assert result.returncode == 0, result.stderr
    events = json.loads(result.stdout)["events"]
    event_keys, records = _documented_keys()
    assert {k for e in events for k in e} == event_keys == {"at", "kind", "env", "app", "summary", "record"}
    emitted: dict[str, set[str]] = {}
    for event in events:
        emitted.setdefault(event["kind"], set()).update(event["record"])
    assert emitted == records
    approval = next(e for e in events if e["kind"] == "approval")
    assert approval["env"] == "func-2" and approval["record"]["by"] == "alice" and approval["at"].endswith("Z")


def test_json_honours_the_filters(database: Path) -> None:
    result = _history("--database", str(database), "--app", "web", "-o", "json")
    events = json.loads(result.stdout)["events"]
    assert [(e["kind"], e["app"], e["record"]["outcome"]) for e in events] == [("action", "/func-2/web", "failed")]


@pytest.mark.parametrize(("args", "flag"), [(("--since", "5x"), "--since"), (("--since", "0s"), "--since"),
                                            (("-o", "yaml"), "--output")])
def test_a_bad_flag_is_one_line_naming_it(database: Path, args: tuple[str, ...], flag: str) -> None:
    result = _history("--database", str(database), *args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and flag in result.stderr and result.stdout == ""


def test_a_missing_database_is_named_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "history.db"
    result = _history("--database", str(missing))
    assert result.returncode == 1
    assert str(missing) in result.stderr and "--database" in result.stderr
    assert not missing.parent.exists()
    by_url = _history("--database", f"sqlite:///{missing}")
    assert by_url.returncode == 1 and str(missing) in by_url.stderr


def test_the_default_database_is_the_one_run_writes(tmp_path: Path) -> None:
    state = tmp_path / "state"
    absent = _history(state=state)
    assert absent.returncode == 1 and str(state / "reconciler" / "history.db") in absent.stderr
    assert not state.exists()
    _write_history(state / "reconciler" / "history.db")
    present = _history("--env", "func-2", state=state)
    assert present.returncode == 0 and _kinds(present.stdout) == ["plan", "approval", "env-event", "plan-status",
                                                                  "plan-status", "action"]


def test_history_reads_what_run_recorded(tmp_path: Path) -> None:
    """A real controller cycle against the sandbox writes the store; history reads its plan and actions."""
    (tmp_path / "shop.yaml").write_text("apiVersion: reconciler/v1\nkind: Environment\nname: shop\napps:\n"
                                        "  web: {cmd: serve, instances: 1, cpus: 0.1, mem: 32}\n")
    db = tmp_path / "history.db"
    run = subprocess.run([sys.executable, "-m", "reconciler", "run", str(tmp_path), "--sandbox", "--no-consul",
                          "--cycles", "1", "--listen", "127.0.0.1:0", "--database", str(db)],
                         capture_output=True, text=True, cwd=PROJECT, timeout=120, check=False,
                         env=dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb"))
    assert run.returncode == 0, run.stdout + run.stderr
    result = _history("--database", str(db), "--env", "shop", "--app", "web", "-o", "json")
    assert result.returncode == 0, result.stderr
    actions = [e for e in json.loads(result.stdout)["events"] if e["kind"] == "action"]
    assert [(a["app"], a["record"]["kind"], a["record"]["outcome"]) for a in actions] == [
        ("/shop/web", "create", "succeeded")]
    text = _history("--database", str(db), "--env", "shop").stdout
    assert " plan env=shop app=- plan " in text and " action env=shop app=/shop/web create " in text
