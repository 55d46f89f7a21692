"""Reading the store's history back as one time-ordered list (layer 3 adapter, store).

Each table contributes entries with a one-line summary; `--app` keeps the per-app records (actions,
heals, autoscale decisions) of that app, named either `app` or by its Marathon id `/env/app`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlmodel import SQLModel, col, select

from reconciler.store.tables import (
    ActionRecord,
    AppliedRevision,
    ApprovalDecision,
    AutoscaleDecision,
    EnvEvent,
    HealEvent,
    PlanEvent,
    PlanRecord,
)

Fetch = Callable[[Any], list[Any]]


@dataclass(frozen=True)
class HistoryEntry:
    """One line of history: when, what kind of record, where, and a one-line summary."""

    at: datetime
    kind: str  # revision | plan | plan-status | action | heal | approval | autoscale | env-event
    env: str
    app: str
    summary: str
    data: dict[str, Any] = field(default_factory=dict)


def _entry(kind: str, row: SQLModel, env: str, app: str, summary: str) -> HistoryEntry:
    # A plan's `state` is its status now, not a record of then: its later statuses are entries of their own.
    data = row.model_dump(exclude={"state"})
    at = data.pop("at")
    return HistoryEntry(at.replace(tzinfo=UTC), kind, env, app, summary, data)


def _where(statement: Any, table: Any, env: str | None, since: datetime | None) -> Any:
    if env is not None:
        statement = statement.where(table.env == env)
    if since is not None:
        statement = statement.where(col(table.at) >= since)
    return statement


def _app_rows(fetch: Fetch, table: Any, env: str | None, app: str | None, since: datetime | None) -> list[Any]:
    statement = _where(select(table), table, env, since)
    if app is not None:
        statement = statement.where(col(table.app).in_([app, f"/{env}/{app}"]) if env else
                                    (col(table.app) == app) | col(table.app).endswith(f"/{app}"))
    return fetch(statement)


def _env_entries(fetch: Fetch, env: str | None, since: datetime | None) -> list[HistoryEntry]:
    entries = [_entry("revision", r, r.env, "", f"synced to {r.revision} (digest {r.digest})")
               for r in fetch(_where(select(AppliedRevision), AppliedRevision, env, since))]
    entries += [_entry("plan", p, p.env, "", f"plan {p.id} {p.status} (digest {p.digest}, revision {p.revision})")
                for p in fetch(_where(select(PlanRecord), PlanRecord, env, since))]
    entries += [_entry("plan-status", e, plan_env, "", f"plan {e.plan_id} {e.status}"
                       + (f": {e.detail}" if e.detail else "")) for e, plan_env in fetch(_plan_events(env, since))]
    entries += [_entry("approval", a, a.env, "", f"plan {a.plan_id} {a.decision} by {a.by}")
                for a in fetch(_where(select(ApprovalDecision), ApprovalDecision, env, since))]
    entries += [_entry("env-event", e, e.env, "", _env_summary(e))
                for e in fetch(_where(select(EnvEvent), EnvEvent, env, since))]
    return entries


def _plan_events(env: str | None, since: datetime | None) -> Any:
    """The later statuses of `env`'s plans, each with its plan's environment: filtered in the database (a list
    of plan ids bound as parameters stops at PostgreSQL's 65,535 on a big store, and `--since` read it all)."""
    statement = select(PlanEvent, PlanRecord.env).join(PlanRecord, col(PlanRecord.id) == col(PlanEvent.plan_id))
    if env is not None:
        statement = statement.where(PlanRecord.env == env)
    return statement.where(col(PlanEvent.at) >= since) if since is not None else statement


def _env_summary(event: EnvEvent) -> str:
    """`paused at abc123def456 by alice@host: rollback`: what happened to the environment as a whole."""
    text = event.kind + (f" at {event.revision[:12]}" if event.revision else "")
    text += f" by {event.by}" if event.by else ""
    return text + (f": {event.detail}" if event.detail else "")


def collect_history(fetch: Fetch, *, env: str | None, app: str | None, since: datetime | None) -> list[HistoryEntry]:
    """The entries of every table matching the filters, oldest first (ties in table order)."""
    entries = [] if app is not None else _env_entries(fetch, env, since)
    entries += [_entry("action", a, a.env, a.app, f"{a.kind} {a.app} {a.outcome}: {a.reason}")
                for a in _app_rows(fetch, ActionRecord, env, app, since)]
    entries += [_entry("heal", h, h.env, h.app, f"heal {h.app} task {h.task_id} {h.outcome}: {h.reason}")
                for h in _app_rows(fetch, HealEvent, env, app, since)]
    entries += [_entry("autoscale", d, d.env, d.app, f"autoscale {d.app} {d.current}->{d.desired}: {d.reason}"
                       + (f" (limitedBy {d.limited_by})" if d.limited_by else ""))
                for d in _app_rows(fetch, AutoscaleDecision, env, app, since)]
    return sorted(entries, key=lambda e: e.at)
