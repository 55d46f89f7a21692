"""The status tables (face layer): every desired app with its instances, running, healthy and
Consul-passing tasks, the heal state, and the DNS names each environment resolves."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class AppStatus:
    """One row of the status table."""

    app_id: str
    env: str
    name: str
    want: int
    running: tuple[ActualTask, ...]
    healthy: int | None  # None: the app has no Marathon health check
    passing: int | None  # None: Consul was not (completely) read
    note: str
    synced: bool  # in Marathon with the desired count, and nothing of this cycle's plan targets it

    @property
    def fine(self) -> bool:
        counts = (self.healthy, self.passing)
        return self.synced and not self.note and all(n is None or n >= len(self.running) for n in counts)


@dataclass(frozen=True)
class StatusSummary:
    apps: int
    attention: tuple[str, ...]  # app ids not healthy or not synced

    def line(self) -> str:
        return f"{self.apps} apps: {self.apps - len(self.attention)} synced and healthy, {len(self.attention)} not"


def app_statuses(
    desired: Desired, actual: Actual, consul: ConsulObservation | None = None, actions: tuple[Action, ...] = ()
) -> list[AppStatus]:
    """Every desired app's status, sorted by app id: one pass over apps, tasks and instances."""
    notes = heal_notes(actions)
    targeted = {a.target for a in actions if a.outcome == Outcome.PLANNED and a.kind != ActionKind.WARN}
    statuses = []
    for app_id, app in sorted(desired.apps.items()):
        observed = actual.apps.get(app_id)
        running = tuple(t for t in (observed.tasks if observed else ()) if t.state == TaskState.RUNNING)
        has_checks = bool(app.definition.get("healthChecks"))
        synced = observed is not None and len(running) == observed.instances and app_id not in targeted
        statuses.append(AppStatus(
            app_id, app.env, app.name, observed.instances if observed else app.instances, running,
            sum(1 for t in running if t.healthy) if has_checks else None, consul_passing(app_id, consul),
            notes.get(app_id, ""), synced,
        ))
    return statuses


def status_summary(
    desired: Desired, actual: Actual, consul: ConsulObservation | None = None, actions: tuple[Action, ...] = ()
) -> StatusSummary:
    statuses = app_statuses(desired, actual, consul, actions)
    return StatusSummary(len(statuses), tuple(s.app_id for s in statuses if not s.fine))


def status_table(
    desired: Desired,
    actual: Actual,
    consul: ConsulObservation | None = None,
    actions: tuple[Action, ...] = (),
    *,
    only_attention: bool = False,
) -> Table:
    """The apps table; `only_attention` keeps the rows that are not synced or not healthy."""
    statuses = app_statuses(desired, actual, consul, actions)
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
        table.add_row(*_cells(status), *([status.note] if with_notes else []))
    return table


def _cells(status: AppStatus) -> tuple[str, ...]:
    run = len(status.running)
    style = "green" if run == status.want else "yellow"
    passing_style = "green" if status.passing == run else "yellow"
    passing = "?" if status.passing is None else f"[{passing_style}]{status.passing}[/]"
    healthy = "-" if status.healthy is None else str(status.healthy)
    return (status.env, status.name, str(status.want), f"[{style}]{run}[/]", healthy, passing,
            task_addresses(list(status.running)))


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
    return tuple(
        (s.app_id, s.want, len(s.running), s.healthy or 0, s.passing, s.note)
        for s in app_statuses(desired, actual, consul, actions)
    )
