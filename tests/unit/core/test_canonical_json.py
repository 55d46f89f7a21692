"""The proof behind hashing's orjson path: wherever it answers, it writes what json.dumps writes.

The definition hash is stamped on every app in Marathon, so its text must never move: a different
hash is an update of every app after an upgrade. `orjson_json` either writes exactly what
`standard_json` (sorted keys, no spaces, ensure_ascii=False) writes, or declines (None).
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from datetime import date
from enum import IntEnum, StrEnum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.hashing import (
    HASH_LENGTH,
    canonical_bytes,
    canonical_json,
    definition_hash,
    hashed_content,
    orjson_json,
    standard_json,
)
from reconciler.core.naming import HASH_LABEL, REVISION_LABEL


def assert_written_alike(value: Any) -> None:
    written = orjson_json(value)
    if written is not None:
        assert written == standard_json(value).encode("utf-8"), value
    assert canonical_json(value) == standard_json(value)


def test_every_code_point_is_written_as_json_dumps_writes_it() -> None:
    code_points = [chr(point) for point in range(sys.maxunicode + 1) if not 0xD800 <= point <= 0xDFFF]
    for start in range(0, len(code_points), 4096):  # control characters, quotes, U+2028, non-BMP alike
        chunk = code_points[start : start + 4096]
        value = {"alone": chunk, "joined": "".join(chunk), "".join(chunk[:64]): 1}
        assert orjson_json(value) == standard_json(value).encode("utf-8")


def test_keys_sort_by_code_point_as_python_does_not_by_utf16() -> None:
    keys = ["\uffff", "\U00010000", "\ue000", "\ud7ff", "a", "B", "", "aa", "\x00", "\U0010ffff", "é", "\x7f"]
    value = {key: {inner: 1 for inner in reversed(keys)} for key in keys}
    assert orjson_json(value) is not None
    assert_written_alike(value)


@pytest.mark.parametrize(
    "number",
    [1e-05, 1.5e-07, 0.0001, 0.1, 1.15, 123456.789, 1e16 + 2.0, 5e-324, 1.5e-310, -0.5, 3.141592653589793, 2.5e-300],
)
def test_floats_are_written_by_python_s_repr(number: float) -> None:
    value = {"x": [number, -number]}
    assert orjson_json(value) is not None
    assert_written_alike(value)


def test_integral_floats_are_written_as_integers() -> None:
    written = canonical_json({"a": 1.0, "b": [-0.0, 1e16], "c": 1e22})
    assert written == '{"a":1,"b":[0,10000000000000000],"c":10000000000000000000000}'


@pytest.mark.parametrize("number", [2**63 - 1, 2**63, 2**64 - 1, -(2**63), 0, -1])
def test_ints_of_64_bits_go_through_orjson(number: int) -> None:
    assert orjson_json({"n": number}) is not None
    assert_written_alike({"n": number})


class Level(IntEnum):
    LOW = 1


class Mode(StrEnum):
    HOST = "host"


class Text(str):
    __slots__ = ()


@pytest.mark.parametrize(
    "value",
    [
        {"n": 2**64},
        {"n": -(2**63) - 1},
        {"n": math.nan},
        {"n": [math.inf, -math.inf]},
        {1: "a"},
        {"n": Level.LOW},
        {"n": Mode.HOST},
        {Text("k"): 1},
        {"n": Text("v")},
    ],
    ids=["u64+1", "i64-1", "nan", "inf", "int-key", "int-enum", "str-enum", "str-subclass-key", "str-subclass"],
)
def test_what_orjson_is_not_proven_for_goes_to_json_dumps(value: Any) -> None:
    assert orjson_json(value) is None
    assert canonical_json(value) == standard_json(value)


def test_types_json_refuses_are_refused_still() -> None:
    with pytest.raises(TypeError):
        definition_hash({"id": "/a", "when": date(2026, 1, 1)})  # orjson would write the date


def test_a_lone_surrogate_fails_as_its_encoding_did() -> None:
    assert canonical_json({"s": "\ud800"}) == json.dumps({"s": "\ud800"}, ensure_ascii=False, separators=(",", ":"))
    with pytest.raises(UnicodeEncodeError):
        canonical_bytes({"s": "\ud800"})


def test_a_hash_of_a_definition_is_the_one_marathon_holds() -> None:
    # Written before orjson hashed: the label Marathon holds for this definition must not move.
    definition = {
        "id": "/int/web", "cmd": "serve", "cpus": 0.25, "mem": 128.0, "env": {"É": "ü", "\U0001F600": "\x1f"},
        "backoffFactor": 1e-05, "instances": 3, "labels": {"reconciler.definition-hash": "x"},
    }
    assert definition_hash(definition) == "b6e4a4e9f4556c18"


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(codec="utf-8"))
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4)
    | st.tuples(children, children)
    | st.dictionaries(st.text(st.characters(codec="utf-8"), max_size=4), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_any_json_value_is_written_alike(value: Any) -> None:
    assert_written_alike(value)
    assert_written_alike({"wrapped": value, "also": [value]})


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["id", "cmd", "instances", "labels", "env", "cpus"]), json_values, max_size=5),
       st.dictionaries(st.sampled_from(["team", HASH_LABEL, REVISION_LABEL]), json_values, max_size=3))
def test_a_definition_hashes_as_json_dumps_writes_it(definition: dict[str, Any], labels: dict[str, Any]) -> None:
    for value in (definition, {**definition, "labels": labels}):
        written = standard_json(hashed_content(value)).encode("utf-8")
        assert definition_hash(value) == hashlib.sha256(written).hexdigest()[:HASH_LENGTH]
