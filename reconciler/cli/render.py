"""`reconciler render` (face layer): the concrete Marathon app definitions a spec tree renders to,
as `helm template` prints manifests: YAML documents (each headed by its source) or a JSON list.
"""

from __future__ import annotations

import io
import json
from enum import StrEnum
from typing import Annotated, Any

import typer
from ruamel.yaml import YAML

from reconciler.cli.validate import ChartsOpt, SpecsArg, load_or_exit
from reconciler.core.model import Desired
from reconciler.spec import load_specs, render_desired


class RenderFormat(StrEnum):
    YAML = "yaml"
    MARATHON_JSON = "marathon-json"


EnvOpt = Annotated[str | None, typer.Option("--env", "-e", help="Only this environment.")]
FormatOpt = Annotated[RenderFormat, typer.Option("--format", "-f", help="yaml, or marathon-json (a JSON list).")]


def register(app: typer.Typer) -> None:
    app.command("render")(render_command)


def render_command(
    specs: SpecsArg, env: EnvOpt = None, output_format: FormatOpt = RenderFormat.YAML, charts: ChartsOpt = None
) -> None:
    """Print the Marathon app definitions the specs render to (exit 3 on invalid specs)."""
    specset = load_or_exit(lambda: load_specs(specs, charts_dir=charts))
    desired = load_or_exit(lambda: render_desired(specset, env=env))
    if output_format == RenderFormat.MARATHON_JSON:
        typer.echo(json.dumps(app_bodies(desired), indent=2))
    else:
        typer.echo(yaml_documents(desired), nl=False)


def app_bodies(desired: Desired) -> list[dict[str, Any]]:
    return [_plain(app.definition) for app in desired.apps.values()]


def yaml_documents(desired: Desired) -> str:
    yaml = YAML(typ="rt", pure=True)  # keeps the field order (id first); the safe dumper sorts keys
    yaml.default_flow_style = False
    out = io.StringIO()
    for app in desired.apps.values():
        out.write(f"---\n# Source: {app.source} ({app.env}/{app.name})\n")
        yaml.dump(_plain(app.definition), out)
    return out.getvalue()


def _plain(value: Any) -> Any:
    """Plain dicts and lists (definitions are read-only Mappings) for the serialisers."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
