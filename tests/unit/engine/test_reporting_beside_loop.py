"""The controller's Reporter writes a cycle's history in a worker thread (engine/reporting.py): status is
served while a write waits on the database, records land in the order the cycles ended, a store that
fails is counted, and a record that crashes leaves the cycle's result standing. Interleavings are made
with a store whose first held write waits for the test, never timed."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.model import Actual, ActualApp, ActualTask, Desired, DesiredApp, DesiredEnvironment
from reconciler.engine.cycle import CycleResult
from reconciler.engine.reporting import Reporter
from reconciler.engine.telemetry import ControllerMetrics
from reconciler.store import Store, StoreError
from tests.sandbox.marathon.fixtures import until

V1 = Desired({"shop": DesiredEnvironment("shop", "shop", apps=("web",))},
             {"/shop/web": DesiredApp("/shop/web", "shop", "web", {"id": "/shop/web", "cmd": "v1"}, 1)}, "rev1")
V2 = replace(V1, apps={"/shop/web": replace(V1.apps["/shop/web"], definition={"id": "/shop/web", "cmd": "v2"})},
             revision="rev2")
RUNNING = Actual({"/shop/web": ActualApp("/shop/web", {"id": "/shop/web"}, 1,
                                         tasks=(ActualTask("t1", "/shop/web", "127.0.0.2"),))})
SOURCE = {"source": "/specs", "revision": "rev1", "latest": "rev1", "error": ""}


class HeldStore(Store):
    """Its first record_synced waits for `release`; `failing` makes every record_synced fail instead."""

    entered: threading.Event
    release: threading.Event
    failing = False

    def record_synced(self, *args: Any, **kwargs: Any) -> Any:
        if self.failing:
            raise StoreError("writing to the store failed: database is locked")
        if not self.entered.is_set():
            self.entered.set()
            assert self.release.wait(30), "the test never let the write go on"
        return super().record_synced(*args, **kwargs)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HeldStore]:
    opened = HeldStore.open(tmp_path / "history.db")
    opened.entered, opened.release = threading.Event(), threading.Event()
    yield opened
    opened.close()


async def test_status_is_served_while_a_write_waits_and_records_keep_the_cycles_order(store: HeldStore) -> None:
    desired = [V1]
    reporter = Reporter(ControllerMetrics(), store, lambda: SOURCE, lambda: desired[0])
    first = asyncio.create_task(reporter.record_beside_loop(CycleResult("c1", "start", actual=RUNNING)))
    await until(store.entered.is_set, "the first record at its store write", 10)
    desired[0] = V2  # the next cycle reconciled another revision
    second = asyncio.create_task(reporter.record_beside_loop(CycleResult("c2", "resync", actual=RUNNING)))
    await until(lambda: reporter.cycles == 2, "the second record counted on the loop", 10)
    status = reporter.status()  # on the loop, while the first write still waits
    assert status["cycles"] == 2 and status["last_cycle"]["id"] == "c2" and not first.done()
    store.release.set()
    await asyncio.wait_for(asyncio.gather(first, second), 30)
    assert [r.revision for r in store.revisions("shop")][::-1] == ["rev1", "rev2"]  # newest first
    assert reporter.status()["environments"]["shop"]["synced_revision"] == "rev2"


async def test_a_store_that_fails_beside_the_loop_is_counted_and_the_cycle_still_reported(store: HeldStore) -> None:
    store.failing = True
    reporter = Reporter(ControllerMetrics(), store, lambda: SOURCE, lambda: V1)
    await reporter.record_beside_loop(CycleResult("c1", "start", actual=RUNNING))
    assert 'reconciler_errors_total{kind="store"} 1.0' in reporter.metrics.exposition().decode()
    assert reporter.ready and reporter.status()["last_cycle"]["id"] == "c1"


async def test_a_crashing_record_is_logged_and_counted_and_the_cycles_result_stands(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def desired() -> Desired:
        raise RuntimeError("a bug in the reporting")

    async def cycle(trigger: str) -> CycleResult:
        return CycleResult("c1", trigger, actual=RUNNING)

    reporter = Reporter(ControllerMetrics(), None, lambda: SOURCE, desired)
    with caplog.at_level(logging.ERROR, logger="reconciler.controller"):
        result = await reporter.recording(cycle)("start")
    assert result.cycle_id == "c1" and result.error is None
    assert "cycle=c1 event=report-crashed" in caplog.text
    assert 'reconciler_errors_total{kind="unexpected"} 1.0' in reporter.metrics.exposition().decode()
