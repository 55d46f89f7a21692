"""One sync (engine layer): observe -> plan -> execute Marathon -> Consul -> settle -> follow-up.

The one operation behind `plan` (dry), `apply` and each controller cycle. With an autoscaler (the
controller's), the autoscaled apps' counts are decided from the observation before planning
(engine/autoscaling.py). Marathon's actions go first
(waiting for the deployments when asked), then Consul's. Writes whose answer was lost are settled from
a fresh observation, never retried blindly. After waited deployments, a Consul-only pass over a fresh
observation registers the tasks they started, and the state then observed tells whether every app
converged and, if not, why. The faces print through SyncHooks; nothing here prints or logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace

from reconciler.core.heal import HealMemory, forget_unsent, not_in_flight
from reconciler.core.model import Action, ActionKind, Actual, Desired, Plan
from reconciler.core.outcomes import settle_unknown
from reconciler.core.plan import PlanOptions
from reconciler.engine.autoscaling import AppScaling, Autoscaler, autoscale_round
from reconciler.engine.consul_execute import execute_consul
from reconciler.engine.consul_read import CatalogSnapshot
from reconciler.engine.execute import ExecuteOptions, Execution, ProgressCallback, execute_plan
from reconciler.engine.observe import Observation, observe
from reconciler.engine.planning import CONSUL_KINDS, CyclePlan, Planner
from reconciler.engine.ports import ConsulPort, MarathonPort
from reconciler.engine.routing import AgentRouting
from reconciler.engine.stuck import Convergence, convergence_of
from reconciler.errors import ReconcilerError

# Marathon's guard refusals: with `halt_on_refusal` one of them stops the whole sync (nothing is
# half-applied). Heal and Consul refusals are reported, never blocking.
BLOCKING_KINDS = frozenset({ActionKind.CREATE, ActionKind.UPDATE, ActionKind.SCALE, ActionKind.DELETE})


@dataclass(frozen=True)
class SyncRequest:
    """What to sync, and how.

    `whole` is the whole spec tree when `desired` was narrowed to `options.env` (a functional set's
    DNS fallbacks need its base environment). `memory` and `clock` feed the heal decisions: the
    controller passes the memory it carries, a one-off a fresh one; `now` is the clock read once the
    first observation is in, and every plan of the sync uses it. `strict` (the controller): an
    incomplete observation drops every destructive action; not strict (a one-off, whose operator
    sees the warning): each side's gaps guard that side's actions only (engine/planning.py).
    `halt_on_refusal` (apply): a Marathon guard refusal sends nothing at all. `catalog`: the Consul
    snapshot the previous cycle kept. `planner`: the controller's, kept for its life; a one-off's own.
    """

    desired: Desired
    options: PlanOptions = field(default_factory=PlanOptions)
    execute: ExecuteOptions = field(default_factory=ExecuteOptions)
    routing: AgentRouting = AgentRouting.HOST
    whole: Desired | None = None
    memory: HealMemory = field(default_factory=HealMemory)
    clock: Callable[[], float] = time.monotonic
    strict: bool = True
    dry_run: bool = False
    halt_on_refusal: bool = False
    catalog: CatalogSnapshot | None = None
    autoscaler: Autoscaler | None = None  # the controller's: decides the autoscaled apps' counts
    planner: Planner = field(default_factory=Planner, compare=False)


@dataclass(frozen=True)
class SyncResult:
    """What a sync saw, planned and did. `execution` is None when nothing was sent (a dry run, an
    empty plan, or a plan held by a guard refusal); `after` is the state observed once the
    deployments ended (None unless waited for)."""

    observation: Observation
    plan: Plan
    memory: HealMemory
    now: float
    execution: Execution | None = None
    after: Actual | None = None
    convergence: Convergence = field(default_factory=Convergence)
    autoscale: tuple[AppScaling, ...] = ()

    @property
    def held(self) -> tuple[Action, ...]:
        """The Marathon guard refusals of the plan (they hold the whole sync when halt_on_refusal)."""
        return blocking_refusals(self.plan)


class SyncHooks:
    """How a face hears of a sync as it goes; each hook does nothing unless overridden."""

    def observed(self, observation: Observation) -> None:
        """The first observation, before anything is planned from it."""

    def in_force(self, desired: Desired, observation: Observation) -> Desired:
        """What of `desired` this sync plans, decided once the first observation is in (the controller's
        approval gate: engine/approvals.py, store reads and a review plan); all of it unless overridden.
        Called in a worker thread, as the plan is made (`plan_observed`), so that the loop runs meanwhile."""
        return desired

    def autoscaled(self, apps: tuple[AppScaling, ...]) -> None:
        """The autoscaler's decisions (with an autoscaler), before the plan is made with them."""

    def executing(self, plan: Plan) -> None:
        """The plan about to be executed, before its first write."""

    def sending(self) -> AbstractContextManager[ProgressCallback | None]:
        """Around Marathon's writes and the wait for their deployments; yields a progress callback."""
        return contextlib.nullcontext(None)

    def settling(self, unknown: tuple[Action, ...]) -> None:
        """Writes of unknown outcome: the systems are observed again to settle them."""

    def settle_failed(self, error: ReconcilerError) -> None:
        """The observation meant to settle them failed: they stay of unknown outcome."""

    def following_up(self, plan: Plan) -> None:
        """The Consul-only plan registering the tasks the deployments started, before it is sent."""


