"""Settling writes of unknown outcome from a fresh plan (pure core)."""

from __future__ import annotations

from dataclasses import replace

from reconciler.core.model import Action, ActionKind, Outcome, Plan
from reconciler.core.outcomes import LANDED, NOT_SEEN, settle_unknown


def act(kind: ActionKind, target: str, outcome: Outcome = Outcome.UNKNOWN) -> Action:
    return Action(kind=kind, target=target, reason="r", outcome=outcome, detail="connection dropped")


def test_a_write_the_fresh_plan_no_longer_needs_landed_and_one_it_needs_stays_unknown() -> None:
    landed, lost = act(ActionKind.CREATE, "/e/a"), act(ActionKind.DELETE, "/e/b")
    failed = act(ActionKind.UPDATE, "/e/c", Outcome.FAILED)
    fresh = Plan(actions=(act(ActionKind.DELETE, "/e/b", Outcome.PLANNED), act(ActionKind.UPDATE, "/e/c",
                                                                                Outcome.PLANNED)))
    settled = settle_unknown((landed, lost, failed), fresh)
    assert settled[0] == replace(landed, outcome=Outcome.SUCCEEDED, detail=LANDED)
    assert settled[1].outcome == Outcome.UNKNOWN and settled[1].detail == f"connection dropped; {NOT_SEEN}"
    assert settled[2] == failed  # only unknown outcomes are settled


def test_a_create_that_landed_but_still_needs_a_scale_is_not_claimed_as_landed() -> None:
    create = act(ActionKind.CREATE, "/e/a")
    fresh = Plan(actions=(act(ActionKind.SCALE, "/e/a", Outcome.PLANNED),))
    assert settle_unknown((create,), fresh)[0].outcome == Outcome.UNKNOWN
    query = act(ActionKind.QUERY_CREATE, "a.e")
    update = Plan(actions=(act(ActionKind.QUERY_UPDATE, "a.e", Outcome.PLANNED),))
    assert settle_unknown((query,), update)[0].outcome == Outcome.UNKNOWN
    assert settle_unknown((query,), Plan())[0].outcome == Outcome.SUCCEEDED


def test_a_kill_the_fresh_plan_holds_back_did_not_land() -> None:
    """The fresh plan still kills the task, but the heal just recorded holds it (backoff): not landed."""
    kill = act(ActionKind.KILL_TASK, "e_a.t1")
    held = Plan(actions=(act(ActionKind.KILL_TASK, "e_a.t1", Outcome.REFUSED),))
    assert settle_unknown((kill,), held)[0].outcome == Outcome.UNKNOWN
    assert settle_unknown((kill,), Plan())[0].outcome == Outcome.SUCCEEDED  # its task no longer runs critical
