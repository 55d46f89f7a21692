"""Per-app memos of the Consul decisions (pure core): a cycle after one change decides that app again.

Registrations, queries and heals are decided app by app from objects the adapters hand back unchanged
for an unchanged app (the same ActualApp, the same ServiceInstances, the same DesiredApp). IdentityMemo
keeps, per key, the last value with the objects it was made from and gives it back only while every
one of them is the very same object; an equal object is a miss (never a wrong answer, only a
recomputation). A pass (`with memo.pass_():`) forgets every key it did not ask for, so the memo holds
no more than the last input. A pass told which keys changed since the last pass (`pass_(changed)`: the
planner owner finds them, engine/plan_changes.py) gives every other key's value back unasked (`kept`).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Hashable, Iterator
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from reconciler.core.compare_memo import ComparisonMemo

T = TypeVar("T")
MISSING: Any = object()  # what `kept` gives for a key whose inputs may have changed


class IdentityMemo(Generic[T]):
    """Per key, the last `compute()` while its inputs are the same objects, in the same order."""

    def __init__(self) -> None:
        self._entries: dict[Hashable, tuple[tuple[object, ...], T]] = {}
        self._seen: dict[Hashable, tuple[tuple[object, ...], T]] | None = None  # None: outside a pass
        self._changed: AbstractSet[Hashable] | None = None  # None: any key's inputs may have changed
        self.computed = 0  # how many times `compute` ran (the tests check that a change is decided again)

    def get(
        self, key: Hashable, inputs: tuple[object, ...], compute: Callable[[], T],
        same: Callable[[object, object], bool] = operator.is_,
    ) -> T:
        """The last value of `key` while its inputs are the same objects (`same`: or what else they must be)."""
        entry = self._entries.get(key)
        if entry is not None and len(entry[0]) == len(inputs) and all(map(same, entry[0], inputs)):
            value = entry[1]
        else:
            self.computed += 1
            value = compute()
        if self._seen is not None:  # outside a pass nothing is kept: nothing would ever forget it
            self._seen[key] = (inputs, value)
        return value

    def kept(self, key: Hashable) -> T:
        """The last pass's value of `key` when the pass was told its inputs did not change, else MISSING
        (the caller then asks `get`, which compares the inputs)."""
        changed = self._changed
        if changed is None or key in changed:
            return MISSING  # type: ignore[no-any-return]
        entry = self._entries.get(key)
        if entry is None:
            return MISSING  # type: ignore[no-any-return]
        if self._seen is not None:
            self._seen[key] = entry
        return entry[1]

    def skip(self, key: Hashable) -> None:
        """Forget `key` now: its value this pass was not one to keep (it depended on the clock)."""
        if self._seen is not None:
            self._seen.pop(key, None)

    @contextmanager
    def pass_(self, changed: AbstractSet[Hashable] | None = None) -> Iterator[None]:
        """One pass over the input: afterwards only the keys asked for in it are kept. `changed`: the
        keys whose inputs may differ from the last pass's; every other key's inputs are the very same
        objects as then (the caller vouches for it), so `kept` gives its value back. None: any may differ."""
        seen: dict[Hashable, tuple[tuple[object, ...], T]] = {}
        self._seen, self._changed = seen, changed
        try:
            yield
        finally:
            self._entries, self._seen, self._changed = seen, None, None

    def clear(self) -> None:
        self._entries.clear()

    @property
    def size(self) -> int:
        """Keys kept (not `__len__`: an empty memo must not be falsy to an `or`)."""
        return len(self._entries)


@dataclass
class DecisionMemos:
    """The memos of one planner owner (engine/planning.py's Planner): each app's comparison and write
    action, its registrations, its heal decisions, each desired query's change and the desired queries
    of a tree. `changed_apps` / `changed_queries`: for the next pass, the app ids (query names) whose
    inputs may differ from the last pass's (None: any may); the owner sets them before it plans."""

    comparisons: ComparisonMemo[Any] | None = field(default_factory=ComparisonMemo)  # None: compare afresh
    writes: IdentityMemo[Any] = field(default_factory=IdentityMemo)
    registrations: IdentityMemo[Any] = field(default_factory=IdentityMemo)
    heals: IdentityMemo[Any] = field(default_factory=IdentityMemo)
    queries: IdentityMemo[Any] = field(default_factory=IdentityMemo)
    desired_queries: IdentityMemo[Any] = field(default_factory=IdentityMemo)
    changed_apps: AbstractSet[str] | None = None
    changed_queries: AbstractSet[str] | None = None

    def clear(self) -> None:
        if self.comparisons is not None:
            self.comparisons.clear()
        for memo in (self.writes, self.registrations, self.heals, self.queries, self.desired_queries):
            memo.clear()
        self.changed_apps = self.changed_queries = None
