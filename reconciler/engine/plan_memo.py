"""The last cycle plan and what it was made from (engine layer): an idle cycle does not plan again.

An idle controller hands the planner the very objects of the cycle before: the spec layer returns the
same Desired for an unchanged tree, the Marathon client the same ActualApp for an unchanged app
(marathon/app_memo.py), the Consul read the same instances and queries while their indexes and bytes
stand still (engine/consul_read.py). Planning is a function of its inputs, so when every input is the
same object (or an equal small value) the previous plan is the answer. The clock is an input only
through healing's memory of critical tasks and recent kills: a plan is kept only when that memory is
empty before and after it, so that `now` played no part in it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from reconciler.core.heal import HealMemory
from reconciler.core.model import Desired
from reconciler.core.plan import PlanOptions
from reconciler.core.registry import ConsulObservation

T = TypeVar("T")


@dataclass(frozen=True)
class PlanInputs:
    """Everything a cycle plan is computed from, but the clock."""

    desired: Desired
    consul_desired: Desired | None
    options: PlanOptions
    strict: bool
    memory: HealMemory
    actual_apps: Mapping[str, Any]
    actual_rest: tuple[Any, ...]  # deployments, complete, problems: small, compared by value
    consul: ConsulObservation
    consul_enabled: bool

    def same_as(self, other: PlanInputs) -> bool:
        return (
            self.desired is other.desired
            and self.consul_desired is other.consul_desired
            and self.strict == other.strict
            and self.consul_enabled == other.consul_enabled
            and self.options == other.options
            and self.actual_rest == other.actual_rest
            and _same_values(self.actual_apps, other.actual_apps)
            and _same_consul(self.consul, other.consul)
            and (self.memory is other.memory or self.memory == other.memory)
        )


def _same_values(kept: Mapping[str, Any], given: Mapping[str, Any]) -> bool:
    """The same keys bound to the very same objects (an equal object is not enough: it is not compared)."""
    return kept is given or (
        len(kept) == len(given)
        and all(map(operator.is_, kept.values(), given.values()))
        and all(map(operator.eq, kept.keys(), given.keys()))
    )


def _same_consul(kept: ConsulObservation, given: ConsulObservation) -> bool:
    return (
        kept.complete == given.complete
        and kept.problems == given.problems
        and (kept.instances is given.instances or (
            len(kept.instances) == len(given.instances) and all(map(operator.is_, kept.instances, given.instances))
        ))
        and _same_values(kept.queries, given.queries)
    )


def clockless(memory: HealMemory) -> bool:
    """Whether a heal memory leaves the clock out of planning: no task critical, no recent kill, none in flight."""
    return not memory.critical_since and not memory.heals and not memory.killed


class PlanMemo:
    """The last plan made with a clockless memory, given back while its inputs are the same objects."""

    def __init__(self) -> None:
        self._kept: tuple[PlanInputs, Any] | None = None
        self.computed = 0  # how many times `compute` ran (the tests check that a change plans again)

    def get(self, inputs: PlanInputs, compute: Callable[[], T], memory_of: Callable[[T], HealMemory]) -> T:
        kept = self._kept
        if kept is not None and kept[0].same_as(inputs):
            return kept[1]  # type: ignore[no-any-return]
        self.computed += 1
        result = compute()
        keep = clockless(inputs.memory) and clockless(memory_of(result))
        self._kept = (inputs, result) if keep else None
        return result

    def clear(self) -> None:
        self._kept = None
