"""Plain-data views of plans and actions (pure core): what `-o json`, the store and the web show."""

from __future__ import annotations

from collections import Counter
from typing import Any

from reconciler.core.masking import shown_change
from reconciler.core.model import Action, ActionKind, FieldChange, Plan


def action_as_dict(action: Action) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": str(action.kind),
        "target": action.target,
        "env": action.env,
        "reason": action.reason,
        "outcome": str(action.outcome),
    }
    if action.changes:
        data["changes"] = [_change_as_dict(c) for c in action.changes]
    if action.instances_to is not None:
        data["instances"] = {"actual": action.instances_from, "desired": action.instances_to}
    if action.force:
        data["force"] = True
    if action.detail:
        data["detail"] = action.detail
    return data


def _change_as_dict(change: FieldChange) -> dict[str, Any]:
    """One changed field, its secrets masked (core/masking.py): `masked` says that the values shown hide one."""
    shown = shown_change(change)
    data: dict[str, Any] = {"path": shown.path, "actual": shown.actual, "desired": shown.desired}
    return data | {"masked": True} if shown.masked else data


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
