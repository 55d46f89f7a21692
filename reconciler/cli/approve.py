"""`reconciler approve ENV PLAN-ID` (face layer): apply a plan awaiting approval, exactly as shown.

The plan comes from the store `reconciler run` (or a refused `apply`) recorded it in. Marathon is
observed afresh and the plan made again: only with an unchanged digest is it approved and applied;
otherwise nothing is sent and the new plan's id is printed to approve instead (exit 4). An id that
awaits nothing (or that another reconciler approved or superseded meanwhile) is a usage error (exit 2)
listing the ids that do; when another reconciler marked the plan's outcome while the writes from here went
out, a warning says so and the exit code is that of those writes. When a live controller owns the
environment (its leader lock, `--leader-key`), the approval is handed to it through the store and
nothing is sent from here, unless `--force`. docs/approvals.md.
"""

from __future__ import annotations

from typing import Annotated

import typer

from reconciler.cli.consul_opts import ConsulOpt, LeaderKeyOpt, NoConsulOpt
from reconciler.cli.store_opts import DatabaseOpt
from reconciler.engine.lock_key import DEFAULT_KEY

EnvArg = Annotated[str, typer.Argument(metavar="ENV", help="The environment the plan belongs to.")]
PlanArg = Annotated[str, typer.Argument(metavar="PLAN-ID",
                                        help="The id of the plan awaiting approval (status, history, apply show it).")]


def register(app: typer.Typer) -> None:
    app.command("approve")(approve_command)


def approve_command(
    ctx: typer.Context,
    env: EnvArg,
    plan_id: PlanArg,
    database: DatabaseOpt = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the deployments.")] = True,
    deadline: Annotated[float, typer.Option("--deadline", help="How long to wait for the deployments (s).")] = 300.0,
    consul: ConsulOpt = None,
    no_consul: NoConsulOpt = False,
    leader_key: LeaderKeyOpt = DEFAULT_KEY,
    force: Annotated[bool, typer.Option("--force", help="Send the writes from here even when a live controller"
                                                      " owns ENV (it would otherwise apply the approval).")] = False,
) -> None:
    """Apply a plan awaiting approval if Marathon has not changed since (exit 0 applied or handed to the live
    controller, 1 failed, 2 no such pending plan, 4 the actual state changed: approve the new plan)."""
    from reconciler.cli.approve_steps import approve_plan  # the command's work, imported only when it runs

    approve_plan(ctx.obj, env, plan_id, database=database, wait=wait, deadline=deadline, consul=consul,
                 no_consul=no_consul, leader_key=leader_key, force=force)
