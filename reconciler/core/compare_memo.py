"""A memo of each app's last comparison (pure core): an idle cycle does not normalise and diff again.

The planner normalises, hashes and diffs both sides of every managed app, and between two cycles of a
controller almost none of them changed. The memo keeps, per app id, the last result with what it was
made from, and gives it back only when both sides are the same as then:
- desired: the same definition object (the spec layer hands back the same objects for an unchanged
  tree), else an equal one whose repr is equal too (`==` alone takes `True` for `1`);
- actual: the same definition object, else an equal one at the same non-empty Marathon version
  (Marathon never changes a definition without a new version: every write makes one), else an equal
  one whose repr is equal too.
Whatever it holds is what the computation would give again, so the planner stays a pure function.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from reconciler.core.model import ActualApp, DesiredApp

T = TypeVar("T")
MEMO_APPS = 50_000  # comparisons kept: beyond this the oldest go (an app renamed, deleted, moved)


@dataclass(slots=True)  # not frozen: its __init__ is a third of a frozen one's, and nothing outside sees it
class _Entry(Generic[T]):
    desired: Mapping[str, Any]
    env: str
    name: str
    dependencies: tuple[str, ...]
    actual: Mapping[str, Any]
    version: str
    value: T


def same_data(kept: Mapping[str, Any], given: Mapping[str, Any]) -> bool:
    """Equal and of the same JSON types: repr tells `True` from `1` and `1.0` from `1`, `==` does not."""
    return kept is given or (kept == given and repr(kept) == repr(given))


def same_actual(entry: _Entry[Any], actual: ActualApp) -> bool:
    if entry.actual is actual.definition:
        return True
    if entry.actual != actual.definition:
        return False
    return (bool(actual.version) and entry.version == actual.version) or repr(entry.actual) == repr(actual.definition)


class ComparisonMemo(Generic[T]):
    """Per app id, the last value `compute(app, actual_app)` gave, while neither side changed."""

    def __init__(self, limit: int = MEMO_APPS) -> None:
        self._limit = limit
        self._entries: dict[str, _Entry[T]] = {}
        # A controller plans in a worker thread (engine/sync.py) while its loop may plan too (an approval
        # review): the entries are read and evicted under this lock, never half-way.
        self._lock = threading.Lock()
        self.computed = 0  # how many times `compute` ran (the tests check that a change is compared again)

    def get(self, app: DesiredApp, actual: ActualApp, compute: Callable[[DesiredApp, ActualApp], T]) -> T:
        with self._lock:
            entry = self._entries.get(app.app_id)
            if entry is not None and self._fits(entry, app) and same_actual(entry, actual):
                if entry.desired is not app.definition or entry.actual is not actual.definition:
                    self._keep(app, actual, entry.value)  # the next cycle's objects are these: match by identity
                return entry.value
            self.computed += 1
            value = compute(app, actual)
            self._keep(app, actual, value)
            return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    @staticmethod
    def _fits(entry: _Entry[T], app: DesiredApp) -> bool:
        return (
            entry.env == app.env
            and entry.name == app.name
            and entry.dependencies == app.dependencies
            and same_data(entry.desired, app.definition)
        )

    def _keep(self, app: DesiredApp, actual: ActualApp, value: T) -> None:
        self._entries.pop(app.app_id, None)
        self._entries[app.app_id] = _Entry(
            app.definition, app.env, app.name, app.dependencies, actual.definition, actual.version, value
        )
        while len(self._entries) > self._limit:
            del self._entries[next(iter(self._entries))]
