"""What Marathon would hold after a plan (pure core), for tests and dry runs.

Applies a plan's pending actions to an Actual with Marathon's write semantics: create stores the
body, update is a `partialUpdate=true` PUT (each top-level field in the body replaces the old one
wholesale) unless its body clears a field (then `partialUpdate=false`: the body is the app), scale
changes only `instances`, delete removes the app. Warnings and refused actions change nothing.
Marathon's own defaulting is not imitated: normalisation makes it irrelevant.
"""

from __future__ import annotations

from dataclasses import replace

from reconciler.core.model import Action, ActionKind, Actual, ActualApp, Plan
from reconciler.core.normalize import replaces_whole


def apply_action(apps: dict[str, ActualApp], action: Action) -> None:
    body = dict(action.body or {})
    current = apps.get(action.target)
    if action.kind == ActionKind.DELETE:
        apps.pop(action.target, None)
    elif action.kind == ActionKind.CREATE or (action.kind == ActionKind.UPDATE and current is None):
        apps[action.target] = ActualApp(action.target, body, int(body.get("instances", 1)))
    elif action.kind in (ActionKind.UPDATE, ActionKind.SCALE) and current is not None:
        kept = {} if replaces_whole(body) else current.definition
        definition = {**kept, **{key: value for key, value in body.items() if value is not None}}
        instances = int(body.get("instances", current.instances))
        apps[action.target] = replace(current, definition=definition, instances=instances)


def simulate_apply(plan: Plan, actual: Actual) -> Actual:
    """`actual` after the plan's pending actions, as Marathon would hold it."""
    apps = dict(actual.apps)
    for action in plan.pending:
        apply_action(apps, action)
    return replace(actual, apps=apps)
