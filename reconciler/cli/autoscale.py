"""`reconciler autoscale simulate` (face layer): replay an autoscaling policy over invented samples
(a FILE) or the ones the controller recorded (`--from-history APP`), and print the decision at each
step (exit 0; 3 for an invalid input file; 2 for a usage error or an app without samples).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from reconciler.cli.output import console, use_json_output
from reconciler.errors import UsageError

if TYPE_CHECKING:
    from reconciler.core.autoscale import Decision
    from reconciler.core.autoscale_replay import Step

autoscale_app = typer.Typer(help="Autoscaling tools.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(autoscale_app, name="autoscale")


@autoscale_app.command("simulate")
def simulate_command(
    file: Annotated[
        Path | None, typer.Argument(help="Simulation input (YAML or JSON).", exists=True, dir_okay=False)
    ] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="text or json.")] = "text",
    from_history: Annotated[str | None, typer.Option(
        "--from-history", help="Replay the samples the controller recorded for APP (its Marathon id).")] = None,
    since: Annotated[str | None, typer.Option("--since", help="With --from-history: samples this recent (1h).")] = None,
    database: Annotated[str | None, typer.Option(help="With --from-history: the store `run` writes.")] = None,
    write_input: Annotated[Path | None, typer.Option(
        "--write-input", help="With --from-history: also write the rebuilt input as YAML.", dir_okay=False)] = None,
) -> None:
    """Print the decision at each step of FILE, or of the recorded samples of an app: the same function
    the controller runs (docs/autoscaling.md)."""
    if output not in ("text", "json"):
        raise typer.BadParameter(f"unknown output format {output!r}; use text or json", param_hint="--output")
    _check_arguments(file, from_history, (since, database, write_input))
    use_json_output(output == "json")
    # Imported when the command runs, not for --help; the store only for --from-history.
    from reconciler.cli.validate import load_or_exit
    from reconciler.core.autoscale_replay import replay
    from reconciler.spec.simulation import load_simulation, simulation_from_data

    if from_history is not None:
        from reconciler.cli.autoscale_history import history_input
        from reconciler.cli.autoscale_history import write_input as write_input_file

        data = history_input(from_history, since, database)
        if write_input is not None:
            write_input_file(write_input, data)
        simulation = load_or_exit(lambda: simulation_from_data(data, f"the samples of {from_history}"))
    else:
        assert file is not None  # _check_arguments
        simulation = load_or_exit(lambda: load_simulation(file))
    outcomes = replay(simulation.policy, simulation.instances, simulation.steps, simulation.history)
    steps = [step_document(step, decision) for step, decision in outcomes]
    if output == "json":
        console.print_json(json.dumps({"steps": steps}))
    else:
        for step in steps:
            console.print(_line(step), soft_wrap=True, markup=False)


def _check_arguments(file: Path | None, from_history: str | None, history_options: tuple[object, ...]) -> None:
    if file is not None and from_history is not None:
        raise UsageError("give a simulation FILE or --from-history APP, not both")
    if file is None and from_history is None:
        raise typer.BadParameter("give the simulation FILE (or --from-history APP)", param_hint="FILE")
    if from_history is None and any(option is not None for option in history_options):
        raise UsageError("--since, --database and --write-input go with --from-history APP")


def step_document(step: Step, decision: Decision) -> dict[str, Any]:
    """One step of the output: the fields docs/autoscaling.md lists, in that order."""
    from reconciler.engine.autoscaling import metric_document

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
