"""The store's reads behind status, rollback and resume, and the controller's pins built on them:
environments, revisions by prefix, the plan awaiting approval, the last heal and failure, the pause."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.core.model import Action, ActionKind, Desired, DesiredApp, DesiredEnvironment, Outcome
from reconciler.engine.pins import Pins, overlay, read_pin
from reconciler.engine.status import facts_from_store
from reconciler.store import Store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def shop(cmd: str, revision: str) -> Desired:
    web = DesiredApp("/shop/web", "shop", "web", {"id": "/shop/web", "cmd": cmd, "instances": 1}, 1)
    return Desired({"shop": DesiredEnvironment("shop", "shop", apps=("web",))}, {web.app_id: web}, revision)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    at = [T0]

    def clock() -> datetime:
        at[0] += timedelta(seconds=1)
        return at[0]

    opened = Store.open(tmp_path / "history.db", clock=clock)
    yield opened
    opened.close()


def test_environments_and_revisions_newest_first_by_prefix(store: Store) -> None:
    store.record_revision("shop", "abc111", "d1")
    store.record_revision("shop", "abd222", "d2")
    store.record_env_event("blog", "paused", revision="x")
    store.record_desired_state("docs", "r1", "d9", Desired({}, {}))
    assert store.environments() == ["blog", "docs", "shop"]
    assert [r.revision for r in store.revisions("shop")] == ["abd222", "abc111"]
    assert [r.revision for r in store.revisions("shop", prefix="abc")] == ["abc111"]
    assert [r.revision for r in store.revisions("shop", prefix="ab", limit=1)] == ["abd222"]


def test_the_plan_awaiting_approval_until_its_status_moves_on(store: Store) -> None:
    assert store.awaiting_approval("shop") is None
    store.record_plan("p1", "shop", "r1", "d1", "awaiting-approval")
    store.record_plan("h1", "shop", "r1", "d0", "applied")  # a heal's plan meanwhile hides nothing
    found = store.awaiting_approval("shop")
    assert found is not None and (found.id, found.digest) == ("p1", "d1")
    store.move_plan("p1", "awaiting-approval", "superseded")
    assert store.awaiting_approval("shop") is None


def test_last_heal_and_last_failed_action(store: Store) -> None:
    store.record_heal("shop", "/shop/web", "t1", "critical for 31s", "succeeded")
    store.record_heal("shop", "/shop/web", "t2", "critical for 40s", "failed")
    store.record_plan("p1", "shop", "r1", "d1", "failed")
    store.record_actions("p1", [Action(ActionKind.UPDATE, "/shop/web", "image", "shop", outcome=Outcome.FAILED,
                                       detail="500 from Marathon")])
    heal, failed = store.last_heal("shop"), store.last_failed_action("shop")
    assert heal is not None and heal.task_id == "t2"
    assert failed is not None and failed.detail == "500 from Marathon"
    facts = facts_from_store(store, "shop")
    assert facts.last_heal is not None and facts.last_heal.task == "t2"
    assert facts.last_error is not None and "500 from Marathon" in facts.last_error.message


def test_the_last_heal_of_status_is_the_last_kill_sent(store: Store) -> None:
    """docs/status.md: a kill skipped at the moment of the kill, or refused by a guard, never went out."""
    store.record_heal("shop", "/shop/web", "t1", "critical for 31s", "succeeded")
    store.record_heal("shop", "/shop/web", "t2", "critical for 40s", "skipped")
    store.record_heal("shop", "/shop/web", "t3", "critical for 41s; not killed: backoff", "refused")
    facts = facts_from_store(store, "shop")
    assert facts.last_heal is not None and (facts.last_heal.task, facts.last_heal.outcome) == ("t1", "succeeded")


def test_an_invalid_revision_is_pending_until_a_newer_sync(store: Store) -> None:
    store.record_revision("shop", "good1", "d1")
    store.record_env_event("shop", "invalid", revision="bad2", detail="shop.yaml:3: apps.web.chart: unknown")
    facts = facts_from_store(store, "shop")
    assert facts.invalid is not None and facts.invalid.revision == "bad2"
    assert facts.last_error is not None and facts.last_error.revision == "bad2"
    store.record_revision("shop", "good3", "d3")
    later = facts_from_store(store, "shop")
    assert later.invalid is None and later.synced_revision == "good3"
    assert later.last_error is not None  # still the last error there was


def test_a_pause_pins_the_recorded_state_until_resumed(store: Store) -> None:
    v1, v2 = shop("serve v1", "r1"), shop("serve v2", "r2")
    store.record_desired_state("shop", "r1", "d1", v1)
    pins = Pins(store)
    assert pins.in_force(v2) == v2
    store.record_env_event("shop", "paused", revision="r1", digest="d1", by="alice@host")
    pinned = pins.in_force(v2)
    assert pinned.apps["/shop/web"].definition["cmd"] == "serve v1" and pinned.revision == "r2"
    first = pins.current["shop"]
    pins.in_force(v2)
    assert pins.current["shop"] is first  # the same pause: not decoded again
    store.record_env_event("shop", "resumed", revision="r1", digest="d1", by="alice@host")
    assert pins.in_force(v2) == v2 and not pins.current


def test_a_pause_without_a_recorded_state_follows_the_specs(store: Store) -> None:
    store.record_env_event("shop", "paused", revision="r9", digest="d9", by="bob@host")
    assert read_pin(store, "shop") is None


def test_a_failing_store_keeps_the_last_pins(store: Store, tmp_path: Path) -> None:
    store.record_desired_state("shop", "r1", "d1", shop("serve v1", "r1"))
    store.record_env_event("shop", "paused", revision="r1", digest="d1", by="alice@host")
    pins = Pins(store)
    pins.in_force(shop("serve v2", "r2"))
    store.close()
    (tmp_path / "history.db").unlink()
    (tmp_path / "history.db").mkdir()  # the file is gone and cannot come back: every read fails
    still = pins.in_force(shop("serve v2", "r2"))
    assert still.apps["/shop/web"].definition["cmd"] == "serve v1"


def test_overlay_replaces_only_the_pinned_environment() -> None:
    blog = DesiredApp("/blog/web", "blog", "web", {"id": "/blog/web"}, 1)
    specs = shop("serve v2", "r2")
    specs = Desired({**specs.environments, "blog": DesiredEnvironment("blog", "blog", apps=("web",))},
                    {**specs.apps, blog.app_id: blog}, "r2")
    merged = overlay(specs, [shop("serve v1", "r1")])
    assert merged.apps["/shop/web"].definition["cmd"] == "serve v1" and merged.apps["/blog/web"] == blog


def test_the_approval_plans_by_their_latest_status(store: Store) -> None:
    store.record_plan("p1", "shop", "r1", "d1", "awaiting-approval")
    store.record_plan("p2", "shop", "r2", "d2", "awaiting-approval")
    store.record_plan("p3", "blog", "r3", "d3", "awaiting-approval")
    store.record_plan("c1", "shop", "r2", "d0", "failed")  # a controller's own plan, not an approval's
    assert store.plans_now("shop", "awaiting-approval", ["approved", "failed"]) == []
    for plan_id in ("p1", "p2", "p3"):
        store.move_plan(plan_id, "awaiting-approval", "approved")
    store.move_plan("p1", "approved", "failed")
    store.move_plan("p2", "approved", "superseded")
    store.move_plan("p2", "superseded", "approved")  # the latest status counts, not the first
    found = store.plans_now("shop", "awaiting-approval", ["approved", "failed"])
    assert [(plan.id, status) for plan, status in found] == [("p2", "approved"), ("p1", "failed")]
    store.move_plan("p1", "failed", "applied")
    assert [p.id for p, _ in store.plans_now("shop", "awaiting-approval", ["approved", "failed"])] == ["p2"]
    assert [s for _, s in store.plans_now("shop", "awaiting-approval", ["applied"])] == ["applied"]
