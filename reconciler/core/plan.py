"""The planner (pure core): Desired x Actual -> Plan, gitops-engine style.

Pair desired and actual apps by id, normalise both, diff, then order the resulting actions and
pass them through the guards. Each app yields at most one action: create (absent), update (spec
changed, or drift on a field the spec sets; carries the new instances too), scale (only the
instance count differs), warn (the id belongs to an app we do not manage), delete (prune only).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from reconciler.core.compare_memo import ComparisonMemo
from reconciler.core.decision_memo import DecisionMemos
from reconciler.core.diff import diff_fields, same_fields
from reconciler.core.guards import PruneGuard, guard_actions
from reconciler.core.hashing import definition_hash
from reconciler.core.model import Action, ActionKind, Actual, ActualApp, Desired, DesiredApp, FieldChange, Plan
from reconciler.core.naming import (
    APP_LABEL,
    ENV_LABEL,
    HASH_LABEL,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    REVISION_LABEL,
    group_of,
)
from reconciler.core.normalize import RESET_VALUES, normalize_definition, resolve_dependency
from reconciler.core.order import order_actions
from reconciler.core.ports import adopt_assigned_ports, networking_resets

PORTS = frozenset({"portDefinitions", "container"})  # the members port adoption and networking resets read
DRIFT_PATHS_SHOWN = 3  # a reason stays one readable line; `changes` holds the full list


@dataclass(frozen=True)
class PlanOptions:
    prune: bool = False
    force: bool = False  # lifts the prune limit
    prune_limit_ratio: float = 0.10  # at most max(1, floor(ratio * managed apps)) deletes without force
    env: str | None = None  # only this environment
    instances: Mapping[str, int] = field(default_factory=dict)  # app id -> the autoscaler's count


DEFAULT_OPTIONS = PlanOptions()


@dataclass(frozen=True)
class Comparison:
    """One managed app's desired and actual definitions, normalised and compared."""

    desired_definition: dict[str, Any]
    desired_hash: str
    actual_hash: str | None
    changes: tuple[FieldChange, ...]
    resets: Mapping[str, Any]

    @property
    def spec_changed(self) -> bool:
        return self.desired_hash != self.actual_hash


def stamped_definition(app: DesiredApp) -> dict[str, Any]:
    """The app's definition with its id, ownership labels and absolute dependencies.

    The spec layer normally sets the labels already. Dependencies go into Marathon's own field so
    that one bulk PUT is deployed in dependency order and a later prune still knows the order.
    """
    labels = dict(app.definition.get("labels") or {})
    labels.setdefault(MANAGED_BY_LABEL, MANAGED_BY_VALUE)
    labels.setdefault(ENV_LABEL, app.env)
    labels.setdefault(APP_LABEL, app.name)
    definition = {**app.definition, "id": app.app_id, "labels": labels}
    dependencies = desired_dependencies(app)
    if dependencies:
        definition["dependencies"] = list(dependencies)
    return definition


def desired_dependencies(app: DesiredApp) -> tuple[str, ...]:
    """Absolute ids of what `app` depends on: the spec's names and the definition's own field."""
    names = [*app.dependencies, *(app.definition.get("dependencies") or [])]
    if not names:
        return ()
    return tuple(sorted({resolve_dependency(app.app_id, str(name)) for name in names}))


def write_body(definition: Mapping[str, Any], hash_value: str, revision: str, instances: int) -> dict[str, Any]:
    """What a create or update sends: the definition stamped with hash and revision labels."""
    labels = {**definition.get("labels", {}), HASH_LABEL: hash_value}
    if revision:
        labels[REVISION_LABEL] = revision
    return {**definition, "labels": labels, "instances": instances}


