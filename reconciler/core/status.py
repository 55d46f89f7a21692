"""The status document (pure core): per environment its sync state and health, synced and pending
commits, last error, last heal and pause; per app its instances, sync state and health.

One builder for both faces: the controller's `/status` and `reconciler status` without a controller.
Everything time-dependent comes in as values (ISO strings); nothing here reads a clock or a store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from reconciler.core.app_status import AppStatus, Health, SyncState
from reconciler.core.model import ActionKind, Actual, Plan
from reconciler.core.plan import env_of

# Pending actions that mean the live state differs from the desired one (heals are about health).
_OUT_OF_SYNC_KINDS = frozenset(ActionKind) - {ActionKind.WARN, ActionKind.KILL_TASK}
_SEVERITY = {Health.HEALTHY: 0, Health.MISSING: 1, Health.DEGRADED: 2}


@dataclass(frozen=True)
class Pending:
    """A revision seen but not in force, and why: invalid, awaiting-approval, never-applied or paused."""

    revision: str
    reason: str
    detail: str = ""
    plan_id: str = ""
    digest: str = ""


@dataclass(frozen=True)
class Pause:
    by: str
    revision: str
    digest: str
    at: str


@dataclass(frozen=True)
class LastHeal:
    app: str
    task: str
    reason: str
    outcome: str
    at: str


@dataclass(frozen=True)
class LastError:
    message: str
    at: str
    revision: str = ""


@dataclass(frozen=True)
class EnvFacts:
    """What the status of one environment is built from, besides the apps' rows and the plan."""

    synced_revision: str = ""
    digest: str = ""
    specs_revision: str = ""  # the newest revision of the specs that loaded
    specs_digest: str = ""  # the digest of the environment at specs_revision, where known
    never_applied: bool = False  # in the specs, and no revision of it recorded
    invalid: Pending | None = None  # the newest revision that did not load, when newer than specs_revision
    approval: Pending | None = None  # the environment's plan awaiting approval
    pause: Pause | None = None
    last_error: LastError | None = None
    last_heal: LastHeal | None = None


@dataclass(frozen=True)
class EnvStatus:
    name: str
    sync: SyncState
    health: Health
    facts: EnvFacts
    pending: Pending | None
    apps: int
    counts: Mapping[str, int] = field(default_factory=dict)


def pending_of(facts: EnvFacts) -> Pending | None:
    """The newest revision not in force: one awaiting approval, else an invalid one, else the specs'
    revision of an environment never applied, or that a pause holds back."""
    if facts.approval is not None:
        return facts.approval
    if facts.invalid is not None:
        return facts.invalid
    if facts.never_applied and facts.specs_revision:
        return Pending(facts.specs_revision, "never-applied", "no revision of it is recorded: Marathon is compared"
                       " with the specs", digest=facts.specs_digest)
    if facts.pause is not None and facts.specs_revision and facts.specs_revision != facts.pause.revision:
        return Pending(facts.specs_revision, "paused", digest=facts.specs_digest)
    return None


def env_sync(facts: EnvFacts, apps: Iterable[AppStatus], *, prunable: bool, out_of_sync: bool) -> SyncState:
    """Paused > AwaitingApproval > RequiresPruning > Progressing > OutOfSync > Synced."""
    states = {a.sync for a in apps}
    if facts.pause is not None:
        return SyncState.PAUSED
    if facts.approval is not None:
        return SyncState.AWAITING_APPROVAL
    if prunable:
        return SyncState.REQUIRES_PRUNING
    if SyncState.PROGRESSING in states:
        return SyncState.PROGRESSING
    if out_of_sync or SyncState.OUT_OF_SYNC in states:
        return SyncState.OUT_OF_SYNC
    return SyncState.SYNCED


def env_health(apps: Iterable[AppStatus]) -> Health:
    """The worst health of the environment's apps; Healthy without apps."""
    return max((a.health for a in apps), key=_SEVERITY.__getitem__, default=Health.HEALTHY)


def env_statuses(
    facts: Mapping[str, EnvFacts], apps: list[AppStatus], plan: Plan | None, actual: Actual | None
) -> list[EnvStatus]:
    """One EnvStatus per environment of `facts`, sorted by name; `actual` names the environments of the
    apps the plan may prune (managed apps no longer in the specs)."""
    by_env: dict[str, list[AppStatus]] = {name: [] for name in facts}
    for app in apps:
        by_env.setdefault(app.env, []).append(app)
    observed = actual.apps if actual is not None else {}
    prunable = {env_of(observed[app_id]) for app_id in (plan.prunable if plan else ()) if app_id in observed}
    pending_envs = {a.env for a in (plan.pending if plan else ()) if a.kind in _OUT_OF_SYNC_KINDS}
    result = []
    for name in sorted(facts):
        rows = by_env.get(name, [])
        env_facts = facts[name]
        counts = {"desired": sum(a.want for a in rows), "running": sum(len(a.running) for a in rows),
                  "healthy": sum(a.healthy or 0 for a in rows), "passing": sum(a.passing or 0 for a in rows)}
        sync = env_sync(env_facts, rows, prunable=name in prunable, out_of_sync=name in pending_envs)
        result.append(EnvStatus(name, sync, env_health(rows), env_facts, pending_of(env_facts), len(rows), counts))
    return result


def _plain(value: Any) -> Any:
    return asdict(value) if value is not None else None


def env_document(env: EnvStatus) -> dict[str, Any]:
    facts = env.facts
    return {
        "sync": str(env.sync), "health": str(env.health),
        "synced_revision": facts.synced_revision, "digest": facts.digest, "specs_revision": facts.specs_revision,
        "pending": _plain(env.pending), "approval": _plain(facts.approval), "pause": _plain(facts.pause),
        "last_error": _plain(facts.last_error), "last_heal": _plain(facts.last_heal),
        "apps": env.apps, "instances": dict(env.counts),
    }


def app_document(app: AppStatus) -> dict[str, Any]:
    return {
        "env": app.env, "name": app.name, "desired": app.want, "running": len(app.running), "healthy": app.healthy,
        "passing": app.passing, "sync": str(app.sync), "health": str(app.health), "note": app.note,
    }


def status_document(
    facts: Mapping[str, EnvFacts], apps: list[AppStatus], plan: Plan | None, actual: Actual | None,
) -> dict[str, Any]:
    """`{"environments": {name: ...}, "apps": {app id: ...}}`: the part of the status document the
    environments and apps make (docs/status.md lists every key)."""
    envs = env_statuses(facts, apps, plan, actual)
    return {"environments": {e.name: env_document(e) for e in envs},
            "apps": {a.app_id: app_document(a) for a in apps if a.env in facts}}
