"""Every object of every Marathon body in ../shared/reference/marathon (0.7 to 1.10, recorded/ and
examples/) read as an app both ways: the plain-JSON reading of marathon/plain_json.py and pydantic's.
They give the same ActualApp (equal, same repr) or the same error; every app of a `/v2/apps` answer is
read the plain way (so the comparison is not vacuous), and the whole answer reads as before.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pydantic
import pytest

from reconciler.marathon import wire
from reconciler.marathon.plain_json import actual_app_of_json
from tests.unit.marathon.app_readings import assert_same_reading, memo_reading, pydantic_reading

pytestmark = pytest.mark.reference


def bodies(reference_dir: Path) -> Iterator[tuple[str, Any]]:
    """Each JSON body (the empty file of the articles repository aside), parsed as observe parses it (orjson)
    and with the standard parser, observe's fallback."""
    root = reference_dir / "marathon"
    for path in sorted(root.rglob("*.json")):
        content = path.read_bytes()
        if content.strip():
            name = str(path.relative_to(root))
            yield name, orjson.loads(content)
            yield name + " (json)", json.loads(content)


def objects(value: Any) -> Iterator[Any]:
    """Every JSON object inside `value`, itself included."""
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from objects(child)
    elif isinstance(value, list):
        for child in value:
            yield from objects(child)


def apps_of_answer(name: str, body: Any) -> list[Any] | None:
    """The apps of a `GET /v2/apps` answer or of a group, else None; marathon-bigip-ctlr's captures lack the
    wrapper."""
    if "marathon-bigip-ctlr__" in name:
        return list(body)
    if isinstance(body, dict) and isinstance(body.get("apps"), list):
        return list(body["apps"])
    return None


def test_every_object_of_every_body_reads_the_same_both_ways(reference_dir: Path) -> None:
    read = valid = 0
    for _, body in bodies(reference_dir):
        for raw in objects(body):
            assert_same_reading([raw])
            try:
                wire.App.model_validate(raw)
            except pydantic.ValidationError:
                continue
            valid += 1
            read += actual_app_of_json(copy.deepcopy(raw)) is not None
    # Tasks, deployments and the like have an `id` too, so they pass for apps: all of them read plainly.
    assert read == valid > 500


def test_every_app_answer_reads_plainly_and_as_before(reference_dir: Path) -> None:
    answers = 0
    for name, body in bodies(reference_dir):
        apps = apps_of_answer(name, body)
        if apps is None:
            continue
        answers += 1
        assert all(actual_app_of_json(copy.deepcopy(raw)) is not None for raw in apps), name
        assert memo_reading(apps) == pydantic_reading(apps), name
    # 10 recorded answers, 4 documented ones (v0.15.7, v1.3.14, master, RAML) and 6 groups, by both parsers.
    assert answers == 2 * 20