def blocking_refusals(plan: Plan) -> tuple[Action, ...]:
    return tuple(a for a in plan.refused if a.kind in BLOCKING_KINDS)


async def plan_observed(request: SyncRequest, observation: Observation, memory: HealMemory, now: float) -> CyclePlan:
    """The plan of `request` from `observation`, and the heal memory for the next plan.

    Planned in a worker thread: at 10,000 apps a plan is seconds of CPU, and on the event loop it held
    back everything else the loop runs, the leader's lock beats first (a leader whose beats starve
    fences its own writes: engine/leader.py). The loop gets the interpreter back at every switch
    interval meanwhile. The inputs are immutable values nothing changes while the sync awaits its plan,
    and the result comes back whole: the thread shares no state with the loop but the request's planner,
    which plans one plan at a time."""
    return await asyncio.to_thread(request.planner.plan, request.desired, observation, request.options, memory, now,
                                   consul_desired=request.whole, strict=request.strict)


async def sync(
    request: SyncRequest, marathon: MarathonPort, consul: ConsulPort | None, *, hooks: SyncHooks | None = None
) -> SyncResult:
    """One sync. Raises ReconcilerError when Marathon cannot be read (nothing can be planned without
    it); a failure of single writes comes back as their outcome."""
    hooks = hooks or SyncHooks()
    observation = await observe(marathon, consul, request.catalog)
    hooks.observed(observation)
    request = replace(request, desired=await asyncio.to_thread(hooks.in_force, request.desired, observation))
    now = request.clock()
    scaling = await autoscale_round(request.autoscaler, request.desired, observation.actual)
    hooks.autoscaled(scaling.apps)
    request = replace(request, options=scaling.plan_options(request.options))  # every plan of the sync
    planned = await plan_observed(request, observation, request.memory, now)
    planned = replace(planned, plan=scaling.with_plan(planned.plan))
    result = SyncResult(observation, planned.plan, planned.memory, now, autoscale=scaling.apps)
    if request.dry_run or planned.plan.empty or (request.halt_on_refusal and result.held):
        _written(request.autoscaler, scaling.apps, ())
        return result
    hooks.executing(planned.plan)
    execution = await _execute(planned.plan, marathon, consul, request, hooks)
    result = replace(result, memory=forget_unsent(planned.memory, observation.actual, execution.actions, now))
    replanning = _Replanning(request, planned.memory, now, marathon, consul, hooks)
    if execution.unknown:
        execution = await replanning.settle(execution)
    _written(request.autoscaler, scaling.apps, execution.actions)
    after = None
    if request.execute.wait and not execution.failed and not execution.unknown:
        after, execution = await replanning.follow_up(execution)
    convergence = await convergence_of(marathon, request.desired, execution, after)
    return replace(result, execution=execution, after=after, convergence=convergence)


def _written(autoscaler: Autoscaler | None, apps: tuple[AppScaling, ...], actions: tuple[Action, ...]) -> None:
    """Tells the autoscaler which of its scalings were written (it forgets those that were not)."""
    if autoscaler is not None:
        autoscaler.written(apps, actions)


async def _execute(
    plan: Plan, marathon: MarathonPort, consul: ConsulPort | None, request: SyncRequest, hooks: SyncHooks
) -> Execution:
    """Marathon's actions (heal kills included) first, then Consul's."""
    with hooks.sending() as progress:
        execution = await execute_plan(plan, marathon, request.execute, progress)
    if consul is not None and any(a.kind in CONSUL_KINDS for a in plan.pending):
        done = await execute_consul(replace(plan, actions=execution.actions), consul, request.routing,
                                    may_write=request.execute.may_write)
        execution = replace(execution, actions=done.actions)
    return execution


@dataclass(frozen=True)
class _Replanning:
    """The passes after the execution, each over a fresh observation, planned with the memory the
    sync's own plan left (and the same `now`)."""

    request: SyncRequest
    memory: HealMemory
    now: float
    marathon: MarathonPort
    consul: ConsulPort | None
    hooks: SyncHooks

    async def settle(self, execution: Execution) -> Execution:
        """Writes of unknown outcome: a fresh observation tells which landed (never a blind retry)."""
        self.hooks.settling(execution.unknown)
        try:
            fresh = await observe(self.marathon, self.consul)
        except ReconcilerError as exc:
            self.hooks.settle_failed(exc)
            return execution
        # Whether a kill is still needed is the question: its own task is judged, not held as killed.
        judged = not_in_flight(self.memory, {a.target for a in execution.unknown})
        replanned = (await plan_observed(self.request, fresh, judged, self.now)).plan
        return replace(execution, actions=settle_unknown(execution.actions, replanned))

    async def follow_up(self, execution: Execution) -> tuple[Actual, Execution]:
        """After the deployments: register the tasks they started, from a fresh observation."""
        observation = await observe(self.marathon, self.consul)
        if self.consul is None or not execution.deployment_ids:
            return observation.actual, execution
        plan = (await plan_observed(self.request, observation, self.memory, self.now)).plan
        consul_only = Plan(actions=tuple(a for a in plan.pending if a.kind in CONSUL_KINDS))
        if consul_only.empty:
            return observation.actual, execution
        self.hooks.following_up(consul_only)
        done = await execute_consul(consul_only, self.consul, self.request.routing,
                                    may_write=self.request.execute.may_write)
        return observation.actual, replace(execution, actions=execution.actions + done.actions)
