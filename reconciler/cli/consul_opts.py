"""The Consul flags the commands share (face layer): which agent, none at all, and the leader lock's key.

`--leader-key` (or RECONCILER_LEADER_KEY) is where `run` takes the lock and where `apply` and `approve`
look for a live controller owning their environments, so one setting serves all three.
"""

from __future__ import annotations

from typing import Annotated

import typer

from reconciler.cli.settings import check_url


def _checked_consul(url: str | None) -> str | None:
    return check_url("--consul", url) if url is not None else None


ConsulOpt = Annotated[str | None, typer.Option(
    "--consul", help="Consul agent URL for this command (default: the global --consul).", callback=_checked_consul,
)]
NoConsulOpt = Annotated[bool, typer.Option("--no-consul", help="Leave Consul out entirely (Marathon only).")]
LeaderKeyOpt = Annotated[str, typer.Option(
    "--leader-key", envvar="RECONCILER_LEADER_KEY",
    help="Consul KV key of the controller's leader lock (run takes it; apply and approve read it).",
)]
