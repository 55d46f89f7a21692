"""Marathon ids across environments (spec layer): every app id names one app, and no app id is also a
group (Marathon: "Groups and Applications may not have the same identifier."). Environments that share
a group, or whose group lies under another environment's app, would otherwise overwrite each other's
apps. Each clash is reported at every place that takes part in it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from reconciler.core.naming import app_id_of
from reconciler.errors import ProblemList, SpecProblem
from reconciler.spec.expand import ConcreteEntry
from reconciler.spec.source import Mark
from reconciler.spec.specset import EnvironmentSource

MARATHON_GROUP_CLASH = "Groups and Applications may not have the same identifier."


@dataclass(frozen=True)
class _Owner:
    """Who claims an id: an app of an environment, or (app None) the environment's group."""

    environment: EnvironmentSource
    app: str | None
    mark: Mark

    def describe(self, app_id: str) -> str:
        where, name, group = self.mark.where, self.environment.name, self.environment.group
        if self.app is not None:
            return f"the id of app '{self.app}' of environment '{name}' ({where})"
        if group.rstrip("/") == app_id:
            return f"the group of environment '{name}' ({where})"
        return f"a group above environment '{name}' (its group is {group}, {where})"


def check_ids(
    expanded: Mapping[str, tuple[EnvironmentSource, Mapping[str, ConcreteEntry]]],
    selected: Collection[str],
    problems: ProblemList,
) -> None:
    """Problems for every id two places claim, when one of them is in a `selected` environment."""
    apps: dict[str, list[_Owner]] = {}
    groups: dict[str, list[_Owner]] = {}
    for environment, entries in expanded.values():
        for name, entry in entries.items():
            apps.setdefault(app_id_of(environment.group, name), []).append(_Owner(environment, name, entry.source.mark))
        for group in group_ids(environment.group):
            groups.setdefault(group, []).append(_Owner(environment, None, environment.group_mark or environment.mark))
    for app_id, owners in apps.items():
        claims = [*owners, *groups.get(app_id, [])]
        if len(claims) > 1 and any(owner.environment.name in selected for owner in claims):
            for owner in claims:
                problems.add(_clash(app_id, owner, [other for other in claims if other is not owner]))


def group_ids(group: str) -> list[str]:
    """`/a/b` and every group above it: `/a`, `/a/b`."""
    segments = [segment for segment in group.split("/") if segment]
    return ["/" + "/".join(segments[:end]) for end in range(1, len(segments) + 1)]


def _clash(app_id: str, owner: _Owner, others: list[_Owner]) -> SpecProblem:
    claims = " and ".join(other.describe(app_id) for other in others)
    with_group = owner.app is None or any(other.app is None for other in others)
    marathon = f' (Marathon: "{MARATHON_GROUP_CLASH}")' if with_group else " (Marathon keeps one app per id)"
    if owner.app is not None:
        message = f"app id '{app_id}' is also {claims}{marathon}"
    elif owner.environment.group.rstrip("/") == app_id:
        message = f"group '{app_id}' is also {claims}{marathon}"
    else:
        message = f"group '{owner.environment.group}' lies under '{app_id}', which is also {claims}{marathon}"
    hint = (
        "move that environment to another `group`, or rename the app"
        if with_group
        else "give one of the environments a `group` of its own, or rename one of the apps"
    )
    return SpecProblem(owner.mark.file, owner.mark.line, owner.mark.path, message, hint)
