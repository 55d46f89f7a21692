"""`reconciler run` (face layer): the controller, running cycles until SIGTERM or Ctrl-C.

Cycles start on a periodic resync, and sooner on a Marathon event, a Consul health change (blocking
query), a new revision of the specs (polled with jitter, or pushed through the git webhook) or the
end of a heal grace window. It serves /healthz, /readyz, /metrics, /status and POST /hooks/git, and
appends what it does to the store. With `--sandbox` it first starts the embedded sandbox on loopback.
This module parses the flags (run_opts); the controller is in run_job, imported when the command runs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import typer

from reconciler.cli.consul_opts import ConsulOpt, LeaderKeyOpt, NoConsulOpt
from reconciler.cli.logs import RUN_DEFAULT_LEVEL, configure_logging
from reconciler.cli.plan_opts import AgentOpt, EnvOpt, PruneOpt, WideOpt
from reconciler.cli.run_opts import (
    AgentPortOpt,
    BranchOpt,
    CacheOpt,
    DatabaseOpt,
    ElectionOpt,
    GitTimeoutOpt,
    LeaderTtlOpt,
    ListenOpt,
    NotifyAtMaxOpt,
    NotifyCooldownOpt,
    NotifyDeadlineOpt,
    NotifyFormatOpt,
    NotifyUrlFileOpt,
    NotifyUrlOpt,
    PathOpt,
    PollOpt,
    PrometheusOpt,
    SamplesKeepOpt,
    SecretFileOpt,
    SecretOpt,
    SourceOpt,
    SpecsOpt,
    TokenEnvOpt,
    TokenFileOpt,
)
from reconciler.cli.settings import GlobalSettings
from reconciler.engine.lock_key import DEFAULT_KEY
from reconciler.engine.notify_format import NotifyFormat
from reconciler.engine.routing import AgentRouting
from reconciler.errors import UsageError
from reconciler.metrics.defaults import DEFAULT_AGENT_PORT
from reconciler.sources.base import DEFAULT_POLL_SECONDS


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)


def run_command(
    ctx: typer.Context,
    specs: SpecsOpt = None,
    source: SourceOpt = None,
    branch: BranchOpt = None,
    path: PathOpt = None,
    git_token_env: TokenEnvOpt = None,
    git_token_file: TokenFileOpt = None,
    git_cache: CacheOpt = None,
    git_timeout: GitTimeoutOpt = None,
    poll_interval: PollOpt = DEFAULT_POLL_SECONDS,
    listen: ListenOpt = "127.0.0.1:9090",
    webhook_secret: SecretOpt = None,
    webhook_secret_file: SecretFileOpt = None,
    database: DatabaseOpt = None,
    leader_election: ElectionOpt = True,
    leader_key: LeaderKeyOpt = DEFAULT_KEY,
    leader_ttl: LeaderTtlOpt = 15.0,
    notify_url: NotifyUrlOpt = None,
    notify_url_file: NotifyUrlFileOpt = None,
    notify_format: NotifyFormatOpt = NotifyFormat.JSON,
    notify_cooldown: NotifyCooldownOpt = 600.0,
    notify_deadline: NotifyDeadlineOpt = 600.0,
    notify_at_max_for: NotifyAtMaxOpt = 30.0,
    env: EnvOpt = None,
    prune: PruneOpt = False,
    sandbox: Annotated[bool, typer.Option(help="Start the embedded sandbox on loopback and run against it.")] = False,
    resync: Annotated[float, typer.Option(help="Seconds between periodic resyncs.", min=0.5)] = 30.0,
    cycles: Annotated[int | None, typer.Option(help="Stop after this many cycles.", min=1)] = None,
    consul: ConsulOpt = None,
    no_consul: NoConsulOpt = False,
    consul_agent: AgentOpt = AgentRouting.HOST,
    watch_wait: Annotated[str, typer.Option(help="Longest wait of a Consul blocking query (Go duration).")] = "5m",
    wide: WideOpt = False,
    prometheus: PrometheusOpt = None,
    agent_port: AgentPortOpt = DEFAULT_AGENT_PORT,
    autoscale_samples_keep: SamplesKeepOpt = "6h",
) -> None:
    """Run reconcile cycles continuously (periodic resync, sooner on events, new revisions and webhooks)."""
    # The controller's machinery (engine, store, web server, clients) is imported when the command runs:
    # `run --help` pays for none of it.
    import asyncio

    from reconciler.cli.history import since_seconds
    from reconciler.cli.run_job import RunJob, Serving
    from reconciler.cli.run_leader import LeaderSettings
    from reconciler.cli.run_metrics import MetricsSettings
    from reconciler.cli.run_notify import notify_settings
    from reconciler.cli.run_source import build_source, read_webhook_secret
    from reconciler.core.plan import PlanOptions
    from reconciler.engine.controller import ControllerOptions
    from reconciler.engine.cycle import CycleOptions
    from reconciler.web.server import parse_listen

    if ctx.obj.log_level is None:  # a controller logs its cycles unless told otherwise
        configure_logging(RUN_DEFAULT_LEVEL, ctx.obj.log_format)
    spec_source = build_source(specs, source, branch=branch, path=path, token_env=git_token_env,
                               token_file=git_token_file, cache=git_cache, timeout=git_timeout)
    try:
        address = parse_listen(listen)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--listen") from None
    secret = read_webhook_secret(webhook_secret, webhook_secret_file)
    explicit = ctx.get_parameter_source("leader_election")
    if no_consul and leader_election and explicit is not None and explicit.name != "DEFAULT":
        raise UsageError("--leader-election needs Consul: drop --no-consul or --leader-election")
    leader = LeaderSettings(enabled=leader_election and not no_consul, key=leader_key, ttl=leader_ttl)
    settings: GlobalSettings = ctx.obj if consul is None else replace(ctx.obj, consul_url=consul)
    notify = notify_settings(ctx, notify_url, notify_url_file, notify_format, notify_cooldown, notify_deadline,
                             notify_at_max_for)
    job = RunJob(
        Serving(spec_source, poll_interval, address, secret, branch, database, leader, wide, notify), env,
        CycleOptions(plan=PlanOptions(prune=prune, env=env), routing=consul_agent),
        ControllerOptions(resync_seconds=resync, max_cycles=cycles), use_consul=not no_consul, watch_wait=watch_wait,
        metrics=MetricsSettings(prometheus, agent_port,
                                since_seconds(autoscale_samples_keep, "--autoscale-samples-keep")),
    )
    raise typer.Exit(asyncio.run(job.run(settings, sandbox=sandbox)))


