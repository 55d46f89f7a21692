"""The status tables (face layer): every desired app with its instances, running, healthy and
Consul-passing tasks, the heal state, and the DNS names each environment resolves. The rows come from
core/app_status.py; this module only prints them."""

from __future__ import annotations

from rich.table import Table

from reconciler.core.app_status import (
    AppStatus,
    StatusMemo,
    app_statuses,
    status_rows,
    status_summary,
    task_addresses,
)
from reconciler.core.model import Action, Actual, Desired
from reconciler.core.naming import query_name
from reconciler.core.registry import ConsulObservation

DNS_DOMAIN = "consul"
__all__ = ["StatusMemo", "dns_table", "status_rows", "status_summary", "status_table", "task_addresses"]


def status_table(
    desired: Desired,
    actual: Actual,
    consul: ConsulObservation | None = None,
    actions: tuple[Action, ...] = (),
    *,
    only_attention: bool = False,
    memo: StatusMemo | None = None,
) -> Table:
    """The apps table; `only_attention` keeps the rows that are not synced or not healthy."""
    statuses = app_statuses(desired, actual, consul, actions, memo=memo)
    shown = [s for s in statuses if not s.fine] if only_attention else statuses
    title = f"Apps needing attention ({len(shown)} of {len(statuses)})" if only_attention else "Apps"
    table = Table(title=title, show_lines=False)
    # Names never truncate; on a narrow terminal the hosts column folds instead.
    table.add_column("env", no_wrap=True)
    table.add_column("app", no_wrap=True)
    for column in ("want", "run", "healthy"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("passing", justify="right", no_wrap=True)
    table.add_column("tasks at", overflow="fold", min_width=15)
    with_notes = any(s.note for s in shown)
    if with_notes:  # only when healing has something to say: the column costs width otherwise
        table.add_column("heal", overflow="fold")
    for status in shown:
        table.add_row(*_cells(status), *([f"[bold red]{status.note}[/]" if status.note else ""] if with_notes else []))
    return table


def _cells(status: AppStatus) -> tuple[str, ...]:
    run = len(status.running)
    style = "green" if run == status.want else "yellow"
    passing_style = "green" if status.passing == run else "yellow"
    passing = "?" if status.passing is None else f"[{passing_style}]{status.passing}[/]"
    healthy = "-" if status.healthy is None else str(status.healthy)
    return (status.env, status.name, str(status.want), f"[{style}]{run}[/]", healthy, passing,
            task_addresses(list(status.running)))


def dns_table(desired: Desired, domain: str = DNS_DOMAIN) -> Table:
    """Per environment, the names its containers resolve: its own apps, and its base's it falls back to."""
    table = Table(
        title="DNS",
        caption=f"in environment E, the name `app` is the prepared query {query_name('app', 'E')}: "
        f"{query_name('app', 'E')}.query.{domain} (containers get dns-search E.query.{domain})",
    )
    table.add_column("env", no_wrap=True)
    table.add_column("its own instances")
    table.add_column("from its base")
    for env in sorted(desired.environments.values(), key=lambda e: e.name):
        base = desired.environments.get(env.base) if env.base else None
        fallback = sorted(set(base.apps) - set(env.apps)) if base else []
        table.add_row(env.name, " ".join(sorted(env.apps)), f"{base.name}: {' '.join(fallback)}" if base and fallback
                      else "-")
    return table
