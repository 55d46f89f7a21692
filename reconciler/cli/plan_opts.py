"""The flags that plan, apply, status, run and history share (face layer), and the check of `--output`.

Apart from the commands, so that naming a flag (and `--help`) imports neither the spec loader, the
engine nor the clients: a command imports those when it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.output import use_json_output
from reconciler.engine.routing import AgentRouting

# Not `exists=True`: a path that does not exist is an invalid spec tree (exit 3), as for validate.
SpecsArg = Annotated[Path, typer.Argument(help="Spec tree: a folder (or one file).")]
EnvOpt = Annotated[str | None, typer.Option("--env", "-e", help="Only this environment.")]
OutputOpt = Annotated[str, typer.Option("--output", "-o", help="text or json.")]
PruneOpt = Annotated[bool, typer.Option(help="Delete managed apps that left the specs (guarded).")]
ForceOpt = Annotated[bool, typer.Option(help="Lift the prune limit.")]
ApplyForceOpt = Annotated[bool, typer.Option(
    "--force", help="Lift the prune limit, and apply even to environments a live controller owns (its leader lock)."
)]
AgentOpt = Annotated[
    AgentRouting,
    typer.Option("--consul-agent", help="host: register through the agent on each task's host; single: --consul."),
]
ChartsOpt = Annotated[
    Path | None,
    typer.Option("--charts", help="Charts folder (default: <specs>/../charts if it exists, else <specs>/charts)."),
]
# Above this many apps the status prints as a summary plus the rows needing attention, unless --wide:
# a 5,000-row table takes seconds to print and nobody reads it.
COMPACT_ABOVE = 50
WIDE_HELP = f"Print every app's status row (above {COMPACT_ABOVE} apps: a summary and the rows needing attention)."
WideOpt = Annotated[bool, typer.Option("--wide", help=WIDE_HELP)]
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="Show every Consul action, not one summary line per app.")
]


def check_output(output: str) -> None:
    if output not in ("text", "json"):
        raise typer.BadParameter(f"unknown output format {output!r}; use text or json", param_hint="--output")
    use_json_output(output == "json")
