"""`reconciler autoscale simulate` (face layer): replay an autoscaling policy over recorded or
invented samples and print the decision at each step (exit 0, or 3 for an invalid input file).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from reconciler.cli.output import console, print_error, use_json_output
from reconciler.cli.validate import load_or_exit
from reconciler.core.autoscale import Decision
from reconciler.core.autoscale_replay import Step, replay
from reconciler.engine.autoscaling import metric_document
from reconciler.errors import ExitCode
from reconciler.spec.simulation import load_simulation

autoscale_app = typer.Typer(help="Autoscaling tools.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(autoscale_app, name="autoscale")


FROM_HISTORY = (
    "--from-history is not supported yet: the store keeps the controller's decisions, not the samples they"
    " were made from; write the samples into a simulation FILE (docs/autoscaling.md)"
)


@autoscale_app.command("simulate")
def simulate_command(
    file: Annotated[
        Path | None, typer.Argument(help="Simulation input (YAML or JSON).", exists=True, dir_okay=False)
    ] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="text or json.")] = "text",
    from_history: Annotated[str | None, typer.Option("--from-history", help="Not supported yet (refused).")] = None,
    since: Annotated[str | None, typer.Option("--since", help="With --from-history (not supported yet).")] = None,
) -> None:
    """Print the decision at each step of FILE: the same function the controller runs (docs/autoscaling.md)."""
    if from_history is not None or since is not None:
        print_error(FROM_HISTORY)
        raise typer.Exit(ExitCode.INVALID_SPEC)
    if file is None:
        raise typer.BadParameter("give the simulation FILE", param_hint="FILE")
    if output not in ("text", "json"):
        raise typer.BadParameter(f"unknown output format {output!r}; use text or json", param_hint="--output")
    use_json_output(output == "json")
    simulation = load_or_exit(lambda: load_simulation(file))
    outcomes = replay(simulation.policy, simulation.instances, simulation.steps, simulation.history)
    steps = [step_document(step, decision) for step, decision in outcomes]
    if output == "json":
        console.print_json(json.dumps({"steps": steps}))
    else:
        for step in steps:
            console.print(_line(step), soft_wrap=True, markup=False)


def step_document(step: Step, decision: Decision) -> dict[str, Any]:
    """One step of the output: the fields docs/autoscaling.md lists, in that order."""
    return {
        "at": step.at,
        "instances": decision.instances,
        "recommendation": decision.recommendation,
        "metrics": [metric_document(p) for p in decision.proposals],
        "limitedBy": decision.limited_by,
        "reason": decision.reason,
    }


def _line(step: dict[str, Any]) -> str:
    """One greppable line a step: `at=15 instances=4 recommended=1 limitedBy=- cpu=10/50->1 | reason`."""
    metrics = " ".join(
        f"{m['name']}={_number(m['current'])}/{_number(m['target'])}->{_number(m['proposal'])}" for m in step["metrics"]
    )
    head = (
        f"at={_number(step['at'])} instances={step['instances']} recommended={_number(step['recommendation'])} "
        f"limitedBy={step['limitedBy'] or '-'}"
    )
    return f"{head} {metrics} | {step['reason']}" if metrics else f"{head} | {step['reason']}"


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:g}"
