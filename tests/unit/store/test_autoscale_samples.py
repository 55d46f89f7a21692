"""The store's autoscale samples: one insert per cycle, read back per app in time order, pruned by age
in the same transaction, and a policy digest that changes with the policy only."""

from __future__ import annotations

from datetime import UTC, timedelta

from reconciler.store import SampleRow, Store
from tests.unit.store.clocked import T0, Clock


def row(app: str, instances: int, at: float, policy_max: int = 6) -> SampleRow:
    document = {"policy": {"min": 1, "max": policy_max, "metrics": [{"cpu": 0.5}]}, "instances": instances,
                "at": at, "history": None, "tasks": [{"state": "TASK_RUNNING", "cpus": 1.0, "mem": 128.0}],
                "external": {}}
    return SampleRow("shop", app, instances, document)


def test_samples_round_trip_per_app_in_time_order(store: Store, clock: Clock) -> None:
    store.record_autoscale_samples("c1", [row("/shop/web", 2, 100.0), row("/shop/api", 1, 100.0)])
    clock.at += timedelta(seconds=10)
    store.record_autoscale_samples("c2", [row("/shop/web", 3, 110.0)])
    web = store.autoscale_samples("/shop/web")
    assert [(r.cycle_id, r.instances, r.env) for r in web] == [("c1", 2, "shop"), ("c2", 3, "shop")]
    assert '"instances":3' in web[1].document and web[1].at.replace(tzinfo=UTC) == T0 + timedelta(seconds=10)
    assert [r.cycle_id for r in store.autoscale_samples("/shop/web", since=T0 + timedelta(seconds=5))] == ["c2"]
    assert store.autoscale_sample_apps() == ["/shop/api", "/shop/web"]


def test_older_samples_than_the_retention_are_dropped_by_the_next_write(store: Store, clock: Clock) -> None:
    store.record_autoscale_samples("c1", [row("/shop/web", 2, 0.0)], keep_seconds=60)
    clock.at += timedelta(seconds=30)
    store.record_autoscale_samples("c2", [row("/shop/web", 2, 30.0)], keep_seconds=60)
    assert len(store.autoscale_samples("/shop/web")) == 2  # 30 s old: kept
    clock.at += timedelta(seconds=45)
    store.record_autoscale_samples("c3", [row("/shop/api", 1, 75.0)], keep_seconds=60)
    assert [r.cycle_id for r in store.autoscale_samples("/shop/web")] == ["c2"]  # 75 s old: gone, any app
    assert store.history(app="/shop/web") == []  # samples are measurements, not history entries


def test_the_policy_digest_follows_the_policy_only(store: Store) -> None:
    store.record_autoscale_samples("c1", [row("/shop/web", 2, 0.0), row("/shop/api", 5, 9.0)])
    store.record_autoscale_samples("c2", [row("/shop/web", 2, 10.0, policy_max=8)])
    first, changed = store.autoscale_samples("/shop/web")
    (other,) = store.autoscale_samples("/shop/api")
    assert first.policy_digest == other.policy_digest != changed.policy_digest


def test_samples_keep_their_own_time_and_are_not_added_once_older_than_the_retention(
    store: Store, clock: Clock
) -> None:
    """Samples written late (a store that was down) are stamped with the time they were taken; those already
    older than the retention when written are not added."""
    taken = clock()
    clock.at += timedelta(seconds=45)
    store.record_autoscale_samples("c1", [row("/shop/web", 2, 0.0)], keep_seconds=60, at=taken)
    store.record_autoscale_samples("c0", [row("/shop/web", 2, 0.0)], keep_seconds=60,
                                   at=taken - timedelta(seconds=30))
    assert [(r.cycle_id, r.at.replace(tzinfo=UTC)) for r in store.autoscale_samples("/shop/web")] == [("c1", taken)]
