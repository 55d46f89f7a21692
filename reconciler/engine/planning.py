"""One cycle's whole plan (engine layer): Marathon actions, registrations, queries and heals in one Plan.

Order: Marathon's diff (`build_plan`), then registrations (`plan_registrations`), prepared queries
(`plan_queries`) and heal decisions (`decide_heals`). A heal repair that registers a task the
registration planner already registers is merged into one action. Consul actions stay inside the
environments in scope (`--env`, else the tree's), and a query of a pruned app goes with its delete.
Nothing destructive comes from an incomplete observation: no prune, no deregistration, no query
delete, no kill (see `strict`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from reconciler.core.decision_memo import DecisionMemos
from reconciler.core.heal import HealMemory, decide_heals
from reconciler.core.model import Action, ActionKind, Desired, Plan
from reconciler.core.plan import PlanOptions, build_plan, scope_of
from reconciler.core.queries import plan_queries, tie_to_deletes
from reconciler.core.registrations import plan_registrations
from reconciler.engine.observe import Observation
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
PLANS = PlanMemo()  # the last plan: an idle cycle, whose inputs are the previous cycle's objects, reuses it
# Each app's last Consul decisions, beside the last plan: a cycle after one change decides that app again
DECISIONS = DecisionMemos()


@dataclass(frozen=True)
class CyclePlan:
    plan: Plan
    memory: HealMemory


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
    with gc_paused():  # a plan's short-lived objects would set off full collections of the memos' heap
        return PLANS.get(
            inputs, lambda: _plan_cycle(desired, observation, options, memory, now, consul_desired, strict),
            lambda planned: planned.memory,
        )


def _plan_cycle(
    desired: Desired, observation: Observation, options: PlanOptions, memory: HealMemory, now: float,
    consul_desired: Desired | None, strict: bool,
) -> CyclePlan:
    if not observation.actual.complete:
        options = replace(options, prune=False)
    marathon_plan = build_plan(desired, observation.actual, options)
    actions = list(marathon_plan.actions)
    if observation.consul_enabled:
        whole = consul_desired or desired
        registrations = plan_registrations(whole, observation.actual, observation.consul, DECISIONS.registrations)
        consul_actions = list(registrations)
        consul_actions.extend(
            plan_queries(whole, observation.actual, observation.consul, prune=options.prune, memos=DECISIONS)
        )
        decisions = decide_heals(desired, observation.actual, observation.consul, memory, now, DECISIONS.heals)
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