def compare_app(app: DesiredApp, actual_app: ActualApp) -> Comparison:
    definition = stamped_definition(app)
    desired_hash = definition_hash(definition)
    actual_hash = actual_app.labels.get(HASH_LABEL)
    desired_norm = normalize_definition(definition)
    keys = (set(definition) | set(desired_norm)) - {"id", "instances"}
    # An unchanged spec reads only the members it compares and those port adoption reads: no resets below
    actual_norm = normalize_definition(actual_app.definition, None if desired_hash != actual_hash else keys | PORTS)
    desired_norm = adopt_assigned_ports(desired_norm, actual_norm)
    changes = () if same_fields(desired_norm, actual_norm, keys) else diff_fields(desired_norm, actual_norm, keys)
    resets = networking_resets(desired_norm, actual_norm)  # also after a hand edit: the write needs it
    if desired_hash != actual_hash:  # "no longer sets" only means something when the spec changed
        resets |= {key: RESET_VALUES[key] for key in sorted(actual_norm) if key in RESET_VALUES and key not in keys}
    if resets:
        changes += tuple(FieldChange(f"/{key}", actual_norm[key], value) for key, value in resets.items())
    if desired_hash != actual_hash and not changes:  # only the hash label moves (the spec spells out a default)
        changes = (FieldChange(f"/labels/{HASH_LABEL}", actual_hash, desired_hash),)
    return Comparison(definition, desired_hash, actual_hash, changes, resets)


def drift_reason(changes: tuple[FieldChange, ...]) -> str:
    paths = ", ".join(change.path for change in changes[:DRIFT_PATHS_SHOWN])
    more = len(changes) - DRIFT_PATHS_SHOWN
    return f"drift: someone changed {paths}{f' and {more} more' if more > 0 else ''} in Marathon"


def instances_reason(actual_count: int, desired_count: int) -> str:
    return f"instances {actual_count} -> {desired_count}"


def update_action(
    app: DesiredApp, actual_app: ActualApp, comparison: Comparison, instances: int, revision: str
) -> Action:
    if comparison.spec_changed:
        count = len(comparison.changes)
        reason = f"spec changed: {count} field{'s' if count != 1 else ''}"
    else:
        reason = drift_reason(comparison.changes)
        revision = actual_app.labels.get(REVISION_LABEL, "")  # labels change only with the definition
    scaled = instances != actual_app.instances
    if scaled:
        reason += "; " + instances_reason(actual_app.instances, instances)
    body = write_body(comparison.desired_definition, comparison.desired_hash, revision, instances)
    return Action(
        kind=ActionKind.UPDATE,
        target=app.app_id,
        reason=reason,
        env=app.env,
        changes=comparison.changes,
        body={**body, **comparison.resets},
        instances_from=actual_app.instances if scaled else None,
        instances_to=instances if scaled else None,
        force=app.force,
    )


def scale_action(app: DesiredApp, actual_app: ActualApp, instances: int) -> Action:
    """A pure instance change: Marathon scales without restarting any task."""
    return Action(
        kind=ActionKind.SCALE,
        target=app.app_id,
        reason=instances_reason(actual_app.instances, instances),
        env=app.env,
        body={"id": app.app_id, "instances": instances},
        instances_from=actual_app.instances,
        instances_to=instances,
        force=app.force,
    )


def create_action(app: DesiredApp, instances: int, revision: str) -> Action:
    definition = stamped_definition(app)
    return Action(
        kind=ActionKind.CREATE,
        target=app.app_id,
        reason="not in Marathon",
        env=app.env,
        body=write_body(definition, definition_hash(definition), revision, instances),
        instances_from=0,  # Marathon starts a new app at 0 instances, then scales it
        instances_to=instances,
        force=app.force,
    )


def warn_action(app: DesiredApp) -> Action:
    return Action(
        kind=ActionKind.WARN,
        target=app.app_id,
        reason=(
            f"{app.app_id} exists in Marathon without the {MANAGED_BY_LABEL} label, so it is left alone:"
            " rename the app in the specs, or delete or label the Marathon app by hand"
        ),
        env=app.env,
    )


