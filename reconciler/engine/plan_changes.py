"""Which apps and queries a planner owner must decide again (engine layer): the change scan.

Between two plans of one owner, an unchanged app's inputs are the very same objects: the spec layer
hands back the same DesiredApp, the Marathon client the same ActualApp (marathon/app_memo.py), the
Consul read the same instances and queries (engine/consul_read.py). The scan compares the inputs of
two plans by identity (well under a microsecond an app) and names the app ids and query names whose
inputs moved; the core decides those again and keeps every other one's last decisions
(core/decision_memo.py). Where it cannot tell (other options, an incomplete side, a heal memory that
is not the one the last plan returned), it names None: the core
then looks at every app again through its identity memos, as a plan without the scan does.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from itertools import compress
from typing import Any

from reconciler.core.heal import HealMemory
from reconciler.core.model import Actual, ActualApp, Desired
from reconciler.core.plan import PlanOptions
from reconciler.core.registrations import service_id_of
from reconciler.core.registry import ConsulObservation, InstanceChanges, instance_changes

_ABSENT = object()


@dataclass(frozen=True)
class Basis:
    """What one plan was made from (`memory`: the heal memory that plan returned)."""

    desired: Desired
    whole: Desired
    options: PlanOptions
    strict: bool
    consul_enabled: bool
    actual: Actual
    consul: ConsulObservation
    memory: HealMemory


@dataclass(frozen=True)
class Changes:
    """The app ids and query names whose inputs may have moved since the last plan (None: any may)."""

    apps: frozenset[str] | None = None
    queries: frozenset[str] | None = None


UNKNOWN = Changes()


def changed_keys(kept: Mapping[str, Any], given: Mapping[str, Any]) -> set[str]:
    """The keys of either mapping not bound to the very same object in the other."""
    if kept is given:
        return set()
    if len(kept) == len(given) and all(map(operator.eq, kept.keys(), given.keys())):
        # the same keys in the same order (an adapter's new container, mostly of the same objects): no loop in Python
        return set(compress(given.keys(), map(operator.is_not, kept.values(), given.values())))
    changed = {key for key, value in given.items() if kept.get(key, _ABSENT) is not value}
    changed.update(key for key in kept if key not in given)
    return changed


class Owners:
    """Which apps read the Consul instances of a task id or a service id: their registrations look
    instances up by service id, their heal decisions by task id. A key two apps claim (a task id both
    list) has both as owners: a changed instance of it has both decided again, and each keeps its claim
    until that app's tasks no longer name the key."""

    def __init__(self, apps: Mapping[str, ActualApp]) -> None:
        self._by_key: dict[str, str] = {}  # every claimed key: one of its owners
        self._shared: dict[str, set[str]] = {}  # a key of more than one owner: all of them
        for app in apps.values():
            self.add(app)

    def add(self, app: ActualApp) -> None:
        app_id = app.app_id
        for key in _keys_of(app):
            owner = self._by_key.setdefault(key, app_id)
            if owner != app_id:
                self._shared.setdefault(key, {owner}).add(app_id)

    def remove(self, app: ActualApp) -> None:
        """Takes back every claim of `app` (as it was when added), and no other app's."""
        app_id = app.app_id
        for key in _keys_of(app):
            shared = self._shared.get(key)
            if shared is None:
                if self._by_key.get(key) == app_id:
                    del self._by_key[key]
                continue
            shared.discard(app_id)
            if self._by_key[key] == app_id:
                self._by_key[key] = next(iter(shared))
            if len(shared) == 1:
                del self._shared[key]

    def moved(self, before: Mapping[str, ActualApp], after: Mapping[str, ActualApp], app_ids: set[str]) -> None:
        """Follows the apps `app_ids` from `before` to `after`."""
        for app_id in app_ids:
            if app_id in before:
                self.remove(before[app_id])
        for app_id in app_ids:
            if app_id in after:
                self.add(after[app_id])

    def of(self, changes: InstanceChanges) -> set[str]:
        """The apps that read any of the changed instances."""
        owners = set()
        for instance in changes.changed:
            for key in (instance.service_id, instance.task_id):
                owner = self._by_key.get(key)
                if owner is not None:
                    owners.add(owner)
                    owners.update(self._shared.get(key, ()))
        return owners


def _keys_of(app: ActualApp) -> Iterator[str]:
    """The keys of the instances `app`'s decisions read: each task's id and service id."""
    app_id = app.app_id
    for task in app.tasks:
        yield task.task_id
        yield service_id_of(app_id, task.task_id)


class ChangeScan:
    """The basis of an owner's last plan and, given the next plan's, what moved in between."""

    def __init__(self) -> None:
        self._basis: Basis | None = None
        self._owners: Owners | None = None  # made the first time an instance changes, then kept up

    def forget(self) -> None:
        self._basis, self._owners = None, None

    def keep(self, basis: Basis) -> None:
        """`basis` made the last plan, and the memos' last pass was that plan's."""
        self._basis = basis

    def changes(self, current: Basis, known: tuple[ConsulObservation, InstanceChanges] | None = None) -> Changes:
        """What moved from the kept basis to `current` (`current.memory`: the memory the plan starts from).
        `known`: an observation and what moved from its instances to `current`'s (the owner has them)."""
        last = self._basis
        if last is None:
            return UNKNOWN
        moved_apps = changed_keys(last.actual.apps, current.actual.apps)
        if self._owners is not None:
            self._owners.moved(last.actual.apps, current.actual.apps, moved_apps)
        if not _comparable(last, current):
            return UNKNOWN
        if known is not None and known[0] is last.consul:
            instances = known[1]
        else:
            instances = instance_changes(last.consul.instances, current.consul.instances)
        apps = moved_apps | changed_keys(last.desired.apps, current.desired.apps)
        if current.whole is not current.desired or last.whole is not last.desired:
            apps |= changed_keys(last.whole.apps, current.whole.apps)
        apps |= _revised(last.desired, current.desired) | _rescaled(last.options, current.options)
        if instances.changed:
            if self._owners is None:
                self._owners = Owners(current.actual.apps)
            apps |= self._owners.of(instances)
        listed_alike = last.whole is current.whole or last.whole.environments == current.whole.environments
        queries = changed_keys(last.consul.queries, current.consul.queries) if listed_alike else None
        return Changes(frozenset(apps), None if queries is None else frozenset(queries))


def _comparable(last: Basis, current: Basis) -> bool:
    """Whether the memos' last pass ran over inputs that differ from `current`'s app by app only."""
    return (
        last.strict == current.strict
        and last.consul_enabled == current.consul_enabled
        and last.actual.complete and current.actual.complete
        and last.consul.complete and current.consul.complete
        and (last.options is current.options or replace(last.options, instances={}) == replace(current.options,
                                                                                              instances={}))
        and (last.memory is current.memory or last.memory == current.memory)
    )


def _revised(last: Desired, current: Desired) -> set[str]:
    """The apps whose environment's revision moved (it goes into a create's or update's labels)."""
    if last is current:
        return set()
    environments = {app.env for app in current.apps.values()}
    moved = {env for env in environments if last.revision_of(env) != current.revision_of(env)}
    return {app_id for app_id, app in current.apps.items() if app.env in moved} if moved else set()


def _rescaled(last: PlanOptions, current: PlanOptions) -> set[str]:
    """The apps whose count from the autoscaler moved."""
    kept, given = last.instances, current.instances
    if kept is given or kept == given:
        return set()
    return {key for key in kept.keys() | given.keys() if kept.get(key) != given.get(key)}
