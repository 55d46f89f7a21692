"""The Reporter behind /status: it starts from the store (a restart records nothing twice), records a
new digest's desired state once and an invalid revision once, and serves the status document."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.core.model import Actual, ActualApp, ActualTask, Desired, DesiredApp, DesiredEnvironment
from reconciler.engine.cycle import CycleResult
from reconciler.engine.reporting import Reporter
from reconciler.engine.telemetry import ControllerMetrics
from reconciler.store import Store

V1 = Desired({"shop": DesiredEnvironment("shop", "shop", apps=("web",))},
             {"/shop/web": DesiredApp("/shop/web", "shop", "web", {"id": "/shop/web", "cmd": "v1"}, 1)}, "rev1")
RUNNING = Actual({"/shop/web": ActualApp("/shop/web", {"id": "/shop/web"}, 1,
                                         tasks=(ActualTask("t1", "/shop/web", "127.0.0.2"),))})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(tmp_path / "history.db")
    yield opened
    opened.close()


def reporter(store: Store, source: dict[str, str]) -> Reporter:
    return Reporter(ControllerMetrics(), store, lambda: source, lambda: V1)


def kinds(store: Store) -> list[str]:
    return [e.kind if e.kind != "env-event" else e.data["kind"] for e in store.history()]


def test_a_restart_records_nothing_twice(store: Store) -> None:
    source = {"source": "/specs", "revision": "rev1", "latest": "rev1", "error": ""}
    first = reporter(store, source)
    first.record(CycleResult("c1", "start", actual=RUNNING))
    first.record(CycleResult("c2", "resync", actual=RUNNING))
    assert kinds(store) == ["revision"] and store.desired_state("shop", revision="rev1") == V1
    again = reporter(store, source)
    again.record(CycleResult("c1", "start", actual=RUNNING))
    assert kinds(store) == ["revision"]
    shop = again.status()["environments"]["shop"]
    assert (shop["sync"], shop["health"], shop["synced_revision"]) == ("Synced", "Healthy", "rev1")


def test_an_invalid_revision_is_recorded_once_even_across_a_restart(store: Store) -> None:
    error = "revision bad2bad2bad2 is invalid: shop.yaml:3: apps.web.chart: unknown chart"
    source = {"source": "/specs", "revision": "rev1", "latest": "bad2bad2bad2ff", "error": error}
    first = reporter(store, source)
    for cycle in ("c1", "c2"):
        first.record(CycleResult(cycle, "resync", actual=RUNNING))
    reporter(store, source).record(CycleResult("c1", "start", actual=RUNNING))
    assert kinds(store) == ["revision", "invalid"]
    shop = first.status()["environments"]["shop"]
    assert shop["pending"]["revision"] == "bad2bad2bad2ff" and shop["pending"]["reason"] == "invalid"
    assert shop["last_error"]["message"] == error
    stored = next(e for e in store.history() if e.kind == "env-event")
    assert stored.data["detail"] == "shop.yaml:3: apps.web.chart: unknown chart"


def test_a_cycle_error_is_the_last_error_and_nothing_is_synced(store: Store) -> None:
    source = {"source": "/specs", "revision": "rev1", "latest": "rev1", "error": ""}
    failing = reporter(store, source)
    failing.record(CycleResult("c1", "start", error="Marathon unreachable"))
    assert kinds(store) == []
    shop = failing.status()["environments"]["shop"]
    assert shop["last_error"]["message"] == "Marathon unreachable" and shop["synced_revision"] == ""
    assert shop["health"] == "Missing"  # nothing observed: the app is not known to run
