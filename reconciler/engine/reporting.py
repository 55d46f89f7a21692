"""What the running controller tells the outside (engine layer): metrics, history in the store, status.

After each cycle the Reporter updates the Prometheus families, appends the cycle's plans, actions,
heals and newly synced revisions to the store (when one is configured), and keeps the status document
that `/status` serves. A store that fails is logged and counted; it never stops the controller.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from reconciler.core.hashing import canonical_json, definition_hash
from reconciler.core.model import Action, ActionKind, Desired, Outcome
from reconciler.engine.autoscaling import AppScaling
from reconciler.engine.cycle import CycleResult
from reconciler.engine.telemetry import ControllerMetrics
from reconciler.store import Store, StoreError

log = logging.getLogger("reconciler.controller")
_DRIFT_KINDS = (ActionKind.CREATE, ActionKind.UPDATE, ActionKind.SCALE)


def env_digest(desired: Desired, env: str) -> str:
    """A digest of an environment's desired definitions: the same digest means the same apps."""
    apps = {a.app_id: [definition_hash(a.definition), a.instances] for a in desired.apps.values() if a.env == env}
    return hashlib.sha256(canonical_json(apps).encode()).hexdigest()[:16]


_DIGESTS: list[tuple[Desired, dict[str, str]]] = []  # the last Desired's digests (the loader hands it back)


def env_digests(desired: Desired) -> dict[str, str]:
    """`env_digest` of every environment, hashed once per Desired object rather than once per cycle."""
    if _DIGESTS and _DIGESTS[0][0] is desired:
        return _DIGESTS[0][1]
    digests = {env: env_digest(desired, env) for env in desired.environments}
    _DIGESTS[:] = [(desired, digests)]
    return digests


def _by_env(actions: tuple[Action, ...]) -> dict[str, list[Action]]:
    grouped: dict[str, list[Action]] = defaultdict(list)
    for action in actions:
        grouped[action.env].append(action)
    return grouped


class Reporter:
    def __init__(
        self, metrics: ControllerMetrics, store: Store | None, source: Callable[[], Mapping[str, str]],
        desired: Callable[[], Desired],
    ) -> None:
        """`desired` must answer the desired state the cycle being recorded reconciled."""
        self.metrics = metrics
        self._store = store
        self._source = source
        self._desired = desired
        self._synced: dict[str, tuple[str, str]] = {}  # env -> (revision, digest)
        self._last: dict[str, Any] = {}
        # per autoscaled app: the last decision's key (what a new store row needs to differ in) and document
        self._autoscale: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        self.cycles = 0

    @property
    def ready(self) -> bool:
        return self.cycles > 0

    def record(self, result: CycleResult) -> None:
        self.cycles += 1
        self.metrics.cycle_done(result.seconds, ok=result.ok)
        self._last = {"id": result.cycle_id, "trigger": result.trigger, "ok": result.ok, "error": result.error or "",
                      "seconds": round(result.seconds, 3), "at": datetime.now(UTC).isoformat()}
        if result.error:
            self.metrics.error("cycle-failed")
        if result.unexpected:
            self.metrics.error("unexpected")
        desired = self._desired()
        actions = result.execution.actions if result.execution else (result.plan.actions if result.plan else ())
        grouped = _by_env(actions)
        for env in desired.environments:
            drifted = {a.target for a in grouped.get(env, ()) if a.kind in _DRIFT_KINDS}
            self.metrics.set_drifted(env, len(drifted))
        for action in actions:
            if action.outcome != Outcome.PLANNED:
                self.metrics.action_done(action.kind, action.outcome)
            if _is_heal(action) and action.outcome != Outcome.PLANNED:
                self.metrics.heal_done(action.env, action.outcome)
        for scaling in result.autoscale:
            self.metrics.autoscaled(scaling.app_id, scaling.desired, _limit_label(scaling))
        try:
            self._store_cycle(result, desired, grouped)
            self._store_autoscale(result)
        except StoreError as exc:
            self.metrics.error("store")
            log.warning("cycle=%s event=store-write-failed error=%r", result.cycle_id, str(exc))

    def _store_cycle(self, result: CycleResult, desired: Desired, grouped: dict[str, list[Action]]) -> None:
        revision = desired.revision
        digests = env_digests(desired)
        for env in desired.environments:
            digest = digests[env]
            executed = [a for a in grouped.get(env, ()) if a.outcome != Outcome.PLANNED]
            if self._store is not None and executed:
                failed = any(a.outcome == Outcome.FAILED for a in executed)
                plan_id = uuid.uuid4().hex[:12]
                self._store.record_plan(plan_id, env, revision, digest, "failed" if failed else "applied",
                                        cycle_id=result.cycle_id)
                self._store.record_actions(plan_id, executed)
                for heal in (a for a in executed if _is_heal(a)):
                    self._store.record_heal(env, heal.target, heal.target, heal.reason, heal.outcome)
            # Synced: every action this cycle had for the environment succeeded (none waits, none refused).
            settled = all(a.outcome == Outcome.SUCCEEDED or a.kind == ActionKind.WARN for a in grouped.get(env, ()))
            if result.ok and settled and self._synced.get(env) != (revision, digest):
                self._synced[env] = (revision, digest)
                self.metrics.set_synced(env, revision)
                if self._store is not None:
                    self._store.record_revision(env, revision, digest, source=self._source().get("source", ""))

    def _store_autoscale(self, result: CycleResult) -> None:
        """A decision is recorded when it differs from the app's last recorded one (the count, the rule
        that limited it, or the recommendation): a steady state adds no rows."""
        if result.error is None:  # apps no longer autoscaled (or gone) leave the status
            kept = {scaling.app_id for scaling in result.autoscale}
            self._autoscale = {app: entry for app, entry in self._autoscale.items() if app in kept}
        for scaling in result.autoscale:
            document = {**scaling.document(), "cycle": result.cycle_id, "at": datetime.now(UTC).isoformat()}
            key = (scaling.current, scaling.desired, scaling.limited_by, scaling.recommendation)
            previous, self._autoscale[scaling.app_id] = self._autoscale.get(scaling.app_id), (key, document)
            if self._store is None or (previous is not None and previous[0] == key):
                continue
            self._store.record_autoscale(scaling.env, scaling.app_id, scaling.current, scaling.desired,
                                         scaling.reason, cycle_id=result.cycle_id, limited_by=scaling.limited_by,
                                         recommendation=scaling.recommendation, metrics=scaling.metrics())

    def status(self) -> dict[str, Any]:
        """The status document of `/status`; `autoscale` holds each autoscaled app's last decision."""
        environments = {
            env: {"synced_revision": synced[0], "digest": synced[1]} for env, synced in sorted(self._synced.items())
        }
        autoscale = {app: entry[1] for app, entry in sorted(self._autoscale.items())}
        return {"ready": self.ready, "cycles": self.cycles, "last_cycle": self._last, "source": dict(self._source()),
                "environments": environments, "store": self._store.url if self._store else None,
                "autoscale": autoscale}


def _is_heal(action: Action) -> bool:
    """A task kill that Marathon replaces (the autoscaler's kills lower `instances` instead)."""
    return action.kind == ActionKind.KILL_TASK and not (action.body or {}).get("scale")


def _limit_label(scaling: AppScaling) -> str:
    if scaling.decision is None:
        return "held"
    return scaling.limited_by or "none"
