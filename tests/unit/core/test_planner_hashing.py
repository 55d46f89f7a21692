"""Definition hash: stable, blind to instances and to its own labels, sensitive to everything else."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.core.hashing import HASH_LENGTH, definition_hash
from reconciler.core.naming import HASH_LABEL, REVISION_LABEL

BASE: dict[str, Any] = {"id": "/int/web", "cmd": "serve", "cpus": 0.5, "labels": {"team": "web"}, "instances": 2}


def test_hash_is_a_hex_prefix_of_fixed_length() -> None:
    value = definition_hash(BASE)
    assert len(value) == HASH_LENGTH
    int(value, 16)


@pytest.mark.parametrize(
    ("name", "other"),
    [
        ("key order", {"instances": 2, "labels": {"team": "web"}, "cpus": 0.5, "cmd": "serve", "id": "/int/web"}),
        ("instances", {**BASE, "instances": 7}),
        ("no instances", {k: v for k, v in BASE.items() if k != "instances"}),
        ("hash label", {**BASE, "labels": {"team": "web", HASH_LABEL: "0123"}}),
        ("revision label", {**BASE, "labels": {"team": "web", REVISION_LABEL: "abc"}}),
    ],
)
def test_hash_ignores(name: str, other: dict[str, Any]) -> None:
    assert definition_hash(other) == definition_hash(BASE), name


def test_integral_floats_hash_as_integers() -> None:
    assert definition_hash({**BASE, "mem": 64.0, "env": {"n": [1.0]}}) == definition_hash(
        {**BASE, "mem": 64, "env": {"n": [1]}}
    )


@pytest.mark.parametrize(
    "other",
    [
        {**BASE, "cpus": 1},
        {**BASE, "cmd": "serve --debug"},
        {**BASE, "labels": {"team": "api"}},
        {**BASE, "env": {"A": "1"}},
        {**BASE, "id": "/int/web2"},
        {**BASE, "requirePorts": 1},
    ],
)
def test_hash_changes_with_the_definition(other: dict[str, Any]) -> None:
    assert definition_hash(other) != definition_hash(BASE)


def test_bool_and_number_hash_differently() -> None:
    assert definition_hash({**BASE, "requirePorts": True}) != definition_hash({**BASE, "requirePorts": 1})
