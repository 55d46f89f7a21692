"""When the controller cycles again for a heal (engine/healing.py): after the grace window, and after
the backoff of the app's latest heal, never of its oldest (a plausible bug no other test catches)."""

from __future__ import annotations

from reconciler.core.heal import HealMemory
from reconciler.engine.healing import heal_due_in
from tests.unit.core.test_planted_bugs import NOW, one_critical_task


def test_the_heal_timer_waits_for_the_backoff_of_the_latest_heal() -> None:
    desired, actual, _ = one_critical_task()
    memory = HealMemory(critical_since={"integration_api.t1": NOW - 100},
                        heals={"/integration/api": (NOW - 3000, NOW - 10)})
    due = heal_due_in(desired, actual, memory, NOW)
    assert due is not None and 50 <= due <= 51  # latest heal + 60 s, not the oldest (long past)
