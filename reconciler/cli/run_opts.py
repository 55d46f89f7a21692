"""The flags of `reconciler run` (face layer): where the specs come from, the server, the leader lock, the
alert notifications and the autoscaler's metric sources.

Apart from the command's machinery so that parsing them (and `run --help`) imports neither the engine,
the store, the web server nor the clients.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reconciler.engine.notify_format import NotifyFormat
from reconciler.sources.git import DEFAULT_GIT_TIMEOUT

SpecsOpt = Annotated[Path | None, typer.Argument(help="Spec folder or file (or use --source).")]
SourceOpt = Annotated[str | None, typer.Option("--source", help="Spec folder, or git URL (https, ssh, file).")]
BranchOpt = Annotated[str | None, typer.Option(help="Git branch to follow (default: the remote's HEAD).")]
PathOpt = Annotated[str | None, typer.Option("--path", help="Folder of the specs inside the git repository.")]
TokenEnvOpt = Annotated[str | None, typer.Option(help="Environment variable holding an https git token.")]
TokenFileOpt = Annotated[Path | None, typer.Option(help="File holding an https git token.", dir_okay=False)]
CacheOpt = Annotated[Path | None, typer.Option(help="Where git clones are kept (default ~/.cache/reconciler/git).")]
GitTimeoutOpt = Annotated[float | None, typer.Option(help=f"Seconds one git command may run before it is killed"
                                                      f" (default {DEFAULT_GIT_TIMEOUT:g}).", min=1.0, max=3600.0,
                                                      show_default=False)]
PollOpt = Annotated[float, typer.Option(help="Seconds between fetches of the source (+-20% jitter).", min=1.0)]
ListenOpt = Annotated[str, typer.Option(help="HOST:PORT of the health, metrics, status and webhook server.")]
SecretOpt = Annotated[str | None, typer.Option(help="Webhook HMAC secret (better: its variable or a file).",
                                              envvar="RECONCILER_WEBHOOK_SECRET", show_default=False)]
SecretFileOpt = Annotated[Path | None, typer.Option(help="File holding the webhook HMAC secret.", dir_okay=False)]
ElectionOpt = Annotated[bool, typer.Option(help="Elect one leader among replicas through a Consul lock"
                                                 " (needs Consul); standbys only serve status.")]
LeaderTtlOpt = Annotated[float, typer.Option(help="Session TTL of the leader lock, seconds (10 to 86400).",
                                             min=10.0, max=86400.0)]
DatabaseOpt = Annotated[str | None, typer.Option(help="History store: a SQLite file path or a"
                                                     " postgresql+psycopg:// URL (default ~/.local/state/...).")]

NotifyUrlOpt = Annotated[str | None, typer.Option(
    help="Webhook that receives alert notifications (better: RECONCILER_NOTIFY_URL or --notify-url-file).",
    envvar="RECONCILER_NOTIFY_URL", show_default=False, show_envvar=True)]
NotifyUrlFileOpt = Annotated[Path | None, typer.Option(help="File holding the notification webhook URL.",
                                                       dir_okay=False)]
NotifyFormatOpt = Annotated[NotifyFormat, typer.Option(
    help="Notification body: generic JSON, or Slack-compatible {\"text\": ...}.")]
NotifyCooldownOpt = Annotated[float, typer.Option(
    help="Seconds before an alert still active is notified again.", min=0.0)]
NotifyDeadlineOpt = Annotated[float, typer.Option(
    help="Seconds a deployment may run before it is notified as past its deadline.", min=1.0)]
NotifyAtMaxOpt = Annotated[float, typer.Option(
    help="Seconds an autoscaled app must stay at its max, its metrics asking for more, before it is notified.",
    min=1.0)]

PrometheusOpt = Annotated[str | None, typer.Option("--prometheus", help="Prometheus server (http://host:9090)"
                                                   " that autoscale `prometheus` metrics query.")]
AgentPortOpt = Annotated[int, typer.Option("--agent-port", help="Port of the Mesos agents' /monitor/statistics"
                                           " (autoscale cpu and mem).", min=1, max=65535)]
SamplesKeepOpt = Annotated[str, typer.Option("--autoscale-samples-keep", help="How long the store keeps the"
                                             " samples autoscale decisions were made from (for"
                                             " `autoscale simulate --from-history`): 30m, 6h, 48h.")]
