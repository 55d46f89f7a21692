"""`reconciler render` (face layer): the concrete Marathon app definitions a spec tree renders to,
as `helm template` prints manifests: YAML documents (each headed by its source) or a JSON list.
"""

from __future__ import annotations

import io
import json
import re
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from reconciler.cli.plan_opts import ChartsOpt, SpecsArg
from reconciler.cli.validate import load_or_exit, print_warnings

if TYPE_CHECKING:
    from reconciler.core.model import Desired
    from reconciler.spec import SpecSet


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
    from reconciler.spec import dns_warnings, render_desired  # the spec loader: imported when the command runs

    specset = load_or_exit(lambda: scoped_load(specs, env, charts), problems_to_stderr=True)
    desired = load_or_exit(lambda: render_desired(specset, env=env), problems_to_stderr=True)
    print_warnings(dns_warnings(specset, env))
    if output_format == RenderFormat.MARATHON_JSON:
        typer.echo(json.dumps(app_bodies(desired), indent=2))
    else:
        typer.echo(yaml_documents(desired), nl=False)


def scoped_load(specs: Path, env: str | None, charts: Path | None) -> SpecSet:
    from reconciler.spec import env_scope, load_specs

    with env_scope(env):
        return load_specs(specs, charts_dir=charts)


def app_bodies(desired: Desired) -> list[dict[str, Any]]:
    return [_plain(app.definition) for app in desired.apps.values()]


def yaml_documents(desired: Desired) -> str:
    from ruamel.yaml import YAML  # only the YAML output pays for ruamel

    yaml = YAML(typ="rt", pure=True)  # keeps the field order (id first); the safe dumper sorts keys
    yaml.default_flow_style = False
    out = io.StringIO()
    for app in desired.apps.values():
        out.write(f"---\n# Source: {app.source} ({app.env}/{app.name})\n")
        yaml.dump(_yaml_safe(_plain(app.definition)), out)
    return out.getvalue()


# Plain scalars that a YAML 1.1 reader (PyYAML, most tools) takes for a boolean or null, though YAML 1.2
# (what ruamel writes) calls them strings: `--appendonly no` must not come back as `False`.
YAML11_SPECIAL = re.compile(
    r"^(y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|null|Null|NULL|~)$"
)


def _plain(value: Any) -> Any:
    """Plain dicts and lists (definitions are read-only Mappings) for the serialisers."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _yaml_safe(value: Any) -> Any:
    """`_plain` output with every string a YAML 1.1 reader would misread double-quoted."""
    if isinstance(value, dict):
        return {key: _yaml_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_yaml_safe(item) for item in value]
    if isinstance(value, str) and YAML11_SPECIAL.match(value):
        from ruamel.yaml.scalarstring import DoubleQuotedScalarString

        return DoubleQuotedScalarString(value)
    return value
