"""The status tables (face layer): every desired app with its instances, running, healthy and
Consul-passing tasks, the heal state, and the DNS names each environment resolves."""

from __future__ import annotations

from rich.table import Table

from reconciler.core.model import Action, ActionKind, Actual, ActualTask, Desired, Outcome, TaskState
from reconciler.core.naming import query_name
from reconciler.core.registry import CheckStatus, ConsulObservation

DNS_DOMAIN = "consul"


def consul_passing(app_id: str, consul: ConsulObservation | None) -> int | None:
    """Passing instances of the app in Consul; None when Consul was not (completely) read."""
    if consul is None or not consul.complete:
        return None
    return sum(1 for i in consul.instances_of_app(app_id) if i.status == CheckStatus.PASSING)


def heal_notes(actions: tuple[Action, ...]) -> dict[str, str]:
    """App id -> what healing says about it: crash-looping, or the last heal of this cycle."""
    notes: dict[str, str] = {}
    for action in actions:
        if action.kind == ActionKind.WARN and action.outcome == Outcome.REFUSED and "crash-looping" in action.reason:
            notes[action.target] = "[bold red]crash-looping: healing stopped[/]"
    return notes


def status_table(
    desired: Desired, actual: Actual, consul: ConsulObservation | None = None, actions: tuple[Action, ...] = ()
) -> Table:
    table = Table(title="Apps", show_lines=False)
    # Names never truncate; on a narrow terminal the hosts column folds instead.
    table.add_column("env", no_wrap=True)
    table.add_column("app", no_wrap=True)
    for column in ("want", "run", "healthy"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("passing", justify="right", no_wrap=True)
    table.add_column("tasks at", overflow="fold", min_width=15)
    notes = heal_notes(actions)
    if notes:  # only when healing has something to say: the column costs width otherwise
        table.add_column("heal", overflow="fold")
    for app_id, app in sorted(desired.apps.items()):
        observed = actual.apps.get(app_id)
        tasks = observed.tasks if observed else ()
        running = [t for t in tasks if t.state == TaskState.RUNNING]
        healthy = sum(1 for t in running if t.healthy)
        has_checks = bool(app.definition.get("healthChecks"))
        style = "green" if observed and len(running) == observed.instances else "yellow"
        passing = consul_passing(app_id, consul)
        table.add_row(
            app.env,
            app.name,
            str(observed.instances if observed else app.instances),
            f"[{style}]{len(running)}[/]",
            str(healthy) if has_checks else "-",
            "?" if passing is None else f"[{'green' if passing == len(running) else 'yellow'}]{passing}[/]",
            task_addresses(running),
            *([notes.get(app_id, "")] if notes else []),
        )
    return table


def task_addresses(running: list[ActualTask], shown: int = 3) -> str:
    """The first `shown` task addresses, then how many more there are."""
    addresses = sorted({f"{t.host}:{t.ports[0]}" if t.ports else t.host for t in running})
    more = f" (+{len(addresses) - shown} more)" if len(addresses) > shown else ""
    return " ".join(addresses[:shown]) + more


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


def status_rows(
    desired: Desired, actual: Actual, consul: ConsulObservation | None = None, actions: tuple[Action, ...] = ()
) -> tuple[tuple[str, int, int, int, int | None, str], ...]:
    """A compact fingerprint of the table, to print it again only when something changed."""
    notes = heal_notes(actions)
    rows = []
    for app_id in sorted(desired.apps):
        observed = actual.apps.get(app_id)
        running = [t for t in observed.tasks if t.state == TaskState.RUNNING] if observed else []
        healthy = sum(1 for t in running if t.healthy)
        instances = observed.instances if observed else 0
        rows.append((app_id, instances, len(running), healthy, consul_passing(app_id, consul), notes.get(app_id, "")))
    return tuple(rows)
