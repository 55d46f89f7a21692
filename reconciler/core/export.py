"""Plain-data views of plans and actions (pure core): what `-o json`, the store and the web show."""

from __future__ import annotations

from collections import Counter
from typing import Any

from reconciler.core.model import Action, ActionKind, Plan


def action_as_dict(action: Action) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": str(action.kind),
        "target": action.target,
        "env": action.env,
        "reason": action.reason,
        "outcome": str(action.outcome),
    }
    if action.changes:
        data["changes"] = [{"path": c.path, "actual": c.actual, "desired": c.desired} for c in action.changes]
    if action.instances_to is not None:
        data["instances"] = {"actual": action.instances_from, "desired": action.instances_to}
    if action.force:
        data["force"] = True
    if action.detail:
        data["detail"] = action.detail
    return data


def summarize(plan: Plan) -> dict[str, int]:
    """Counts of pending actions by kind, plus refused and warnings."""
    counts = Counter(str(a.kind) for a in plan.pending)
    summary = {str(kind): counts.get(str(kind), 0) for kind in ActionKind if kind != ActionKind.WARN}
    summary["refused"] = len(plan.refused)
    summary["warnings"] = sum(1 for a in plan.actions if a.kind == ActionKind.WARN)
    return summary


def plan_as_dict(plan: Plan) -> dict[str, Any]:
    return {
        "revision": plan.revision,
        "actions": [action_as_dict(a) for a in plan.actions],
        "summary": summarize(plan),
        "outcomes": dict(sorted(Counter(str(a.outcome) for a in plan.actions).items())),
        "changes_pending": plan.changes_pending,
        "prunable": list(plan.prunable),
        "progressing": list(plan.progressing),
    }
