"""The approval gate's pure part (core): which state an approval environment runs, and a plan's digest.

An environment with `approval: required` runs its last approved desired state. The specs' state of it
is planned beside that: the Marathon writes (create, update, scale, delete) it makes beyond what the
approved state's own plan makes are what an approval decides. A plan's digest covers the desired
state's definitions and those writes with the actual values they change, so the same plan made again
from an unchanged actual state has the same digest, and any change in between gives another one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from reconciler.core.compare_memo import ComparisonMemo
from reconciler.core.decision_memo import DecisionMemos
from reconciler.core.hashing import canonical_json, definition_hash
from reconciler.core.model import MARATHON_WRITE_KINDS, Action, ActionKind, Actual, Desired, Outcome
from reconciler.core.naming import HASH_LABEL
from reconciler.core.plan import PlanOptions, build_plan, stamped_definition

DIGEST_LENGTH = 16


def _digest(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:DIGEST_LENGTH]


def approval_environments(desired: Desired, env: str | None = None) -> tuple[str, ...]:
    """The environments in scope (`env`, else all) whose changes need an approval, sorted."""
    return tuple(sorted(name for name, e in desired.environments.items()
                        if e.approval_required and (env is None or name == env)))


def narrowed(desired: Desired, env: str) -> Desired:
    """`desired` reduced to one environment: its definition and its own apps."""
    environments = {name: e for name, e in desired.environments.items() if name == env}
    apps = {app_id: app for app_id, app in desired.apps.items() if app.env == env}
    return Desired(environments=environments, apps=apps, revision=desired.revision_of(env))


def desired_digest(desired: Desired, env: str) -> str:
    """What an approval of `env` covers: its apps' definitions, instances, heal and autoscale policies and
    its environment's shape. Not the revision nor where in the files things are (a comment moving lines
    changes no app)."""
    apps = {
        app_id: {"hash": definition_hash(stamped_definition(app)), "instances": app.instances, "force": app.force,
                 "heal": asdict(app.heal), "autoscale": asdict(app.autoscale) if app.autoscale else None}
        for app_id, app in desired.apps.items() if app.env == env
    }
    environment = desired.environments.get(env)
    shape = None if environment is None else {"group": environment.group, "base": environment.base,
                                              "apps": sorted(environment.apps)}
    return _digest({"environment": shape, "apps": apps})


AUTOSCALED = "autoscaled"  # an autoscaled app's count in a write, as an approval sees it


def action_key(action: Action, autoscaled: frozenset[str] = frozenset()) -> tuple[str, str, str, Any, Any, str]:
    """One write as an approval sees it: kind, app, the definition hash and instances it writes, and the
    actual values it changes (so that a hand edit in between tells). The count of an app in `autoscaled`
    is the autoscaler's, not the specs': which number it is (and was) is left out."""
    body = action.body or {}
    labels = body.get("labels") or {}
    changes = _digest([[c.path, c.actual] for c in action.changes]) if action.changes else ""
    instances, instances_from = body.get("instances"), action.instances_from
    if action.target in autoscaled and action.kind in (ActionKind.UPDATE, ActionKind.SCALE):
        instances, instances_from = AUTOSCALED, None
    return (str(action.kind), action.target, str(labels.get(HASH_LABEL, "")), instances, instances_from, changes)


def changes_beyond(proposed: Iterable[Action], approved: Iterable[Action],
                   autoscaled: frozenset[str] = frozenset()) -> tuple[Action, ...]:
    """The Marathon writes of `proposed` that the approved state's plan does not make identically."""
    given = {action_key(a, autoscaled) for a in approved if a.kind in MARATHON_WRITE_KINDS}
    return tuple(a for a in proposed if a.kind in MARATHON_WRITE_KINDS and a.outcome == Outcome.PLANNED
                 and action_key(a, autoscaled) not in given)


def plan_digest(desired_digest_value: str, actions: Iterable[Action], autoscaled: frozenset[str] = frozenset()) -> str:
    """The digest of a plan. A scale of an autoscaled app is not in it: whether one is needed turns with
    each scaling, and the bounds it clamps to are in the desired state's digest."""
    keys = [list(action_key(a, autoscaled)) for a in actions
            if not (a.kind == ActionKind.SCALE and a.target in autoscaled)]
    return _digest({"desired": desired_digest_value, "actions": keys})


def autoscaled_apps(desired: Desired, env: str) -> frozenset[str]:
    """The apps of `env` whose count the autoscaler decides."""
    return frozenset(app_id for app_id, app in desired.apps.items() if app.env == env and app.autoscale is not None)


@dataclass(frozen=True)
class Review:
    """The specs' state of one approval environment against the actual state and its approved state."""

    env: str
    desired: Desired  # the specs' state of `env` alone
    desired_digest: str
    approved_digest: str | None  # None: nothing of `env` was ever approved
    actions: tuple[Action, ...]  # the writes beyond the approved state's plan
    digest: str

    @property
    def needed(self) -> bool:
        """Whether the specs ask for something not approved yet."""
        return self.desired_digest != self.approved_digest


def review(
    specs: Desired, approved: Desired | None, actual: Actual, options: PlanOptions, env: str,
    comparisons: ComparisonMemo[Any] | None = None,
) -> Review:
    """Plans the specs' `env` and its approved state against `actual` (Marathon only) and compares.
    `comparisons`: a memo kept from review to review (the gate's), else every app is compared afresh."""
    mine = narrowed(specs, env)
    scoped = replace(options, env=env)
    proposed = build_plan(mine, actual, scoped, DecisionMemos(comparisons=comparisons)).actions
    given = (build_plan(narrowed(approved, env), actual, scoped, DecisionMemos(comparisons=comparisons)).actions
             if approved is not None else ())
    autoscaled = autoscaled_apps(mine, env)
    beyond = changes_beyond(proposed, given, autoscaled)
    digest_value = desired_digest(mine, env)
    approved_digest = desired_digest(approved, env) if approved is not None else None
    return Review(env, mine, digest_value, approved_digest, beyond, plan_digest(digest_value, beyond, autoscaled))


def matches_approved(specs: Desired, approved: Desired | None, env: str) -> bool:
    return approved is not None and desired_digest(specs, env) == desired_digest(approved, env)


def in_force(specs: Desired, approved: Mapping[str, Desired | None]) -> Desired:
    """`specs` with each environment named in `approved` at its approved state, tagged with that state's
    revision; an environment approved never (None) is left out entirely, so nothing of it is created,
    registered, healed or pruned."""
    environments = {}
    for name, environment in specs.environments.items():
        if name not in approved:
            environments[name] = environment
            continue
        state = approved[name]
        if state is not None and name in state.environments:
            environments[name] = replace(state.environments[name], revision=state.revision_of(name))
    apps = {app_id: app for app_id, app in specs.apps.items() if app.env not in approved}
    for name, state in approved.items():
        if state is not None and name in environments:
            apps.update({app_id: app for app_id, app in state.apps.items() if app.env == name})
    return replace(specs, environments=environments, apps=apps)
