"""Paused environments (engine layer): a rollback pins an environment to a recorded desired state.

`reconciler rollback` records a "paused" event naming the revision and digest it went back to; until
a "resumed" event, every cycle of the controller reconciles that pinned desired state instead of the
specs' (healing, registrations and drift correction go on against it), so auto-sync never undoes the
rollback. The pins are read from the store at each cycle (the controller reads them in its in-force
hook, in the sync's worker thread, beside the event loop); a store that fails keeps the last ones.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from reconciler.core.model import Desired
from reconciler.core.plan import PlanOptions
from reconciler.engine.execute import ExecuteOptions
from reconciler.engine.ports import ConsulPort, MarathonPort
from reconciler.engine.routing import AgentRouting
from reconciler.engine.sync import SyncRequest, SyncResult, sync
from reconciler.store import Store, StoreError

log = logging.getLogger("reconciler.controller")
PAUSE_KINDS = ("paused", "resumed")


@dataclass(frozen=True)
class Pin:
    """An environment held at a recorded desired state."""

    env: str
    revision: str
    digest: str
    by: str
    at: datetime
    desired: Desired


def overlay(specs: Desired, pinned: Iterable[Desired]) -> Desired:
    """`specs` with each pinned environment (its definition and its apps) taken from its pinned state."""
    environments = dict(specs.environments)
    apps = dict(specs.apps)
    for state in pinned:
        names = set(state.environments)
        apps = {app_id: app for app_id, app in apps.items() if app.env not in names}
        apps.update(state.apps)
        environments.update(state.environments)
    return replace(specs, environments=environments, apps=apps)


def read_pin(store: Store, env: str, known: Pin | None = None) -> Pin | None:
    """`env`'s pin when its latest pause event is "paused" and the state it names is recorded; `known`
    is returned as is when that event is the one it was read from (the state is not decoded again)."""
    event = store.last_env_event(env, PAUSE_KINDS)
    if event is None or event.kind != "paused":
        return None
    if known is not None and (known.revision, known.digest, known.at) == (event.revision, event.digest, event.at):
        return known
    desired = store.desired_state(env, digest=event.digest) if event.digest else None
    if desired is None:
        desired = store.desired_state(env, revision=event.revision)
    if desired is None:
        log.error("event=pin-unreadable env=%s revision=%s: no desired state recorded; following the specs",
                  env, event.revision[:12])
        return None
    return Pin(env, event.revision, event.digest, event.by, event.at, desired)


class Pins:
    """The controller's view of the paused environments, refreshed from the store at each cycle."""

    def __init__(self, store: Store | None) -> None:
        self._store = store
        self.current: Mapping[str, Pin] = {}

    def in_force(self, specs: Desired) -> Desired:
        """The desired state a cycle reconciles: the specs', paused environments pinned."""
        self.refresh(specs.environments)
        return overlay(specs, (pin.desired for pin in self.current.values())) if self.current else specs

    def refresh(self, envs: Iterable[str]) -> Mapping[str, Pin]:
        if self._store is None:
            return self.current
        try:
            found = {env: read_pin(self._store, env, self.current.get(env)) for env in envs}
        except StoreError as exc:
            log.warning("event=pins-unread error=%r: the last known pauses stay in force", str(exc))
            return self.current
        pins = {env: pin for env, pin in found.items() if pin is not None}
        for env in pins.keys() - self.current.keys():
            log.warning("event=env-paused env=%s revision=%s by=%s", env, pins[env].revision[:12], pins[env].by)
        for env in self.current.keys() - pins.keys():
            log.warning("event=env-resumed env=%s", env)
        self.current = pins
        return pins


def recorded_whole(store: Store, pin: Pin) -> Desired:
    """The pinned state among the latest recorded states of the other environments (a functional
    environment's fallback queries need its base's apps)."""
    others = [store.desired_state(env) for env in store.environments() if env != pin.env]
    base = Desired(environments={}, apps={}, revision=pin.revision)
    return overlay(base, [*(d for d in others if d is not None), pin.desired])


async def apply_pinned(
    pin: Pin, whole: Desired, marathon: MarathonPort, consul: ConsulPort | None, *,
    routing: AgentRouting = AgentRouting.HOST, deadline: float = 300.0, prune: bool = False, force: bool = False,
) -> SyncResult:
    """Makes Marathon and Consul match the pinned state in its environment through the one sync: it
    waits for the deployments, then registers the tasks they started (`whole`: recorded_whole, for the
    fallback queries). The one place rollback applies a state. With `prune` it also deletes the managed
    apps of the environment the state does not hold, under apply's prune limit (`force` lifts it); a
    refusal by that guard sends nothing at all, as `apply --prune` does."""
    request = SyncRequest(pin.desired, PlanOptions(env=pin.env, prune=prune, force=force),
                          ExecuteOptions(wait=True, timeout=deadline), routing, whole=whole, strict=False,
                          halt_on_refusal=prune)
    return await sync(request, marathon, consul)
