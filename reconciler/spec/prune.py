"""Validation that keeps what is valid (spec layer): every problem of a document or an app is reported,
then the broken parts (the fields, or app entries, that have problems) are cut out and the rest is
validated again, so that later checks still run on everything that is sound. Whoever uses the result
is told what was cut, and skips the checks that would read it (no follow-on problems).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from reconciler.errors import ProblemList
from reconciler.spec.problems import data_path, validation_problems
from reconciler.spec.source import DataPath, Marks

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Pruned(Generic[M]):
    """The model of what was sound (None: nothing was), the data it came from, and what was cut out."""

    model: M | None
    data: Any
    cut: frozenset[DataPath] = frozenset()

    @property
    def cut_keys(self) -> frozenset[str]:
        """The top-level keys that were cut out ("" when the whole node was broken)."""
        return frozenset(str(path[0]) if path else "" for path in self.cut)


def field_unit(path: DataPath) -> DataPath:
    """What to cut for a problem at `path`: the whole top-level field it is in."""
    return path[:1]


def validate_pruned(
    model: type[M],
    data: Any,
    marks: Marks,
    problems: ProblemList,
    *,
    unit: Callable[[DataPath], DataPath] = field_unit,
    shell: Callable[[Any], Any] | None = None,
) -> Pruned[M]:
    """`data` as `model`, its problems added to `problems`; on problems, the model of `data` without them.

    `unit` maps a problem's path to the part to cut; `shell` gives the form the model validates (a
    document whose app entries are validated one by one, later, is validated with empty entries).
    """
    view = shell or _same
    try:
        return Pruned(model.model_validate(view(data)), data)
    except ValidationError as exc:
        viewed = view(data)
        for problem in validation_problems(exc, model, viewed, marks):
            problems.add(problem)
        cut = frozenset(unit(data_path(error["loc"], viewed)) for error in exc.errors(include_url=False))
    if () in cut:
        return Pruned(None, data, cut)
    remaining = without(data, cut)
    try:
        return Pruned(model.model_validate(view(remaining)), remaining, cut)
    except ValidationError:  # a required field was cut: nothing sound is left
        return Pruned(None, data, cut)


def _same(data: Any) -> Any:
    return data


def without(data: Any, cut: frozenset[DataPath]) -> Any:
    """A copy of `data` without the nodes at the `cut` paths (containers on the way are copied)."""
    result = data
    for path in cut:
        result = _remove(result, path)
    return result


def _remove(data: Any, path: DataPath) -> Any:
    if not path or not isinstance(data, dict) or path[0] not in data:
        return data
    head, rest = path[0], path[1:]
    copy = dict(data)
    if rest:
        copy[head] = _remove(copy[head], rest)
    else:
        del copy[head]
    return copy
