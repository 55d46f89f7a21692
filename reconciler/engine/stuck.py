"""Whether apps converged after a sync, and why not (engine layer): deployments and the launch queue.

After a deadline passes, or when an app runs fewer tasks than its instances, `GET /v2/deployments`
says which apps a deployment still changes and `GET /v2/queue` says why their tasks do not start:
the offers Marathon declined and the reason for each (`processedOffersSummary`), or a launch delay
(backoff after failed tasks). Marathon 1.10: src/api/v2/QueueResource.scala, raml/v2/types/queue.raml.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from reconciler.core.model import Actual, Desired
from reconciler.engine.execute import Execution
from reconciler.engine.ports import MarathonPort
from reconciler.errors import ReconcilerError, RemoteError
from reconciler.marathon.wire import QueueItem


@dataclass(frozen=True)
class Convergence:
    """After the deployments: desired apps not running their instances (None: not checked), and why
    each app that did not converge is stuck (from the deployments and Marathon's launch queue)."""

    unconverged: list[str] | None = None
    stuck: dict[str, str] = field(default_factory=dict)


async def convergence_of(
    marathon: MarathonPort, desired: Desired, execution: Execution, after: Actual | None
) -> Convergence:
    """`after`: the state observed once the deployments ended (None: not waited for, so not checked)."""
    unconverged = unconverged_apps(desired, after) if after is not None else None
    return Convergence(unconverged, await stuck_of(marathon, execution, unconverged))


def unconverged_apps(desired: Desired, after: Actual) -> list[str]:
    """Desired apps whose running task count differs from their instances after the deployments."""
    problems = []
    for app_id, app in sorted(desired.apps.items()):
        observed = after.apps.get(app_id)
        running = sum(1 for t in observed.tasks if t.state == "TASK_RUNNING") if observed else 0
        if observed is None or running < observed.instances:
            problems.append(f"{app_id} ({running}/{observed.instances if observed else app.instances} running)")
    return problems


async def stuck_of(marathon: MarathonPort, execution: Execution, unconverged: list[str] | None) -> dict[str, str]:
    """Why the apps still deploying at the deadline, or not converged, are stuck."""
    if execution.timed_out:
        running = {a for d in await our_deployments(marathon, execution.deployment_ids) for a in d.affected_apps}
        return await stuck_reasons(marathon, running)
    if unconverged:
        return await stuck_reasons(marathon, (entry.split(" ", 1)[0] for entry in unconverged))
    return {}


async def our_deployments(marathon: MarathonPort, ids: tuple[str, ...]) -> list[Any]:
    """The running deployments among `ids` (none when they cannot be read)."""
    try:
        return [d for d in await marathon.get_deployments() if d.id in ids]
    except ReconcilerError:
        return []


def queue_reason(item: QueueItem) -> str:
    """One line: how many instances wait, and why (declined offers by reason, or the launch delay)."""
    waiting = f"{item.count} instance{'s' if item.count != 1 else ''} waiting to launch"
    summary = item.processed_offers_summary or {}
    declined = [
        f"{entry.get('reason')} (declined {entry.get('declined', 0)} of {entry.get('processed', 0)} offers)"
        for entry in summary.get("rejectSummaryLastOffers") or []
        if isinstance(entry, dict) and entry.get("declined")
    ]
    if declined:
        return f"{waiting}: " + ", ".join(declined)
    if item.delay is not None and not item.delay.overdue and item.delay.time_left_seconds > 0:
        return f"{waiting}: launch delayed {item.delay.time_left_seconds:.0f}s (backoff after failed tasks)"
    offers = summary.get("processedOffersCount")
    return f"{waiting}: no offer matched yet" + (f" ({offers} offers seen)" if offers is not None else "")


async def stuck_reasons(marathon: MarathonPort, app_ids: Iterable[str]) -> dict[str, str]:
    """For each of `app_ids` that does not converge, why; a failed read says so instead of a reason."""
    wanted = set(app_ids)
    try:
        deployments = list(await marathon.get_deployments())
        queue = await marathon.get_queue()
    except RemoteError as exc:
        return dict.fromkeys(sorted(wanted), f"reason unknown: {exc.message}")
    reasons: dict[str, str] = {}
    for deployment in deployments:
        for app_id in set(deployment.affected_apps) & wanted:
            reasons[app_id] = f"deployment {deployment.id} still running"
    for item in queue:
        app_id = item.app.id if item.app is not None else None
        if app_id in wanted:
            reasons[app_id] = "; ".join(filter(None, (reasons.get(app_id), queue_reason(item))))
    for app_id in wanted - set(reasons):
        reasons[app_id] = "tasks started but not running or healthy yet"
    return dict(sorted(reasons.items()))
