"""The JSON Schema of the spec format: a valid schema, accepts the example tree, refuses unknown keys,
and docs/spec.md documents every field it names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
from ruamel.yaml import YAML

from reconciler.spec import spec_json_schema

PROJECT = Path(__file__).resolve().parents[3]


def _documents() -> list[Any]:
    yaml = YAML(typ="safe", pure=True)
    return [
        doc for path in sorted((PROJECT / "specs").glob("*.yaml")) for doc in yaml.load_all(path.read_text()) if doc
    ]


def _properties(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        found |= set(node.get("properties", {}))
        for value in node.values():
            found |= _properties(value)
    elif isinstance(node, list):
        for value in node:
            found |= _properties(value)
    return found


def test_schema_is_a_valid_json_schema() -> None:
    schema = spec_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert {"Environment", "FunctionalSet"} <= set(schema["discriminator"]["mapping"])


def test_schema_accepts_the_example_documents() -> None:
    validator = jsonschema.Draft202012Validator(spec_json_schema())
    documents = _documents()
    assert len(documents) >= 2
    for document in documents:
        assert [error.message for error in validator.iter_errors(document)] == []


def test_schema_refuses_unknown_keys_and_bad_kinds() -> None:
    validator = jsonschema.Draft202012Validator(spec_json_schema())
    good = {"apiVersion": "reconciler/v1", "kind": "Environment", "name": "e", "apps": {"web": {"image": "x"}}}
    assert validator.is_valid(good)
    assert not validator.is_valid({**good, "apps": {"web": {"imgae": "x"}}})
    assert not validator.is_valid({**good, "kind": "Enviroment"})
    assert not validator.is_valid({**good, "apps": {"web": {"heal": {"criticalFor": "30 seconds"}}}})


def test_docs_describe_every_schema_field() -> None:
    text = (PROJECT / "docs" / "spec.md").read_text()
    missing = sorted(name for name in _properties(spec_json_schema()) if f"`{name}`" not in text)
    assert missing == [], f"docs/spec.md does not mention: {missing}"
