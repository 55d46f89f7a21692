"""Every example chart, every value it reads, a family of hostile values: the rendered app has the same
fields as with a harmless value, and the hostile value arrives verbatim where the harmless one did.

A placement puts a value at one leaf of the chart's values (a scalar, an item, or a key and value in an
empty mapping). The oracle is the same chart rendered with a harmless marker at that leaf, the marker
then replaced by the hostile value in every key and string: injection would add, drop or rename fields.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import ProblemList
from reconciler.spec.charts import Chart, ChartShelf, read_chart, render_chart

CHARTS = Path(__file__).resolve().parents[3] / "charts"
MARK = "zqmarkq"
CHART_NAMES = sorted(path.name for path in CHARTS.iterdir() if (path / "Chart.yaml").is_file())
# Values an example needs to render at all (as the example specs set them).
BASE: dict[str, dict[str, Any]] = {"java-service": {"image": "user-api"}, "datastore": {"kind": "redis"}}
# Leaves an empty mapping default opens up (`override` lays any preset field over the preset).
EXTRA: dict[str, list[tuple[str, ...]]] = {"datastore": [("override", "tag"), ("override", "env", "KEY")]}
# Values read only beside another one (the controller's `branch`, `path` and `gitTimeout` go with a git `source`,
# a Marathon password with a user).
BESIDE: dict[str, dict[str, Any]] = {"branch": {"source": "https://git.example/specs.git"},
                                     "path": {"source": "https://git.example/specs.git"},
                                     "gitTimeout": {"source": "https://git.example/specs.git"},
                                     "marathonPasswordSecret": {"marathonUser": "ops"}}
HOSTILE = [
    'say "hi"',
    "it's",
    '1"\ncmd: "rm -rf /',
    "line one\nline two\n",
    "key: value",
    "# a comment?",
    "{a: b}",
    "[a, b] # c",
    "&anchor *alias",
    "!!python/object/apply:os.system ['id']",
    "%YAML 1.2 @user `id`",
    "---",
    "...\n---\nx: 1",
    "  two leading spaces",
    "- item",
    "null",
    "ünïcødé ✓ 🚀",
    "{{ values }}",
]

Leaf = tuple[tuple[Any, ...], str]  # path in the values, and what is there: scalar, mapping or list


@cache
def chart_of(name: str) -> Chart:
    chart = read_chart(CHARTS / name, ProblemList())
    assert chart is not None
    return chart


def leaves(data: Any, path: tuple[Any, ...] = ()) -> Iterator[Leaf]:
    if isinstance(data, dict):
        if not data:
            yield path, "mapping"
        for key, value in data.items():
            yield from leaves(value, (*path, key))
    elif isinstance(data, list):
        if not data:
            yield path, "list"
        for index, value in enumerate(data):
            yield from leaves(value, (*path, index))
    else:
        yield path, "scalar"


def base_values(name: str) -> dict[str, Any]:
    return {**copy.deepcopy(chart_of(name).defaults), **BASE.get(name, {})}


def with_value(name: str, leaf: Leaf, value: str) -> dict[str, Any]:
    """The chart's base values with `value` placed at `leaf`."""
    path, kind = leaf
    values = {**base_values(name), **BESIDE.get(str(path[0]), {})}
    *parents, last = path
    holder: Any = values
    for part in parents:
        holder = holder.setdefault(part, {}) if isinstance(holder, dict) else holder[part]
    old = holder.get(last) if isinstance(holder, dict) else holder[last]
    holder[last] = {value: value} if kind == "mapping" else [value] if kind == "list" else value
    if isinstance(old, str) and old:
        _rename_key(values, old, value)
    return values


def _rename_key(data: Any, old: str, new: str) -> None:
    """A value that names a key elsewhere in the values (datastore's `kind` names a preset) renames it."""
    if isinstance(data, dict):
        if old in data:
            data[new] = data[old]
        for item in list(data.values()):
            _rename_key(item, old, new)


def rendered(name: str, values: dict[str, Any]) -> list[Any]:
    chart = chart_of(name)
    context = {
        "values": values,
        "app": "probe",
        "env": "integration",
        "environment": {"name": "integration", "group": "/integration", "base": None},
        "chart": {"name": chart.meta.name, "version": chart.meta.version},
    }
    problems = ProblemList()
    documents, complete = render_chart(chart, context, problems, "integration/probe", shelf().environment(chart))
    assert complete and not problems.items, [problem.render() for problem in problems.items]
    return [document.data for document in documents]


@cache
def shelf() -> ChartShelf:
    return ChartShelf(ProblemList())


def substituted(data: Any, value: str) -> Any:
    """`data` with the marker replaced by `value` (and its upper case by the upper-cased value with `-` as
    `_`, as the web chart writes `<API>_URL` names)."""
    if isinstance(data, dict):
        return {substituted(key, value): substituted(item, value) for key, item in data.items()}
    if isinstance(data, list):
        return [substituted(item, value) for item in data]
    if isinstance(data, str):
        return data.replace(MARK, value).replace(MARK.upper(), value.upper().replace("-", "_"))
    return data


def fields(data: Any, path: tuple[Any, ...] = ()) -> set[tuple[Any, ...]]:
    if isinstance(data, dict):
        return {path} | {field for key, item in data.items() for field in fields(item, (*path, key))}
    if isinstance(data, list):
        return {path} | {field for index, item in enumerate(data) for field in fields(item, (*path, index))}
    return {path}


@cache
def placements(name: str) -> list[Leaf]:
    """The leaves whose value shows in the rendered app (a leaf nothing reads, e.g. another preset, is left out)."""
    found = [*leaves(base_values(name)), *((path, "scalar") for path in EXTRA.get(name, []))]
    return [leaf for leaf in found if MARK in repr(rendered(name, with_value(name, leaf, MARK)))]


CASES = [
    pytest.param(name, leaf, value, id=f"{name}-{'.'.join(map(str, leaf[0]))}-{index}")
    for name in CHART_NAMES
    for leaf in placements(name)
    for index, value in enumerate(HOSTILE)
]


@pytest.mark.parametrize(("name", "leaf", "value"), CASES)
def test_a_hostile_value_changes_no_field_and_arrives_verbatim(name: str, leaf: Leaf, value: str) -> None:
    expected = substituted(rendered(name, with_value(name, leaf, MARK)), value)
    actual = rendered(name, with_value(name, leaf, value))
    assert fields(actual) == fields(expected)
    assert actual == expected


@pytest.mark.parametrize("name", CHART_NAMES)
def test_every_value_a_chart_reads_is_probed(name: str) -> None:
    probed = {path[0] for path, _ in placements(name)}
    read = chart_of(name).value_names
    assert read is not None and read <= probed, f"values never probed: {sorted(read - probed)}"
