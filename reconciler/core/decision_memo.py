"""Per-app memos of the Consul decisions (pure core): a cycle after one change decides that app again.

Registrations, queries and heals are decided app by app from objects the adapters hand back unchanged
for an unchanged app (the same ActualApp, the same ServiceInstances, the same DesiredApp). IdentityMemo
keeps, per key, the last value with the objects it was made from and gives it back only while every
one of them is the very same object; an equal object is a miss (never a wrong answer, only a
recomputation). A pass (`with memo.pass_(keys) as deciding:`) forgets every key it did not decide, so
the memo holds no more than the last input, and leaves the pass's values in order (`values()`) for the
caller to hand back in bulk. A pass told which keys changed since the last pass (`pass_(keys, changed)`:
the planner owner finds them, engine/plan_changes.py) decides those alone and keeps every other value.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from reconciler.core.compare_memo import ComparisonMemo

T = TypeVar("T")
_NEVER: tuple[object, ...] = (object(),)  # the inputs of a value made with the clock: never the same again
_VALUE = operator.itemgetter(1)


class IdentityMemo(Generic[T]):
    """Per key, the last `compute()` while its inputs are the same objects, in the same order; and the
    last pass's values in the order of its keys."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[tuple[object, ...], T]] = {}  # the last pass's, in its keys' order
        self._once: set[str] = set()  # the last pass's keys whose values were made with the clock
        self._seen: dict[str, tuple[tuple[object, ...], T]] | None = None  # None: outside a pass
        self._once_now: set[str] = set()
        self.computed = 0  # how many times `compute` ran (the tests check that a change is decided again)

    def get(
        self, key: str, inputs: tuple[object, ...], compute: Callable[[], T],
        same: Callable[[object, object], bool] = operator.is_,
    ) -> T:
        """The last value of `key` while its inputs are the same objects (`same`: or what else they must be)."""
        entry = self._entries.get(key)
        if entry is not None and len(entry[0]) == len(inputs) and entry[0] is not _NEVER and all(
            map(same, entry[0], inputs)
        ):
            value = entry[1]
        else:
            self.computed += 1
            value = compute()
        if self._seen is not None:  # outside a pass nothing is kept: nothing would ever forget it
            self._seen[key] = (inputs, value)
        return value

    def once(self, key: str, value: T) -> T:
        """`value` is `key`'s in this pass, made with the clock: never given back, decided again next pass."""
        if self._seen is not None:
            self._seen[key] = (_NEVER, value)
            self._once_now.add(key)
        return value

    @contextmanager
    def pass_(
        self, keys: Callable[[], Iterable[str]], changed: AbstractSet[str] | None = None
    ) -> Iterator[Iterable[str]]:
        """One pass over the input, whose keys are `keys()` in order; it yields the keys to decide (`get` or
        `once`; a key decided without either has no value). Afterwards `values()` holds the values of the
        pass in the order of `keys()`.

        `changed`: the keys whose inputs may differ from the last pass's; every other key's inputs are the
        very same objects as then (the caller vouches for it), so only `changed` and the keys of values made
        with the clock are decided: every other key keeps its last value, and its place. None: any may
        differ, every key is decided and the values of keys not decided are forgotten."""
        seen: dict[str, tuple[tuple[object, ...], T]] = {}
        self._seen, self._once_now = seen, set()
        if changed is None:
            try:
                yield keys()
            finally:
                self._entries, self._seen, self._once = seen, None, self._once_now
            return
        deciding = sorted(changed | self._once)
        try:
            yield deciding
        finally:
            self._merge(seen, deciding, keys)
            self._seen, self._once = None, self._once_now

    def _merge(self, seen: dict[str, tuple[tuple[object, ...], T]], decided: list[str],
               keys: Callable[[], Iterable[str]]) -> None:
        """The last pass's entries with the keys decided in this one replaced, added or gone, in order."""
        entries, added = self._entries, False
        for key in decided:
            entry = seen.get(key)
            if entry is None:
                entries.pop(key, None)
            else:
                added = added or key not in entries
                entries[key] = entry  # an existing key keeps its place
        if added:
            self._entries = {key: entries[key] for key in keys() if key in entries}

    def values(self) -> list[T]:
        """The last pass's values, in the order of its keys."""
        return list(map(_VALUE, self._entries.values()))

    def clear(self) -> None:
        self._entries.clear()
        self._once.clear()

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
