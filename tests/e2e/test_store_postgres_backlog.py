"""The history waiting for a PostgreSQL server that is down (a private cluster, tests/e2e/private_postgres.py;
the shared server is never stopped): a server down is an outage, never a refusal, so no record is dropped
however many cycles it lasts; a stop meanwhile gives up on it at once, saying how many records were not
written; and the records go in, once each, when the server is back."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from reconciler.engine.cycle import CycleResult
from reconciler.engine.execute import Execution
from reconciler.engine.reporting import Reporter
from reconciler.engine.telemetry import ControllerMetrics
from reconciler.sandbox.marathon import MarathonSandbox
from reconciler.store import Store
from tests.e2e.cli import PROJECT
from tests.e2e.private_postgres import private_cluster
from tests.e2e.test_run_leader import wait_until
from tests.e2e.test_store_postgres_restart import APP, BOUND_S, SPEC, recorded
from tests.sandbox.marathon.fixtures import fast_config
from tests.unit.engine.store_outage import CREATED, TRIES
from tests.unit.engine.test_reporting_status import RUNNING, V1

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.mark.timeout(300)
def test_a_server_down_drops_no_record_and_a_stop_gives_up_on_it(caplog: pytest.LogCaptureFixture) -> None:
    with private_cluster() as pg:
        store = Store.open(pg.url)
        try:
            reporter = Reporter(ControllerMetrics(), store, lambda: {"revision": "rev1", "latest": "rev1"}, lambda: V1)
            pg.stop()
            reporter.record(CycleResult("c1", "start", execution=Execution((CREATED,)), actual=RUNNING))
            for number in range(2, TRIES + 3):
                reporter.record(CycleResult(f"c{number}", "resync", actual=RUNNING))
            outage = reporter.status()["store_outage"]
            assert outage["since"] and outage["waiting"] == 2 and outage["dropped"] == 0, outage
            assert "OperationalError" in outage["error"], outage
            with caplog.at_level(logging.INFO, logger="reconciler.controller"):
                assert asyncio.run(reporter.write_waiting(30)) == 2
            stop = [r for r in caplog.records if "event=store-records-unwritten-at-stop" in r.getMessage()]
            assert [r.levelname for r in stop] == ["ERROR"] and "unwritten=2 written=0" in stop[0].getMessage()
            assert "OperationalError" in stop[0].getMessage()
            pg.start()
            reporter.record(CycleResult("c9", "resync", actual=RUNNING))
            assert [p.data["cycle_id"] for p in store.history() if p.kind == "plan"] == ["c1"]
            assert [r.revision for r in store.revisions("shop")] == ["rev1"]
            outage = reporter.status()["store_outage"]
            assert outage["since"] is None and outage["waiting"] == 0 and outage["dropped"] == 0, outage
        finally:
            store.close()


@pytest.mark.timeout(300)
async def test_a_controller_stopped_while_records_wait_writes_them(tmp_path: Path) -> None:
    """`reconciler run` (resyncing only hourly): the server stops, the app is deleted behind the controller's
    back and recreated by the cycle Marathon's event triggers, whose plan waits; the server is back and the
    controller is stopped before another cycle: the stop writes the plan."""
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "shop.yaml").write_text(SPEC)
    with private_cluster() as pg:
        async with MarathonSandbox(fast_config(keep_event_history=False)) as marathon, \
                httpx.AsyncClient(timeout=10) as http:
            err = tmp_path / "run.err"
            with (tmp_path / "run.out").open("w") as out, err.open("w") as errors:
                process = subprocess.Popen(
                    [sys.executable, "-m", "reconciler", "--marathon", marathon.url, "--log-format", "json", "run",
                     str(specs), "--no-consul", "--listen", "127.0.0.1:0", "--database", pg.url, "--resync", "3600"],
                    stdout=out, stderr=errors, cwd=PROJECT, env=dict(os.environ, NO_COLOR="1", TERM="dumb"))
                try:
                    server = await _listening(process, tmp_path)
                    await wait_until(lambda: recorded(pg.url, 1), "the first create recorded", BOUND_S)
                    await asyncio.to_thread(pg.stop)
                    deleted = await http.delete(f"{marathon.url}/v2/apps{APP}", params={"force": "true"})
                    assert deleted.status_code == 200

                    async def waiting() -> bool:
                        apps = (await http.get(f"{marathon.url}/v2/apps")).json()["apps"]
                        outage = (await http.get(f"{server}/status")).json()["store_outage"]
                        return any(a["id"] == APP for a in apps) and outage["waiting"] >= 1

                    await wait_until(waiting, "recreated, its plan waiting for the store", BOUND_S)
                    # The recreation's deployment_success triggers one more cycle: once the server is back, that
                    # cycle would write the waiting plan before the stop does. Its write fails here, first.
                    await wait_until(lambda: _failed_after_deployment(err), "the deployment's cycle failed to write",
                                     BOUND_S)
                    await asyncio.to_thread(pg.start)
                    process.send_signal(signal.SIGTERM)
                    assert await asyncio.to_thread(process.wait, BOUND_S) == 0, err.read_text()[-3000:]
                finally:
                    if process.poll() is None:
                        process.kill()
                        process.wait()
            assert await recorded(pg.url, 2), err.read_text()[-3000:]
            events = [json.loads(line) for line in err.read_text().splitlines() if line.startswith("{")]
            assert [e for e in events if e.get("event") == "store-records-written-at-stop"], [
                e.get("msg", "")[:200] for e in events[-12:]]


async def _failed_after_deployment(err: Path) -> bool:
    """Whether a cycle the recreation's deployment_success triggered (after the recreating cycle) found the
    store down, its records still waiting."""
    events = [json.loads(line) for line in err.read_text().splitlines() if line.startswith("{")]
    recreated = [i for i, e in enumerate(events) if "create /shop/web" in e.get("msg", "")][1:]
    if not recreated:
        return False
    cycle = next((e["cycle"] for e in events[recreated[0]:] if e.get("event") == "cycle-start"
                  and "deployment_success" in e.get("trigger", "")), None)
    return cycle is not None and any(e.get("event") == "store-write-failed" and e.get("cycle") == cycle
                                     for e in events)


async def _listening(process: subprocess.Popen[bytes], tmp_path: Path) -> str:
    async def found() -> bool:
        assert process.poll() is None, (tmp_path / "run.err").read_text()
        return bool(re.search(r"on http://127\.0\.0\.1:\d+", (tmp_path / "run.out").read_text()))

    await wait_until(found, "the controller listens", BOUND_S)
    match = re.search(r"on (http://127\.0\.0\.1:\d+)", (tmp_path / "run.out").read_text())
    assert match
    return match.group(1)
