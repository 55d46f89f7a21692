"""One level-triggered reconcile pass (engine layer): load -> observe -> plan -> execute.

Each cycle starts from a complete, fresh observation of Marathon and Consul and carries nothing from
the event that woke it; kept between cycles are the HealMemory (since when each task is critical,
recent heals) and Consul's catalog snapshot with its indexes (re-read when they move). An incomplete
observation plans nothing destructive (engine/planning.py).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field, replace

from reconciler.core.heal import HealMemory
from reconciler.core.model import Actual, Desired, Outcome, Plan
from reconciler.core.outcomes import settle_unknown
from reconciler.core.plan import PlanOptions
from reconciler.engine.consul_execute import AgentRouting, execute_consul
from reconciler.engine.consul_read import CatalogSnapshot
from reconciler.engine.execute import CONTROLLER_LATER, ExecuteOptions, Execution, execute_plan
from reconciler.engine.healing import heal_due_in
from reconciler.engine.observe import Observation, observe
from reconciler.engine.planning import CONSUL_KINDS, plan_cycle
from reconciler.engine.ports import ConsulPort, MarathonPort
from reconciler.errors import ReconcilerError, SpecError

log = logging.getLogger("reconciler.engine")
_cycle_numbers = itertools.count(1)
# The id of the cycle this task is running, so that every log line inside it (adapters' too) names it.
_current_cycle: ContextVar[str | None] = ContextVar("reconciler_cycle", default=None)


@dataclass(frozen=True)
class CycleResult:
    cycle_id: str
    trigger: str
    plan: Plan | None = None
    execution: Execution | None = None
    actual: Actual | None = None
    error: str | None = None
    seconds: float = 0.0
    observation: Observation | None = None
    heal_due_in: float | None = None  # seconds until a grace window or backoff ends: cycle again then
    unexpected: bool = False  # the cycle raised something no layer expected (a bug): logged with its traceback

    @property
    def ok(self) -> bool:
        return self.error is None and not (self.execution and (self.execution.failed or self.execution.unknown))


@dataclass(frozen=True)
class CycleOptions:
    plan: PlanOptions = field(default_factory=PlanOptions)
    execute: ExecuteOptions = field(default_factory=lambda: ExecuteOptions(wait=False, later=CONTROLLER_LATER))
    routing: AgentRouting = AgentRouting.HOST


def next_cycle_id() -> str:
    return f"c{next(_cycle_numbers):05d}"


def current_cycle() -> str | None:
    """The id of the cycle running in this task, if any."""
    return _current_cycle.get()


@contextlib.contextmanager
def cycle_scope(cycle_id: str) -> Iterator[str]:
    """Within it, current_cycle() is `cycle_id` (for this task and the tasks it starts)."""
    token = _current_cycle.set(cycle_id)
    try:
        yield cycle_id
    finally:
        _current_cycle.reset(token)


async def execute_cycle_plan(
    plan: Plan, marathon: MarathonPort, consul: ConsulPort | None, options: CycleOptions
) -> Execution | None:
    """Marathon's actions first (heals included), then Consul's; None when nothing is pending."""
    if plan.empty:
        return None
    marathon_part = any(a.kind not in CONSUL_KINDS for a in plan.pending)
    execution = await execute_plan(plan, marathon, options.execute) if marathon_part else Execution(plan.actions)
    if consul is not None and any(a.kind in CONSUL_KINDS for a in plan.pending):
        done = await execute_consul(replace(plan, actions=execution.actions), consul, options.routing)
        execution = replace(execution, actions=done.actions)
    return execution


class Reconciler:
    """Runs cycles against one Marathon and (optionally) one Consul, carrying the heal memory."""

    def __init__(
        self,
        load: Callable[[], Desired],
        marathon: MarathonPort,
        consul: ConsulPort | None,
        options: CycleOptions = CycleOptions(),
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._marathon = marathon
        self._consul = consul
        self._options = options
        self._clock = clock
        self.memory = HealMemory()
        self.catalog: CatalogSnapshot | None = None  # Consul's node services, re-read only when they moved

    async def cycle(self, trigger: str = "manual") -> CycleResult:
        """One pass. Expected failures come back in `error`; nothing raises for a remote outage."""
        with cycle_scope(current_cycle() or next_cycle_id()) as cycle_id:
            return await self._cycle(cycle_id, trigger)

    async def _cycle(self, cycle_id: str, trigger: str) -> CycleResult:
        started = time.monotonic()
        log.info("cycle=%s event=cycle-start trigger=%s", cycle_id, trigger)
        try:
            desired = self._load()
            observation = await observe(self._marathon, self._consul, self.catalog)
            self.catalog = observation.catalog
        except SpecError as exc:
            first = exc.problems[0].render() if exc.problems else str(exc)
            log.error("cycle=%s event=spec-invalid problems=%d first=%r", cycle_id, len(exc.problems), first)
            return CycleResult(cycle_id, trigger, error=f"invalid specs: {first}")
        except ReconcilerError as exc:
            log.error("cycle=%s event=observe-failed error=%r", cycle_id, str(exc))
            return CycleResult(cycle_id, trigger, error=str(exc))
        for problem in observation.problems:
            log.warning("cycle=%s event=observation-incomplete problem=%r", cycle_id, problem)
        now = self._clock()
        planned = plan_cycle(desired, observation, self._options.plan, self.memory, now)
        self.memory = planned.memory
        execution = await execute_cycle_plan(planned.plan, self._marathon, self._consul, self._options)
        if execution is not None and execution.unknown:
            execution = await self._settle(cycle_id, desired, execution, now)
        for action in execution.actions if execution else planned.plan.actions:
            log.info("cycle=%s %s", cycle_id, action.line())
        seconds = time.monotonic() - started
        pending = len(planned.plan.pending)
        log.info("cycle=%s event=cycle-end actions=%d seconds=%.3f", cycle_id, pending, seconds)
        due = heal_due_in(desired, observation.actual, self.memory, now)
        return CycleResult(
            cycle_id, trigger, planned.plan, execution, observation.actual, None, seconds, observation, due
        )


    async def _settle(self, cycle_id: str, desired: Desired, execution: Execution, now: float) -> Execution:
        """Writes of unknown outcome: a fresh observation tells which landed (never a blind retry)."""
        log.warning("cycle=%s event=outcome-unknown actions=%d: observing again", cycle_id, len(execution.unknown))
        try:
            fresh = await observe(self._marathon, self._consul)
        except ReconcilerError as exc:
            log.error("cycle=%s event=reobserve-failed error=%r", cycle_id, str(exc))
            return execution
        replanned = plan_cycle(desired, fresh, self._options.plan, self.memory, now).plan
        return replace(execution, actions=settle_unknown(execution.actions, replanned))


async def run_cycle(
    load: Callable[[], Desired],
    marathon: MarathonPort,
    options: PlanOptions,
    *,
    trigger: str = "manual",
    execute_options: ExecuteOptions = ExecuteOptions(wait=False, later=CONTROLLER_LATER),
    consul: ConsulPort | None = None,
) -> CycleResult:
    """One pass without a memory carried over (a one-off cycle): see Reconciler for the loop."""
    reconciler = Reconciler(load, marathon, consul, CycleOptions(plan=options, execute=execute_options))
    return await reconciler.cycle(trigger)


def succeeded(execution: Execution | None) -> int:
    return sum(1 for a in execution.actions if a.outcome == Outcome.SUCCEEDED) if execution else 0
