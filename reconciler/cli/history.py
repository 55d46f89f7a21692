"""`reconciler history` (face layer): what the controller recorded in its store, oldest first.

Reads the database `reconciler run` writes (the same default file), filtered by environment, app and
age; one greppable line per event, or `{"events": [...]}` with `-o json`. Reading never creates a
database: a missing file is an error naming it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from reconciler.cli.output import console, use_json_output
from reconciler.cli.plan_opts import OutputOpt
from reconciler.cli.store_opts import DatabaseOpt
from reconciler.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from reconciler.store import HistoryEntry

EnvFilterOpt = Annotated[str | None, typer.Option("--env", help="Only this environment's events.")]
AppFilterOpt = Annotated[str | None, typer.Option("--app", help="Only this app's events (name or /env/app).")]
SinceOpt = Annotated[str | None, typer.Option("--since", help="Only events this recent: 30s, 10m, 1h, 1h30m.")]


def register(app: typer.Typer) -> None:
    app.command("history")(history_command)


def history_command(
    database: DatabaseOpt = None,
    env: EnvFilterOpt = None,
    app: AppFilterOpt = None,
    since: SinceOpt = None,
    output: OutputOpt = "text",
) -> None:
    """Show the history the controller recorded: revisions, plans, actions, heals, approvals, autoscaling."""
    if output not in ("text", "json"):
        raise UsageError(f"--output: unknown format {output!r}", hint="use text or json")
    use_json_output(output == "json")
    cutoff = datetime.now(UTC) - timedelta(seconds=since_seconds(since)) if since is not None else None
    from reconciler.store import Store  # SQLModel and SQLAlchemy: imported when the command runs, not for --help

    store = Store.open_for_reading(database)
    try:
        entries = store.history(env=env, app=app, since=cutoff)
        if env is not None and not entries:
            known_env(env, store.environments())
    finally:
        store.close()
    if output == "json":
        console.print_json(json.dumps({"events": [event_document(e) for e in entries]}))
    else:
        for entry in entries:
            console.print(event_line(entry), markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(ExitCode.OK)


def known_env(env: str, known: list[str]) -> None:
    """A UsageError for an --env the store has never heard of (a typo would print nothing, as a quiet env does)."""
    if env not in known:
        raise UsageError(f"--env: no environment {env!r} in the store",
                         hint=f"the environments are: {', '.join(known) or 'none recorded yet'}")


def since_seconds(since: str, flag: str = "--since") -> float:
    """Seconds of a `--since` (or `flag`) duration (the spec files' syntax); a usage error naming the flag."""
    from reconciler.core.durations import MAX_SECONDS, duration_seconds

    seconds = duration_seconds(since)
    if seconds is None:
        raise UsageError(f"{flag}: {since!r} is not a duration", hint="write a duration like 30s, 10m, 1h or 1h30m")
    if seconds <= 0:
        raise UsageError(f"{flag}: {since!r} is not a positive duration", hint="write a duration like 30s, 10m or 1h")
    if seconds > MAX_SECONDS:  # a date that far back does not exist (Python's datetime starts at year 1)
        raise UsageError(f"{flag}: {since!r} is longer than {MAX_SECONDS} seconds (68 years)",
                         hint="leave it out to see every event")
    return seconds


def _when(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_line(entry: HistoryEntry) -> str:
    """`AT KIND env=ENV app=APP SUMMARY`: every field on the line, so grep finds an event by any of them."""
    return f"{_when(entry.at)} {entry.kind} env={entry.env or '-'} app={entry.app or '-'} {entry.summary}"


def event_document(entry: HistoryEntry) -> dict[str, Any]:
    """One event of `-o json`; `record` is the stored row (its keys depend on `kind`, see docs/controller.md)."""
    return {"at": _when(entry.at), "kind": entry.kind, "env": entry.env, "app": entry.app,
            "summary": entry.summary, "record": dict(entry.data)}
