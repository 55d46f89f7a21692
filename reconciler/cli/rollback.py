"""`reconciler rollback ENV --to REVISION` and `reconciler resume ENV` (face layer).

Rollback pauses the environment at a recorded revision (env events "paused" and "rolled-back" in the
store, by user@host), then applies that revision's recorded desired state to Marathon and Consul (with
`--prune`, deleting the managed apps the revision does not hold, under apply's prune limit). A
running controller on the same store reconciles the pinned state from its next cycle on and never
undoes it; `resume` records "resumed", and the controller follows the specs again.
"""

from __future__ import annotations

from typing import Annotated

import typer

from reconciler.cli.consul_opts import ConsulOpt, NoConsulOpt
from reconciler.cli.plan_opts import AgentOpt, ForceOpt
from reconciler.cli.settings import check_seconds
from reconciler.cli.store_opts import DatabaseOpt
from reconciler.engine.routing import AgentRouting
from reconciler.errors import UsageError

EnvArg = Annotated[str, typer.Argument(help="The environment.")]
PruneOpt = Annotated[bool, typer.Option(
    help="Also delete the managed apps of ENV that the revision does not hold (under the prune limit)."
)]


def register(app: typer.Typer) -> None:
    app.command("rollback")(rollback_command)
    app.command("resume")(resume_command)


def rollback_command(
    ctx: typer.Context,
    env: EnvArg,
    to: Annotated[str, typer.Option("--to", help="A recorded revision of ENV: its sha or a unique prefix.")],
    database: DatabaseOpt = None,
    deadline: Annotated[float, typer.Option(help="How long to wait for the deployments (s).")] = 300.0,
    consul: ConsulOpt = None,
    no_consul: NoConsulOpt = False,
    consul_agent: AgentOpt = AgentRouting.HOST,
    prune: PruneOpt = False,
    force: ForceOpt = False,
) -> None:
    """Re-apply a recorded revision of ENV and pause its automatic sync until `reconciler resume ENV`."""
    check_seconds("--deadline", deadline)
    if force and not prune:
        raise UsageError("--force lifts the prune limit: it goes with --prune",
                         hint=f"add --prune to delete the apps of {env} the revision does not hold, or drop --force")
    from reconciler.cli.rollback_steps import rollback_env  # the command's work, imported only when it runs

    rollback_env(ctx.obj, env, to, database=database, deadline=deadline, consul=consul, no_consul=no_consul,
                 consul_agent=consul_agent, prune=prune, force=force)


def resume_command(env: EnvArg, database: DatabaseOpt = None) -> None:
    """Resume automatic sync of ENV: the controller follows the specs again from its next cycle."""
    from reconciler.cli.rollback_steps import resume_env  # the command's work, imported only when it runs

    resume_env(env, database)
