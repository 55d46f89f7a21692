"""`reconciler schema` (face layer): the JSON Schema of a spec document, for editors
(e.g. the YAML language server: `# yaml-language-server: $schema=spec.schema.json`).
"""

from __future__ import annotations

import json

import typer


def register(app: typer.Typer) -> None:
    app.command("schema")(schema_command)


def schema_command() -> None:
    """Print the JSON Schema of the spec format (Environment and FunctionalSet documents)."""
    from reconciler.spec import spec_json_schema  # the spec models: imported when the command runs, not for --help

    typer.echo(json.dumps(spec_json_schema(), indent=2))
