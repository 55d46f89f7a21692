"""One cycle's whole plan (engine layer): Marathon actions, registrations, queries and heals in one Plan.

Order: Marathon's diff (`build_plan`), then registrations (`plan_registrations`), prepared queries
(`plan_queries`) and heal decisions (`decide_heals`). A heal repair that registers a task the
registration planner already registers is merged into one action. Consul actions stay inside the
environments in scope (`--env`, else the tree's), and a query of a pruned app goes with its delete.
Nothing destructive comes from an incomplete observation: no prune, no deregistration, no query
delete, no kill (see `strict`). A Planner owns the memos that spare a plan the work its last plan did:
a controller keeps one for its life, a one-off command makes its own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace

from reconciler.core.decision_memo import DecisionMemos
from reconciler.core.heal import HealMemory, decide_heals
from reconciler.core.model import Action, ActionKind, Desired, Plan
from reconciler.core.plan import PlanOptions, build_plan, scope_of
from reconciler.core.queries import plan_queries, tie_to_deletes
from reconciler.core.registrations import plan_registrations
from reconciler.core.registry import ConsulObservation, InstanceChanges, instance_changes
from reconciler.engine.observe import Observation
from reconciler.engine.plan_changes import Basis, ChangeScan
from reconciler.engine.plan_memo import PlanInputs, PlanMemo
from reconciler.gc_pause import gc_paused

CONSUL_KINDS = frozenset(
    {
        ActionKind.REGISTER,
        ActionKind.DEREGISTER,
        ActionKind.QUERY_CREATE,
        ActionKind.QUERY_UPDATE,
        ActionKind.QUERY_DELETE,
    }
)
DESTRUCTIVE_KINDS = frozenset({ActionKind.DELETE, ActionKind.DEREGISTER, ActionKind.QUERY_DELETE, ActionKind.KILL_TASK})
@dataclass(frozen=True)
class CyclePlan:
    plan: Plan
    memory: HealMemory


class Planner:
    """The owner of a line of plans and of the memos between them: the last plan (an idle cycle, whose
    inputs are the previous cycle's objects, reuses it), each app's last decisions (a cycle after one
    change decides that app again: engine/plan_changes.py finds it) and each observation's Consul indexes.

    One plan at a time: a controller plans in a worker thread (engine/sync.py) while its loop may plan
    too, and the memos hold one pass each."""

    def __init__(self) -> None:
        self.plans = PlanMemo()
        self.memos = DecisionMemos()
        self._scan = ChangeScan()
        self._consul: ConsulObservation | None = None  # the last observation's, whose indexes are carried on
        self._lock = threading.Lock()

    def plan(
        self, desired: Desired, observation: Observation, options: PlanOptions, memory: HealMemory, now: float,
        *, consul_desired: Desired | None = None, strict: bool = True,
    ) -> CyclePlan:
        """The plan of one cycle and the heal memory for the next.

        `consul_desired` is the whole spec tree when `desired` was narrowed to `options.env`: a functional
        set's fallback queries need its base environment, and Consul actions are then kept to that env.
        `strict` (the controller): either side incomplete drops every destructive action. Not strict (a
        one-off plan or apply, whose operator sees the warning): each side's gaps guard that side's
        actions only, so an explicit `--prune` of Marathon apps does not wait on Consul.
        """
        actual = observation.actual
        inputs = PlanInputs(
            desired, consul_desired, options, strict, memory, actual.apps,
            (actual.deployments, actual.complete, actual.problems), observation.consul, observation.consul_enabled,
        )
        basis = Basis(desired, consul_desired or desired, options, strict, observation.consul_enabled, actual,
                      observation.consul, memory)
        with self._lock, gc_paused():  # a plan's short-lived objects would set off full collections of the memos
            known = self._carry_indexes(observation.consul)
            return self.plans.get(inputs, lambda: self._planned(basis, observation, now, known), _memory_of)

    def forget(self) -> None:
        """Everything remembered: the next plan is made from scratch (as a fresh Planner's)."""
        with self._lock:
            self.plans.clear()
            self.memos.clear()
            self._scan.forget()
            self._consul = None

    def _carry_indexes(self, consul: ConsulObservation) -> tuple[ConsulObservation, InstanceChanges] | None:
        """The last observation and what moved from its instances to `consul`'s, whose indexes it carries."""
        last, self._consul = self._consul, consul
        if last is None or last is consul:
            return None
        changes = instance_changes(last.instances, consul.instances)
        consul.carry_indexes(last, changes)
        return last, changes

    def _planned(
        self, basis: Basis, observation: Observation, now: float,
        known: tuple[ConsulObservation, InstanceChanges] | None,
    ) -> CyclePlan:
        changes = self._scan.changes(basis, known)
        self.memos.changed_apps, self.memos.changed_queries = changes.apps, changes.queries
        try:
            planned = _plan_cycle(basis.desired, observation, basis.options, basis.memory, now,
                                  basis.whole, basis.strict, self.memos)
        except BaseException:
            self._scan.forget()  # the memos' passes stopped half-way: none is the last plan's
            raise
        finally:
            self.memos.changed_apps = self.memos.changed_queries = None
        self._scan.keep(replace(basis, memory=planned.memory))
        return planned


def _memory_of(planned: CyclePlan) -> HealMemory:
    return planned.memory


def plan_cycle(
    desired: Desired,
    observation: Observation,
    options: PlanOptions,
    memory: HealMemory,
    now: float,
    *,
    consul_desired: Desired | None = None,
    strict: bool = True,
) -> CyclePlan:
    """One plan from scratch (a fresh Planner's): what an owner's plan must always equal."""
    return Planner().plan(desired, observation, options, memory, now, consul_desired=consul_desired, strict=strict)


def _plan_cycle(
    desired: Desired, observation: Observation, options: PlanOptions, memory: HealMemory, now: float,
    whole: Desired, strict: bool, memos: DecisionMemos,
) -> CyclePlan:
    if not observation.actual.complete:
        options = replace(options, prune=False)
    marathon_plan = build_plan(desired, observation.actual, options, memos)
    actions = list(marathon_plan.actions)
    if observation.consul_enabled:
        actual, consul = observation.actual, observation.consul
        registrations = plan_registrations(whole, actual, consul, memos.registrations, memos.changed_apps)
        consul_actions = list(registrations)
        consul_actions.extend(plan_queries(whole, actual, consul, prune=options.prune, memos=memos))
        decisions = decide_heals(desired, actual, consul, memory, now, memos.heals, memos.changed_apps)
        consul_actions.extend(decisions.actions)
        memory = decisions.memory
        scoped = in_scope(merge_registrations(consul_actions), scope_of(whole, options.env))
        actions.extend(tie_to_deletes(scoped, marathon_plan.actions))
    if strict and not observation.complete:
        actions = [a for a in actions if a.kind not in DESTRUCTIVE_KINDS]
    return CyclePlan(replace(marathon_plan, actions=tuple(actions)), memory)


def merge_registrations(actions: Iterable[Action]) -> list[Action]:
    """One REGISTER per service id: the first wins, later reasons are appended to it."""
    merged: list[Action] = []
    first: dict[str, int] = {}
    for action in actions:
        if action.kind != ActionKind.REGISTER:
            merged.append(action)
            continue
        if action.target in first:
            kept = merged[first[action.target]]
            if action.reason not in kept.reason:
                merged[first[action.target]] = replace(kept, reason=f"{kept.reason}; {action.reason}")
            continue
        first[action.target] = len(merged)
        merged.append(action)
    return merged


def in_scope(actions: Iterable[Action], environments: Iterable[str]) -> list[Action]:
    """The Consul actions of the environments in scope (exactly by name): never another environment's."""
    scope = set(environments)
    return [a for a in actions if a.env in scope]
