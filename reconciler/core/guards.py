"""Safety guards on a plan (pure core): refusals are values, never exceptions.

A refused action stays in the plan with `outcome=refused` and a reason saying why and what to do;
its original reason moves to `detail`. Guards: no deletes from an empty spec tree; no more deletes
than the prune limit without force; nothing destructive (deletes, scale-downs) on an incomplete
observation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from reconciler.core.model import Action, ActionKind, Actual, Outcome


@dataclass(frozen=True)
class PruneGuard:
    """What the prune guards need to know: spec size, managed apps (the limit's base), ratio and force."""

    desired_apps: int
    managed_apps: int
    limit_ratio: float
    force: bool

    @property
    def limit(self) -> int:
        return max(1, math.floor(self.limit_ratio * self.managed_apps))


def refuse(action: Action, reason: str) -> Action:
    return replace(action, outcome=Outcome.REFUSED, reason=reason, detail=action.reason)


def is_destructive(action: Action) -> bool:
    if action.kind == ActionKind.DELETE:
        return True
    if action.instances_from is None or action.instances_to is None:
        return False
    return action.instances_to < action.instances_from


def prune_refusal(deletes: int, guard: PruneGuard) -> str | None:
    """Why `deletes` deletes may not run, or None when they may."""
    if guard.desired_apps == 0:
        return "refusing to prune from an empty spec tree: check the spec path before pruning everything"
    if deletes > guard.limit and not guard.force:
        return (
            f"refusing to delete {deletes} apps: the prune limit is {guard.limit}"
            f" ({guard.limit_ratio:.0%} of {guard.managed_apps} managed apps, at least 1); pass --force to delete them"
        )
    return None


def guard_prune(actions: Sequence[Action], guard: PruneGuard) -> list[Action]:
    deletes = sum(1 for action in actions if action.kind == ActionKind.DELETE)
    reason = prune_refusal(deletes, guard) if deletes else None
    if reason is None:
        return list(actions)
    return [refuse(action, reason) if action.kind == ActionKind.DELETE else action for action in actions]


def guard_incomplete(actions: Sequence[Action], actual: Actual) -> list[Action]:
    """On a partial observation a missing app may only look missing: refuse deletes and scale-downs."""
    if actual.complete:
        return list(actions)
    why = "; ".join(actual.problems) or "some reads failed"
    reason = f"refusing to delete or scale down on an incomplete observation ({why}): retry when Marathon answers"
    return [refuse(action, reason) if is_destructive(action) else action for action in actions]


def guard_actions(actions: Sequence[Action], actual: Actual, guard: PruneGuard) -> list[Action]:
    """Every guard, in order; an action refused by the first keeps that first reason."""
    guarded = guard_incomplete(actions, actual)
    return guard_prune([a for a in guarded if a.outcome == Outcome.PLANNED], guard) + [
        a for a in guarded if a.outcome != Outcome.PLANNED
    ]
