"""Deployment plans (sandbox layer, pure): the steps Marathon derives from two root states.

DeploymentPlan.apply: stop removed apps, start new apps at 0 instances, then one step per
dependency level that scales (new, instances-only change, or any change to 0 instances) or restarts
(any other change).
"""

from __future__ import annotations

from reconciler.sandbox.marathon.appdef import is_scale_only
from reconciler.sandbox.marathon.model import ActionKind, JsonDict, PlanAction


def build_steps(
    original: dict[str, JsonDict], target: dict[str, JsonDict], restarts: frozenset[str] = frozenset()
) -> list[list[PlanAction]]:
    stops = sorted(set(original) - set(target))
    starts = sorted(set(target) - set(original))
    moving: dict[str, ActionKind] = {app_id: ActionKind.SCALE for app_id in starts}
    for app_id in sorted(set(original) & set(target)):
        if app_id in restarts or original[app_id] != target[app_id]:
            moving[app_id] = _moving_kind(original[app_id], target[app_id])
    steps: list[list[PlanAction]] = []
    if stops:
        steps.append([PlanAction(ActionKind.STOP, app_id) for app_id in stops])
    if starts:
        steps.append([PlanAction(ActionKind.START, app_id) for app_id in starts])
    levels = dependency_levels(set(moving), target)
    for level in sorted(set(levels.values())):
        steps.append([PlanAction(moving[app_id], app_id) for app_id in sorted(moving) if levels[app_id] == level])
    return steps


def _moving_kind(stored: JsonDict, target: JsonDict) -> ActionKind:
    """A changed (or restarted) app scales when only `instances` moved or when it goes to 0 instances,
    whatever else changed (DeploymentPlan.dependencyOrderedSteps: `isOnlyScaleChange || isScaledToZero`)."""
    if is_scale_only(stored, target) or int(target.get("instances", 1)) == 0:
        return ActionKind.SCALE
    return ActionKind.RESTART


def dependency_levels(app_ids: set[str], apps: dict[str, JsonDict]) -> dict[str, int]:
    """Longest dependency chain below each app (a dependency on a group means all its apps)."""
    levels: dict[str, int] = {}

    def level_of(app_id: str, trail: frozenset[str]) -> int:
        if app_id in levels:
            return levels[app_id]
        below = [
            level_of(dep_app, trail | {app_id})
            for dep in apps.get(app_id, {}).get("dependencies") or []
            for dep_app in _apps_under(str(dep), apps)
            if dep_app not in trail and dep_app != app_id
        ]
        levels[app_id] = 1 + max(below) if below else 0
        return levels[app_id]

    return {app_id: level_of(app_id, frozenset()) for app_id in app_ids}


def _apps_under(path: str, apps: dict[str, JsonDict]) -> list[str]:
    if path in apps:
        return [path]
    prefix = path.rstrip("/") + "/"
    return [app_id for app_id in apps if app_id.startswith(prefix)]
