"""`reconciler plan` (face layer): what apply would change in Marathon and Consul; exit 2 when pending.

Consul is observed beside Marathon unless `--no-consul`; when it cannot be read the plan says so on
stderr and holds no Consul action at all (nothing is deregistered or deleted on missing data). The
work is in plan_steps, imported when the command runs: `plan --help` loads no engine or client.
"""

from __future__ import annotations

import typer

from reconciler.cli.consul_opts import ConsulOpt, NoConsulOpt
from reconciler.cli.plan_opts import (
    AgentOpt,
    ChartsOpt,
    EnvOpt,
    ForceOpt,
    OutputOpt,
    PruneOpt,
    SpecsArg,
    VerboseOpt,
    check_output,
)
from reconciler.engine.routing import AgentRouting


def register(app: typer.Typer) -> None:
    app.command("plan")(plan_command)


def plan_command(
    ctx: typer.Context,
    specs: SpecsArg,
    env: EnvOpt = None,
    output: OutputOpt = "text",
    prune: PruneOpt = False,
    force: ForceOpt = False,
    consul: ConsulOpt = None,
    no_consul: NoConsulOpt = False,
    consul_agent: AgentOpt = AgentRouting.HOST,
    charts: ChartsOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Show what `apply` would change (exit 0: nothing, 2: changes pending, 3: invalid specs)."""
    check_output(output)
    from reconciler.cli.plan_steps import plan_specs  # the command's work, imported only when it runs

    plan_specs(ctx.obj, specs, env=env, output=output, prune=prune, force=force, consul=consul, no_consul=no_consul,
               consul_agent=consul_agent, charts=charts, verbose=verbose)