def plan_app(
    app: DesiredApp, actual_app: ActualApp | None, instances: int, revision: str,
    comparisons: ComparisonMemo[Comparison] | None = None,
) -> Action | None:
    """The one action (or none) that brings `actual_app` to what `app` wants. With `comparisons`, the
    last comparison of an app whose two sides did not change is not made again (core/compare_memo.py)."""
    if actual_app is None:
        return create_action(app, instances, revision)
    if not actual_app.managed:
        return warn_action(app)
    comparison = comparisons.get(app, actual_app, compare_app) if comparisons else compare_app(app, actual_app)
    if comparison.spec_changed or comparison.changes:
        return update_action(app, actual_app, comparison, instances, revision)
    if instances != actual_app.instances:
        return scale_action(app, actual_app, instances)
    return None


def env_of(actual_app: ActualApp) -> str:
    """The app's environment label, or else the first segment of its id."""
    label = actual_app.labels.get(ENV_LABEL)
    return str(label) if label else actual_app.app_id.strip("/").split("/", 1)[0]


def scope_of(desired: Desired, env: str | None) -> tuple[str, ...]:
    """The environments a plan may touch: `env`, else every environment the spec tree declares.

    An environment outside the tree is never the reconciler's to change: a tree holding one
    environment leaves every other environment in Marathon and Consul alone, whatever it holds.
    """
    return (env,) if env is not None else tuple(sorted(desired.environments))


def in_environment(actual_app: ActualApp, env: str, desired: Desired) -> bool:
    """Whether `actual_app` belongs to environment `env` (exactly: `/func-1` never matches `/func-10`)."""
    label = actual_app.labels.get(ENV_LABEL)
    if label is not None:  # the environment label decides: two environments may share a Marathon group
        return label == env
    environment = desired.environments.get(env)
    group = (environment.group if environment else group_of(env)).rstrip("/")
    return actual_app.app_id.startswith(group + "/")


def actual_in_scope(actual_app: ActualApp, env: str | None, desired: Desired) -> bool:
    label = actual_app.labels.get(ENV_LABEL)
    if label is not None:  # in_environment's first rule, without a loop over every environment
        return label == env if env is not None else label in desired.environments
    return any(in_environment(actual_app, name, desired) for name in scope_of(desired, env))


def delete_action(actual_app: ActualApp) -> Action:
    return Action(
        kind=ActionKind.DELETE, target=actual_app.app_id, reason="left the specs (prune)", env=env_of(actual_app)
    )


def write_actions(desired: Desired, actual: Actual, options: PlanOptions, memos: DecisionMemos) -> list[Action]:
    """Each desired app's action in id order; an app whose inputs did not change since the memos' last
    pass (`memos.changed_apps`) keeps its action, one whose inputs are the same objects too."""
    memo, comparisons, env = memos.writes, memos.comparisons, options.env
    with memo.pass_(partial(sorted, desired.apps), memos.changed_apps) as deciding:
        for app_id in deciding:
            app = desired.apps.get(app_id)
            if app is None or (env is not None and app.env != env):
                continue
            actual_app = actual.apps.get(app_id)
            instances = options.instances.get(app_id)
            if instances is None:
                instances = owned_count(app, actual_app)
            revision = desired.revision_of(app.env)
            compute = partial(plan_app, app, actual_app, instances, revision, comparisons)
            memo.get(app_id, (app, actual_app, instances, revision), compute)
    return [action for action in memo.values() if action is not None]


def owned_count(app: DesiredApp, actual_app: ActualApp | None) -> int:
    """The count the plan asks for. An autoscaled app's count is the autoscaler's within [min, max]:
    whatever runs inside the bounds stays (a person's scale included), a count outside them is
    clamped to the nearest bound, and 0 stays 0 (autoscaling is off at 0, as the HPA has it)."""
    policy = app.autoscale
    if policy is None or actual_app is None:
        return app.instances
    if actual_app.instances == 0:
        return 0
    return min(max(actual_app.instances, policy.min_instances), policy.max_instances)


