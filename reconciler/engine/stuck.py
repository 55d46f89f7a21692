"""Why apps do not converge (engine layer): the running deployments and Marathon's launch queue.

After a deadline passes, or when an app runs fewer tasks than its instances, `GET /v2/deployments`
says which apps a deployment still changes and `GET /v2/queue` says why their tasks do not start:
the offers Marathon declined and the reason for each (`processedOffersSummary`), or a launch delay
(backoff after failed tasks). Marathon 1.10: src/api/v2/QueueResource.scala, raml/v2/types/queue.raml.
"""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.engine.ports import MarathonPort
from reconciler.errors import RemoteError
from reconciler.marathon.wire import QueueItem


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
