"""When the next heal decision falls due (engine layer): the controller cycles again at that moment.

A task turns critical between two cycles; it may be killed only once it has been critical for longer
than its app's grace window (or once the app's backoff ends). Nothing else would wake the controller
then, so each cycle tells it how long to wait.
"""

from __future__ import annotations

from reconciler.core.heal import HealMemory
from reconciler.core.model import Actual, Desired

# A heal needs the grace window strictly passed: cycle just after it, not on it.
DUE_MARGIN_SECONDS = 0.05


def heal_due_in(desired: Desired, actual: Actual, memory: HealMemory, now: float) -> float | None:
    """Seconds until the earliest grace window or backoff of a critical task ends; None: nothing due.

    Only future moments count: a task already overdue but held back by a guard (budget, deployment)
    is looked at again by the next trigger or resync, never in a tight loop.
    """
    app_of_task = {t.task_id: app_id for app_id, app in actual.apps.items() for t in app.tasks}
    due: list[float] = []
    for task_id, since in memory.critical_since.items():
        wanted = desired.apps.get(app_of_task.get(task_id, ""))
        if wanted is None or not wanted.heal.enabled:
            continue
        ends = since + wanted.heal.critical_for_seconds
        recent = memory.heals.get(wanted.app_id, ())
        if recent:
            ends = max(ends, max(recent) + wanted.heal.backoff_seconds)
        if ends > now:  # an overdue task that was not killed waits for a guard, not for the clock
            due.append(ends)
    return min(due) - now + DUE_MARGIN_SECONDS if due else None
