"""`reconciler apply` (face layer): execute the same plan object that `plan` shows.

The work is one sync (engine/sync.py): Marathon's actions first (waiting for the deployments with
`--wait`), then Consul's, writes of unknown outcome settled, and the tasks the deployments started
registered. This module parses the flags; apply_steps, imported when the command runs, does the work
and prints. A plan with Marathon guard refusals (prune) sends nothing and exits 4: nothing is
half-applied. `--dry-run` and a plan with nothing pending send no write to either system.
"""

from __future__ import annotations

from typing import Annotated

import typer

from reconciler.cli.consul_opts import ConsulOpt, LeaderKeyOpt, NoConsulOpt
from reconciler.cli.plan_opts import (
    AgentOpt,
    ApplyForceOpt,
    ChartsOpt,
    EnvOpt,
    OutputOpt,
    PruneOpt,
    SpecsArg,
    VerboseOpt,
    check_output,
)
from reconciler.cli.settings import check_seconds
from reconciler.cli.store_opts import DatabaseOpt
from reconciler.engine.lock_key import DEFAULT_KEY
from reconciler.engine.routing import AgentRouting


def register(app: typer.Typer) -> None:
    app.command("apply")(apply_command)


def apply_command(
    ctx: typer.Context,
    specs: SpecsArg,
    env: EnvOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan; write nothing.")] = False,
    prune: PruneOpt = False,
    force: ApplyForceOpt = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the deployments.")] = True,
    deadline: Annotated[
        float, typer.Option("--deadline", help="How long to wait for the deployments in all (s); see --timeout.")
    ] = 300.0,
    output: OutputOpt = "text",
    consul: ConsulOpt = None,
    no_consul: NoConsulOpt = False,
    consul_agent: AgentOpt = AgentRouting.HOST,
    charts: ChartsOpt = None,
    verbose: VerboseOpt = False,
    database: DatabaseOpt = None,
    leader_key: LeaderKeyOpt = DEFAULT_KEY,
) -> None:
    """Make Marathon and Consul match the specs (exit 0 ok, 1 error, 3 invalid specs, 4 refused by a guard)."""
    check_output(output)
    check_seconds("--deadline", deadline)
    from reconciler.cli.apply_steps import apply_specs  # the command's work, imported only when it runs

    apply_specs(ctx.obj, specs, env=env, dry_run=dry_run, prune=prune, force=force, wait=wait, deadline=deadline,
                output=output, consul=consul, no_consul=no_consul, consul_agent=consul_agent, charts=charts,
                verbose=verbose, database=database, leader_key=leader_key)
