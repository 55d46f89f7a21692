"""One level-triggered reconcile pass (engine layer): load the specs, then one sync (engine/sync.py).

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
from dataclasses import dataclass, field

from reconciler.core.heal import HealMemory
from reconciler.core.model import Action, Actual, Desired, Outcome, Plan
from reconciler.core.plan import PlanOptions
from reconciler.engine.autoscaling import AppScaling, Autoscaler
from reconciler.engine.consul_read import CatalogSnapshot
from reconciler.engine.execute import CONTROLLER_LATER, ExecuteOptions, Execution
from reconciler.engine.healing import heal_due_in
from reconciler.engine.observe import Observation
from reconciler.engine.planning import Planner
from reconciler.engine.ports import ConsulPort, MarathonPort
from reconciler.engine.routing import AgentRouting
from reconciler.engine.sync import SyncHooks, SyncRequest, sync
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
    autoscale: tuple[AppScaling, ...] = ()  # the autoscaler's decision per autoscaled app

    @property
    def ok(self) -> bool:
        return self.error is None and not (self.execution and (self.execution.failed or self.execution.unknown))

    @property
    def problems(self) -> tuple[str, ...]:
        """What the cycle's observation could not read (Consul down, say): it planned nothing destructive."""
        return self.observation.problems if self.observation is not None else ()


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
        autoscaler: Autoscaler | None = None,
        in_force: Callable[[Desired, Observation], Desired] | None = None,
        whole: Callable[[Desired], Desired | None] | None = None,
    ) -> None:
        """`in_force`: what of the loaded specs this cycle reconciles, given the observation (the approval
        gate keeps approval environments at their approved state: engine/approvals.py). `whole`: the whole
        spec tree of specs `load` gave, when narrowed to one environment (a functional set's DNS fallbacks
        need its base's apps), else None."""
        self._load = load
        self._whole = whole
        self.autoscaler = autoscaler
        self._in_force = in_force
        self._marathon = marathon
        self._consul = consul
        self._options = options
        self._clock = clock
        self.memory = HealMemory()
        self.catalog: CatalogSnapshot | None = None  # Consul's node services, re-read only when they moved
        self.planner = Planner()  # every cycle's plans: each plans again only what changed since the last
        self._log: _CycleLog | None = None  # the running cycle's, while one runs

    @property
    def interruptible(self) -> bool:
        """A cycle runs and has sent nothing yet: it observes or plans (Controller.stop may cancel it)."""
        return self._log is not None and not self._log.writing

    async def cycle(self, trigger: str = "manual") -> CycleResult:
        """One pass. Expected failures come back in `error`; nothing raises for a remote outage."""
        with cycle_scope(current_cycle() or next_cycle_id()) as cycle_id:
            return await self._cycle(cycle_id, trigger)

    async def _cycle(self, cycle_id: str, trigger: str) -> CycleResult:
        started = time.monotonic()
        log.info("cycle=%s event=cycle-start trigger=%s", cycle_id, trigger)
        hooks = self._log = _CycleLog(cycle_id, self._in_force)
        try:
            request = self._request(self._load())
            synced = await sync(request, self._marathon, self._consul, hooks=hooks)
        except SpecError as exc:
            first = exc.problems[0].render() if exc.problems else str(exc)
            log.error("cycle=%s event=spec-invalid problems=%d first=%r", cycle_id, len(exc.problems), first)
            return CycleResult(cycle_id, trigger, error=f"invalid specs: {first}", seconds=time.monotonic() - started)
        except ReconcilerError as exc:
            log.error("cycle=%s event=observe-failed error=%r", cycle_id, str(exc))
            return CycleResult(cycle_id, trigger, error=str(exc), seconds=time.monotonic() - started)
        finally:
            self._log = None
        self.catalog, self.memory = synced.observation.catalog, synced.memory
        for action in synced.execution.actions if synced.execution else synced.plan.actions:
            log.log(_level(action), "cycle=%s %s", cycle_id, action.line())
        seconds = time.monotonic() - started
        log.info("cycle=%s event=cycle-end actions=%d seconds=%.3f", cycle_id, len(synced.plan.pending), seconds)
        due = heal_due_in(hooks.desired or request.desired, synced.observation.actual, self.memory, synced.now)
        return CycleResult(cycle_id, trigger, synced.plan, synced.execution, synced.observation.actual, None,
                           seconds, synced.observation, due, autoscale=synced.autoscale)

    def _request(self, desired: Desired) -> SyncRequest:
        """The controller's sync: its heal memory and Consul catalog snapshot carried, strict."""
        options = self._options
        return SyncRequest(desired, options.plan, options.execute, options.routing, memory=self.memory,
                           clock=self._clock, strict=True, catalog=self.catalog, autoscaler=self.autoscaler,
                           planner=self.planner, whole=self._whole(desired) if self._whole is not None else None)


def _level(action: Action) -> int:
    """A write that failed, or whose outcome is unknown, is a warning: `--log-level WARNING` must show it."""
    return logging.WARNING if action.outcome in (Outcome.FAILED, Outcome.UNKNOWN) else logging.INFO


class _CycleLog(SyncHooks):
    """The controller's face on a sync: log lines naming the cycle, and the approval gate (`in_force`)."""

    def __init__(self, cycle_id: str, in_force: Callable[[Desired, Observation], Desired] | None = None) -> None:
        self.cycle_id = cycle_id
        self._in_force = in_force
        self.desired: Desired | None = None  # what the sync planned, once known
        self.writing = False  # the sync began to write (set before the first write goes out)

    def executing(self, plan: Plan) -> None:
        self.writing = True

    def in_force(self, desired: Desired, observation: Observation) -> Desired:
        self.desired = self._in_force(desired, observation) if self._in_force is not None else desired
        return self.desired

    def observed(self, observation: Observation) -> None:
        for problem in observation.problems:
            log.warning("cycle=%s event=observation-incomplete problem=%r", self.cycle_id, problem)

    def autoscaled(self, apps: tuple[AppScaling, ...]) -> None:
        """At INFO a decision that differs from the app's previous one, else at DEBUG (a steady state stays quiet)."""
        for app in apps:
            log.log(logging.INFO if app.news else logging.DEBUG, "cycle=%s event=autoscale %s", self.cycle_id,
                    app.line())

    def settling(self, unknown: tuple[Action, ...]) -> None:
        log.warning("cycle=%s event=outcome-unknown actions=%d: observing again", self.cycle_id, len(unknown))

    def settle_failed(self, error: ReconcilerError) -> None:
        log.error("cycle=%s event=reobserve-failed error=%r", self.cycle_id, str(error))
