"""The autoscaler's memory across a restart and a change of leader (engine/autoscaling.py): decisions
are recorded in a real SQLite store by the Reporter, as `reconciler run` records them; a new Autoscaler
reading that store takes up the last decision's memory, so a rate policy started before a restart, or
by another replica, still holds after it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from reconciler.cli.run_metrics import store_recall
from reconciler.core.autoscale_policy import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    AutoscalePolicy,
    Behavior,
    PolicyType,
    ScalingPolicy,
)
from reconciler.engine.autoscaling import AppScaling, Autoscaler, AutoscaleSources
from reconciler.engine.cycle import CycleResult
from reconciler.engine.reporting import Reporter
from reconciler.engine.telemetry import ControllerMetrics
from reconciler.store import Store
from tests.unit.engine.test_autoscaling import NOW, POLICY, TableSource, world

UP_ONE_PER_10M = replace(POLICY, behavior=Behavior(
    scale_up=replace(DEFAULT_SCALE_UP, policies=(ScalingPolicy(PolicyType.TASKS, 1, 600.0),)),
    scale_down=DEFAULT_SCALE_DOWN))
DOWN_ONE_PER_5M = replace(POLICY, behavior=Behavior(
    scale_up=DEFAULT_SCALE_UP,
    scale_down=replace(DEFAULT_SCALE_DOWN, stabilization_seconds=0.0,
                       policies=(ScalingPolicy(PolicyType.TASKS, 1, 300.0),))))


@dataclass
class Replica:
    """One `reconciler run` process: its autoscaler (reading `store` for memory) and its Reporter."""

    store: Store
    policy: AutoscalePolicy
    clock: list[float] = field(default_factory=lambda: [NOW])
    source: TableSource = field(default_factory=lambda: TableSource({}))

    def __post_init__(self) -> None:
        self.autoscaler = Autoscaler(AutoscaleSources(tasks=self.source), clock=lambda: self.clock[0],
                                     recall=store_recall(self.store))
        self.reporter = Reporter(ControllerMetrics(), self.store, lambda: {}, lambda: world()[0],
                                 samples_keep=3600)
        self.cycles = 0

    async def cycle(self, at: float, instances: int, cpu: float) -> AppScaling:
        """A cycle at `at` over `instances` tasks using `cpu` cores each, recorded as run records it."""
        desired, actual, tasks = world(instances=instances, policy=self.policy)
        self.clock[0], self.source.cpu = at, {t.task_id: cpu for t in tasks}
        self.cycles += 1
        (app,) = (scaling := await self.autoscaler.decide(desired, actual)).apps
        self.reporter.record(CycleResult(f"c{self.cycles}", "resync", autoscale=scaling.apps))
        return app


async def test_a_restart_keeps_the_scale_up_rate_policy_started_before_it(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "history.db")
    try:
        first = await Replica(store, UP_ONE_PER_10M).cycle(NOW, instances=2, cpu=0.9)
        assert (first.desired, first.recommendation, first.limited_by) == (3, 4, "policy:0")
        restarted = Replica(store, UP_ONE_PER_10M)  # a new process, the same store
        held = await restarted.cycle(NOW + 30, instances=3, cpu=0.9)
        assert (held.desired, held.limited_by) == (3, "policy:0"), held.line()  # was 3 -> 4 at once
        later = await restarted.cycle(NOW + 601, instances=3, cpu=0.9)
        assert later.desired == 4, later.line()  # the 10-minute period is over
    finally:
        store.close()


async def test_a_restart_keeps_the_scale_down_rate_policy_started_before_it(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "history.db")
    try:
        first = await Replica(store, DOWN_ONE_PER_5M).cycle(NOW, instances=4, cpu=0.05)
        assert (first.desired, first.limited_by) == (3, "policy:0"), first.line()
        held = await Replica(store, DOWN_ONE_PER_5M).cycle(NOW + 30, instances=3, cpu=0.05)
        assert (held.desired, held.limited_by) == (3, "policy:0"), held.line()  # was 3 -> 2 at once
    finally:
        store.close()


async def test_a_new_leader_takes_up_what_the_previous_leader_decided(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "history.db")  # the store the replicas share (PostgreSQL in production)
    try:
        replica_b, replica_a = Replica(store, UP_ONE_PER_10M), Replica(store, UP_ONE_PER_10M)
        assert (await replica_b.cycle(NOW - 1000, instances=2, cpu=0.5)).desired == 2  # B led, then lost the lock
        assert (await replica_a.cycle(NOW, instances=2, cpu=0.9)).desired == 3  # A leads and scales up
        replica_b.autoscaler.forget()  # B is elected again (cli/run.py does this on a leader change)
        held = await replica_b.cycle(NOW + 30, instances=3, cpu=0.9)
        assert (held.desired, held.limited_by) == (3, "policy:0"), held.line()
    finally:
        store.close()


async def test_without_a_readable_record_the_app_is_seen_for_the_first_time(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "history.db")
    try:
        replica = Replica(store, DOWN_ONE_PER_5M)
        replica.autoscaler = Autoscaler(AutoscaleSources(tasks=replica.source), clock=lambda: replica.clock[0],
                                        recall=lambda app_id: {"policy": {"min": 9, "max": 1}})
        first = await replica.cycle(NOW, instances=4, cpu=0.05)  # seeded as the HPA does: down by the policy
        assert (first.desired, first.limited_by) == (3, "policy:0"), first.line()
    finally:
        store.close()
