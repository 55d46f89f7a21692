"""Pydantic validation errors as spec problems (spec layer): each names file, line and field path,
says what is wrong in words a spec author uses, and suggests a fix (the closest known key for a typo).
"""

from __future__ import annotations

import difflib
import types
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError

from reconciler.errors import ProblemList, SpecProblem
from reconciler.spec.source import DataPath, Marks

_HINTS = {
    "missing": "add the field",
    "int_type": "write a whole number, without quotes",
    "int_parsing": "write a whole number, without quotes",
    "int_from_float": "write a whole number",
    "float_type": "write a number, without quotes",
    "float_parsing": "write a number, without quotes",
    "finite_number": "write a finite number (not .inf, .nan or beyond 1e308)",
    "string_type": "write a string (quote it if YAML reads it as something else)",
    "bool_type": "write true or false",
    "bool_parsing": "write true or false",
    "dict_type": "write a mapping (key: value lines)",
    "list_type": "write a list (- item lines, or [a, b])",
    "model_type": "write a mapping (key: value lines)",
    "model_attributes_type": "write a mapping (key: value lines)",
    "string_pattern_mismatch": "see docs/spec.md for the allowed form",
    "literal_error": "use the value shown",
    "enum": "use one of the values shown",
    "too_short": "add at least one item",
}


_LOW = ("greater_than", "greater_than_equal")
_HIGH = ("less_than", "less_than_equal")


@dataclass(frozen=True)
class RangeHint:
    """What to say when a number is out of bounds, written next to the bounds:
    `Annotated[float, Field(ge=1), RangeHint(low="...")]` (`low`: below the minimum, `high`: above the maximum).
    """

    low: str | None = None
    high: str | None = None


def rule_error(message: str, hint: str) -> PydanticCustomError:
    """The error a model's own validator raises: pydantic keeps the hint in the error's `ctx`."""
    return PydanticCustomError("spec_rule", message, {"hint": hint})


def validation_problems(exc: ValidationError, model: type[BaseModel], data: Any, marks: Marks) -> list[SpecProblem]:
    """One problem per pydantic error, placed with `marks` (the marks of `data`)."""
    return [_problem(error, model, data, marks) for error in exc.errors(include_url=False)]


def _problem(error: ErrorDetails, model: type[BaseModel], data: Any, marks: Marks) -> SpecProblem:
    path = data_path(error["loc"], data)
    message = error["msg"].removeprefix("Value error, ")
    context = error.get("ctx") or {}
    hint = context.get("hint") or _HINTS.get(error["type"])
    if error["type"] == "extra_forbidden":
        known = known_keys(model, path[:-1])
        message = f"unknown key '{path[-1]}'"
        hint = closest_hint(str(path[-1]), known)
    elif error["type"] in _LOW + _HIGH:
        hint = _range_hint(error["type"], context, model, path)
    return marks.problem(path, message, hint)


def _range_hint(kind: str, context: dict[str, Any], model: type[BaseModel], path: DataPath) -> str:
    written = next((meta for meta in _field_metadata(model, path) if isinstance(meta, RangeHint)), RangeHint())
    if kind in _LOW:
        bound = context.get("ge", context.get("gt"))
        generic = "use a value that is not negative" if bound == 0 else f"use a value of at least {bound}"
        return written.low or generic
    return written.high or f"use a value of at most {context.get('le', context.get('lt'))}"


def _field_metadata(model: type[BaseModel], path: DataPath) -> list[Any]:
    """The Annotated metadata of the field at `path` (empty when `path` is not a model's field)."""
    if not path:
        return []
    parent: Any = model
    for part in path[:-1]:
        parent = _step(parent, part)
    parent = _unwrap(parent)
    if not (isinstance(parent, type) and issubclass(parent, BaseModel)):
        return []
    info = next((i for n, i in parent.model_fields.items() if path[-1] in (n, i.alias)), None)
    return [*info.metadata, *_annotated_metadata(info.annotation)] if info is not None else []


def _annotated_metadata(annotation: Any) -> list[Any]:
    found: list[Any] = []
    origin = get_origin(annotation)
    if origin is Annotated:
        found += [meta for meta in annotation.__metadata__ if not isinstance(meta, FieldInfo)]
        found += _annotated_metadata(get_args(annotation)[0])
    elif origin in (Union, types.UnionType):
        for member in get_args(annotation):
            found += _annotated_metadata(member)
    return found


def closest_hint(word: str, known: list[str]) -> str:
    match = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    if match:
        return f"did you mean '{match[0]}'?"
    return f"known keys here: {', '.join(sorted(known))}" if known else "remove it"


def data_path(loc: tuple[int | str, ...], data: Any) -> DataPath:
    """The path of an error inside `data`, without pydantic's union and validator tags."""
    path: list[int | str] = []
    current = data
    for index, part in enumerate(loc):
        if _indexes(current, part):
            current = current[part]
            path.append(part)
        elif isinstance(current, dict) and index == len(loc) - 1:
            path.append(part)  # a missing field
        # anything else is a tag pydantic adds (a union member, a validator): not part of the data
    return tuple(path)


def _indexes(data: Any, part: int | str) -> bool:
    if isinstance(data, dict):
        return part in data
    return isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)


def known_keys(model: type[BaseModel], path: DataPath) -> list[str]:
    """The keys the model accepts at `path` (for suggesting the closest one to an unknown key)."""
    current: Any = model
    for part in path:
        current = _step(current, part)
        if current is None:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [info.alias or name for name, info in current.model_fields.items()]
    return []


def _step(annotation: Any, part: int | str) -> Any:
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, info in annotation.model_fields.items():
            if part in (name, info.alias):
                return info.annotation
        return None
    origin = get_origin(annotation)
    if origin is list and isinstance(part, int):
        return get_args(annotation)[0]
    if origin is dict:
        return get_args(annotation)[1]
    return None


def _unwrap(annotation: Any) -> Any:
    """The model or container inside Annotated[...] and X | None."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [member for member in get_args(annotation) if member is not type(None)]
            annotation = members[0] if members else None
        else:
            return annotation


def raise_problems(problems: ProblemList) -> None:
    """SpecError with every problem once (an app laid over its base's entry meets the base's problems again)."""
    problems.items[:] = list(dict.fromkeys(problems.items))
    problems.raise_if_any()
