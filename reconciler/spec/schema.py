"""The JSON Schema of the spec format (spec layer), for editors and for docs/spec.md."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from reconciler.spec.documents import EnvironmentDoc, FunctionalSetDoc

SCHEMA_ID = "https://marathon-reconciler.example/schemas/spec-v1.json"

# Typed Any: mypy cannot see a discriminated union as a type (pydantic reads the annotation at runtime).
SpecDocument: Any = Annotated[EnvironmentDoc | FunctionalSetDoc, Field(discriminator="kind")]


def spec_json_schema() -> dict[str, Any]:
    """One spec document (Environment or FunctionalSet), as JSON Schema draft 2020-12."""
    adapter: TypeAdapter[Any] = TypeAdapter(SpecDocument)
    schema = adapter.json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "marathon-reconciler spec document",
        **schema,
    }
