"""Field-level diff: JSON-pointer paths, scalar typing, list granularity, top-level defaults."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.core.diff import diff_fields, diff_values, escape_segment
from reconciler.core.model import FieldChange


@pytest.mark.parametrize(
    ("desired", "actual", "expected"),
    [
        ({"a": {"b": 1}}, {"a": {"b": 2}}, [FieldChange("/a/b", 2, 1)]),
        ({"a": {"b": 1}}, None, [FieldChange("/a/b", None, 1)]),
        (None, {"a": 1}, [FieldChange("/a", 1, None)]),
        ([1, 2], [1, 3], [FieldChange("/1", 3, 2)]),
        ([1, 2], [1], [FieldChange("", [1], [1, 2])]),
        (True, 1, [FieldChange("", 1, True)]),
        (1, 1.0, []),
        ({"x/y": "1", "t~": "2"}, {"x/y": "0", "t~": "2"}, [FieldChange("/x~1y", "0", "1")]),
        ([{"k": "v"}], [{"k": "v"}], []),
    ],
)
def test_diff_values(desired: Any, actual: Any, expected: list[FieldChange]) -> None:
    assert diff_values(desired, actual, "") == expected


def test_pointer_escaping_follows_rfc_6901() -> None:
    assert escape_segment("a~/b") == "a~0~1b"


def test_diff_fields_compares_only_the_given_keys_and_shows_defaults_for_absent_ones() -> None:
    desired = {"cmd": "a", "env": {"X": "1"}}
    actual = {"cmd": "b", "cpus": 0.5, "constraints": [["a", "UNIQUE"]]}
    assert diff_fields(desired, actual, ["cmd", "cpus", "env"]) == (
        FieldChange("/cmd", "b", "a"),
        FieldChange("/cpus", 0.5, 1),
        FieldChange("/env/X", None, "1"),
    )