def left_the_specs(desired: Desired, actual: Actual, env: str | None) -> list[ActualApp]:
    """Managed apps of the plan's environments that the specs no longer hold: what prune deletes."""
    return [
        actual.apps[app_id]
        for app_id in sorted(actual.apps)
        if app_id not in desired.apps
        and actual.apps[app_id].managed
        and actual_in_scope(actual.apps[app_id], env, desired)
    ]


def prune_actions(desired: Desired, actual: Actual, options: PlanOptions) -> list[Action]:
    """Deletes of the managed apps in scope that left the specs; only when pruning was asked for."""
    if not options.prune:
        return []
    return [delete_action(app) for app in left_the_specs(desired, actual, options.env)]


def progressing_apps(desired: Desired, actual: Actual, env: str | None) -> tuple[str, ...]:
    """Managed apps in scope that a running Marathon deployment still changes."""
    affected = {app_id for deployment in actual.deployments for app_id in deployment.affected_apps}
    return tuple(
        app_id
        for app_id in sorted(affected)
        if app_id in actual.apps and actual.apps[app_id].managed and actual_in_scope(actual.apps[app_id], env, desired)
    )


def dependency_ids(app_id: str, names: Iterable[Any]) -> tuple[str, ...]:
    if not names:
        return ()
    return tuple(resolve_dependency(app_id, str(name)) for name in names)


def dependencies_of(desired: Desired, actual: Actual) -> Mapping[str, tuple[str, ...]]:
    """Absolute dependency ids per app: the spec's for desired apps, Marathon's for the others."""
    return Dependencies(desired, actual)


class Dependencies(Mapping[str, tuple[str, ...]]):
    """`dependencies_of`, each app's read when asked: ordering asks only for the apps with an action."""

    def __init__(self, desired: Desired, actual: Actual) -> None:
        self._desired, self._actual = desired, actual

    def __getitem__(self, app_id: str) -> tuple[str, ...]:
        wanted = self._desired.apps.get(app_id)
        if wanted is not None:
            return desired_dependencies(wanted)
        return dependency_ids(app_id, self._actual.apps[app_id].definition.get("dependencies") or [])

    def __iter__(self) -> Iterator[str]:
        yield from self._actual.apps
        yield from (app_id for app_id in self._desired.apps if app_id not in self._actual.apps)

    def __len__(self) -> int:
        return len(self._actual.apps) + sum(1 for app_id in self._desired.apps if app_id not in self._actual.apps)


def managed_after_creates(actual: Actual, writes: Iterable[Action]) -> int:
    """The prune limit's base: managed apps once this plan's creates exist.

    Counting the creates keeps the limit the same when the plan is made again after it ran, so a
    delete refused now is refused then too (and one allowed now stays allowed).
    """
    creates = sum(1 for action in writes if action.kind == ActionKind.CREATE)
    return creates + sum(1 for app in actual.apps.values() if app.managed)


def build_plan(
    desired: Desired, actual: Actual, options: PlanOptions = DEFAULT_OPTIONS, memos: DecisionMemos | None = None
) -> Plan:
    """Everything needed to make Marathon match `desired`, ordered and guarded. Pure and deterministic:
    `memos` (a planner owner's) only save work, a plain call compares every app afresh."""
    memos = DecisionMemos(comparisons=None) if memos is None else memos
    writes, deletes = write_actions(desired, actual, options, memos), prune_actions(desired, actual, options)
    guard = PruneGuard(
        len(desired.apps), managed_after_creates(actual, writes), options.prune_limit_ratio, options.force
    )
    actions = guard_actions([*writes, *deletes], actual, guard)
    prunable = () if options.prune or not actual.complete else left_the_specs(desired, actual, options.env)
    return Plan(
        actions=order_actions(actions, dependencies_of(desired, actual)),
        revision=desired.revision,
        prunable=tuple(app.app_id for app in prunable),
        progressing=progressing_apps(desired, actual, options.env),
    )
