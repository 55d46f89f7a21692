"""Why an app does not converge, from Marathon's launch queue (engine layer, pure part).

Shapes from Marathon 1.10's raml/v2/types/queue.raml (`processedOffersSummary.rejectSummaryLastOffers`
is a funnel: each reason with the offers it declined of those it saw).
"""

from __future__ import annotations

from reconciler.engine.stuck import queue_reason
from reconciler.marathon.wire import QueueItem


def item(**fields: object) -> QueueItem:
    return QueueItem.model_validate({"count": 2, **fields})


def test_declined_offers_are_named_by_reason() -> None:
    summary = {"processedOffersCount": 12, "rejectSummaryLastOffers": [
        {"reason": "UnfulfilledRole", "declined": 0, "processed": 12},
        {"reason": "InsufficientCpus", "declined": 12, "processed": 12},
    ]}
    assert queue_reason(item(processedOffersSummary=summary)) == (
        "2 instances waiting to launch: InsufficientCpus (declined 12 of 12 offers)")


def test_a_launch_delay_is_the_backoff_and_nothing_else_says_no_offer_matched() -> None:
    delayed = item(count=1, delay={"timeLeftSeconds": 42.4, "overdue": False})
    assert queue_reason(delayed) == "1 instance waiting to launch: launch delayed 42s (backoff after failed tasks)"
    assert queue_reason(item(processedOffersSummary={"processedOffersCount": 0})) == (
        "2 instances waiting to launch: no offer matched yet (0 offers seen)")
