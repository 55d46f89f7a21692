"""Per-app memos of the Consul decisions (pure core): a cycle after one change decides that app again.

Registrations, queries and heals are decided app by app from objects the adapters hand back unchanged
for an unchanged app (the same ActualApp, the same ServiceInstances, the same DesiredApp). IdentityMemo
keeps, per key, the last value with the objects it was made from and gives it back only while every
one of them is the very same object; an equal object is a miss (never a wrong answer, only a
recomputation). A pass (`with memo.pass_():`) forgets every key it did not ask for, so the memo holds
no more than the last input.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class IdentityMemo(Generic[T]):
    """Per key, the last `compute()` while its inputs are the same objects, in the same order."""

    def __init__(self) -> None:
        self._entries: dict[Hashable, tuple[tuple[object, ...], T]] = {}
        self._seen: dict[Hashable, tuple[tuple[object, ...], T]] | None = None  # None: outside a pass
        self.computed = 0  # how many times `compute` ran (the tests check that a change is decided again)

    def get(self, key: Hashable, inputs: tuple[object, ...], compute: Callable[[], T]) -> T:
        entry = self._entries.get(key)
        if entry is not None and len(entry[0]) == len(inputs) and all(map(operator.is_, entry[0], inputs)):
            value = entry[1]
        else:
            self.computed += 1
            value = compute()
        if self._seen is not None:  # outside a pass nothing is kept: nothing would ever forget it
            self._seen[key] = (inputs, value)
        return value

    def skip(self, key: Hashable) -> None:
        """Forget `key` now: its value this pass was not one to keep (it depended on the clock)."""
        if self._seen is not None:
            self._seen.pop(key, None)

    @contextmanager
    def pass_(self) -> Iterator[None]:
        """One pass over the input: afterwards only the keys asked for in it are kept."""
        seen: dict[Hashable, tuple[tuple[object, ...], T]] = {}
        self._seen = seen
        try:
            yield
        finally:
            self._entries, self._seen = seen, None

    def clear(self) -> None:
        self._entries.clear()

    @property
    def size(self) -> int:
        """Keys kept (not `__len__`: an empty memo must not be falsy to an `or`)."""
        return len(self._entries)


@dataclass
class DecisionMemos:
    """The memos of one planner owner (a controller's planning, a one-off plan): each app's
    registrations, its heal decisions, each desired query's change and the desired queries of a tree."""

    registrations: IdentityMemo[Any] = field(default_factory=IdentityMemo)
    heals: IdentityMemo[Any] = field(default_factory=IdentityMemo)
    queries: IdentityMemo[Any] = field(default_factory=IdentityMemo)
    desired_queries: IdentityMemo[Any] = field(default_factory=IdentityMemo)

    def clear(self) -> None:
        for memo in (self.registrations, self.heals, self.queries, self.desired_queries):
            memo.clear()
