"""The status table (face layer): every desired app with its instances, running and healthy tasks."""

from __future__ import annotations

from rich.table import Table

from reconciler.core.model import Actual, Desired, TaskState


def status_table(desired: Desired, actual: Actual) -> Table:
    table = Table(title="Apps", show_lines=False)
    for column in ("environment", "app", "instances", "running", "healthy", "hosts"):
        table.add_column(column)
    for app_id, app in sorted(desired.apps.items()):
        observed = actual.apps.get(app_id)
        tasks = observed.tasks if observed else ()
        running = [t for t in tasks if t.state == TaskState.RUNNING]
        healthy = sum(1 for t in running if t.healthy)
        has_checks = bool(app.definition.get("healthChecks"))
        style = "green" if observed and len(running) == observed.instances else "yellow"
        table.add_row(
            app.env,
            app.name,
            str(observed.instances if observed else app.instances),
            f"[{style}]{len(running)}[/]",
            str(healthy) if has_checks else "-",
            ", ".join(sorted({f"{t.host}:{t.ports[0]}" if t.ports else t.host for t in running})[:3]),
        )
    return table


def status_rows(desired: Desired, actual: Actual) -> tuple[tuple[str, int, int], ...]:
    """A compact fingerprint of the table, to print it again only when something changed."""
    rows = []
    for app_id in sorted(desired.apps):
        observed = actual.apps.get(app_id)
        running = sum(1 for t in observed.tasks if t.state == TaskState.RUNNING) if observed else 0
        rows.append((app_id, observed.instances if observed else 0, running))
    return tuple(rows)
