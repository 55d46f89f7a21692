"""The status document's facts (engine layer): what the store and the controller know of each environment.

`EnvBook` keeps, between the controller's cycles, each environment's synced revision, last error, last
heal and approval; it starts from the store, so a restarted controller knows what it did before.
`facts_from_store` is the same for `reconciler status` without a controller, and `observed_status`
builds that command's whole document from a fresh observation, the store and, when given, the spec
tree (its environments never applied, and the revision a paused one is not applying).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from reconciler.core.app_status import StatusMemo, plan_statuses
from reconciler.core.approvals import narrowed
from reconciler.core.hashing import env_digest
from reconciler.core.heal import SENT_HEALS
from reconciler.core.model import Actual, Desired, Plan
from reconciler.core.registry import ConsulObservation
from reconciler.core.status import EnvFacts, LastError, LastHeal, Pause, Pending, status_document
from reconciler.engine.pins import Pin, overlay, read_pin
from reconciler.engine.ports import ConsulPort, MarathonPort
from reconciler.engine.sync import SyncRequest, sync
from reconciler.store import Store
from reconciler.store.tables import EnvEvent

INVALID = "invalid"  # the env event recorded once per revision whose specs do not load


def iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def pause_of(pin: Pin | None) -> Pause | None:
    return Pause(pin.by, pin.revision, pin.digest, iso(pin.at)) if pin is not None else None


def _invalid_error(event: EnvEvent | None) -> LastError | None:
    if event is None:
        return None
    return LastError(f"revision {event.revision[:12]} is invalid: {event.detail}", iso(event.at), event.revision)


def facts_from_store(store: Store, env: str) -> EnvFacts:
    """`env`'s synced revision, pending commit, pause, approval, last error and last heal as recorded."""
    synced = store.last_revision(env)
    invalid = store.last_env_event(env, [INVALID])
    failed = store.last_failed_action(env)
    errors = [e for e in (_invalid_error(invalid), failed and LastError(
        f"{failed.kind} {failed.app} failed: {failed.detail or failed.reason}", iso(failed.at))) if e]
    heal = store.last_heal(env, [str(outcome) for outcome in SENT_HEALS])  # a heal that happened
    plan = store.awaiting_approval(env)
    newer = invalid is not None and (synced is None or invalid.at > synced.at)
    return EnvFacts(
        synced_revision=synced.revision if synced else "", digest=synced.digest if synced else "",
        specs_revision=synced.revision if synced else "",
        invalid=Pending(invalid.revision, INVALID, invalid.detail) if newer and invalid else None,
        approval=Pending(plan.revision, "awaiting-approval", plan_id=plan.id, digest=plan.digest) if plan else None,
        pause=pause_of(read_pin(store, env)),
        last_error=max(errors, key=lambda e: e.at) if errors else None,
        last_heal=LastHeal(heal.app, heal.task_id, heal.reason, heal.outcome, iso(heal.at)) if heal else None,
    )


@dataclass(frozen=True)
class Snapshot:
    """What one status document is built from: the desired state in force, an observation, its plan."""

    desired: Desired
    actual: Actual | None = None
    consul: ConsulObservation | None = None
    plan: Plan | None = None
    rows: StatusMemo | None = None  # the app rows of the previous document (a controller's /status), kept


def build_status(snapshot: Snapshot, facts: Mapping[str, EnvFacts]) -> dict[str, Any]:
    """`{"environments": ..., "apps": ...}` (core/status.py) from a snapshot and each environment's facts."""
    actual = snapshot.actual or Actual(apps={}, complete=False, problems=("not observed yet",))
    rows = plan_statuses(snapshot.desired, actual, snapshot.consul, snapshot.plan, memo=snapshot.rows)
    return status_document(facts, rows, snapshot.plan, snapshot.actual)


def recorded_desired(store: Store, envs: Iterable[str]) -> Desired:
    """The desired state of each environment's last synced revision, paused ones at their pin."""
    states = []
    for env in envs:
        pin = read_pin(store, env)
        synced = store.last_revision(env)
        state = pin.desired if pin else (store.desired_state(env, digest=synced.digest) if synced else None)
        if state is not None:
            states.append(state)
    return overlay(Desired(environments={}, apps={}), states)


async def observed_status(
    store: Store, envs: list[str], marathon: MarathonPort, consul: ConsulPort | None, specs: Desired | None = None
) -> dict[str, Any]:
    """The status document without a controller: the store's desired states against a fresh observation;
    with `specs`, every environment of theirs too (one never applied at the specs' state)."""
    envs = sorted(set(envs) | set(specs.environments if specs else ()))
    desired = recorded_desired(store, envs)
    unrecorded = [e for e in (specs.environments if specs else ()) if e not in desired.environments]
    if specs is not None:
        desired = overlay(desired, [narrowed(specs, env) for env in unrecorded])
    seen = await sync(SyncRequest(desired, strict=False, dry_run=True), marathon, consul)
    observation = seen.observation
    snapshot = Snapshot(desired, observation.actual, observation.consul if observation.consul_enabled else None,
                        seen.plan)
    facts = {env: facts_from_store(store, env) for env in envs}
    if specs is not None:
        facts |= {env: replace(facts[env], specs_revision=specs.revision_of(env), specs_digest=env_digest(specs, env),
                               never_applied=env in unrecorded) for env in specs.environments}
    return build_status(snapshot, facts)


def with_specs(facts: EnvFacts, specs_revision: str, invalid: Pending | None, specs_digest: str = "") -> EnvFacts:
    return replace(facts, specs_revision=specs_revision, invalid=invalid, specs_digest=specs_digest)
