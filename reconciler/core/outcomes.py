"""Settling writes of unknown outcome (pure core): did a write whose answer was lost land?

A write whose connection dropped after it was sent comes back UNKNOWN. The engine then observes both
systems again and plans afresh; a write that the fresh plan no longer needs has landed (SUCCEEDED),
one that it still needs stays UNKNOWN (it may still land: the next plan decides, never a blind retry).
"""

from __future__ import annotations

from dataclasses import replace

from reconciler.core.model import Action, ActionKind, Outcome, Plan

# Kinds that answer for one another: a create that landed may be planned next as an update or a scale.
_FAMILIES = {
    ActionKind.CREATE: "write",
    ActionKind.UPDATE: "write",
    ActionKind.SCALE: "write",
    ActionKind.QUERY_CREATE: "query-write",
    ActionKind.QUERY_UPDATE: "query-write",
}

LANDED = "the connection dropped after sending; a fresh observation shows it landed"
NOT_SEEN = "a fresh observation does not show it (yet): it may still land; the next plan decides"


def family_of(action: Action) -> tuple[str, str]:
    return _FAMILIES.get(action.kind, str(action.kind)), action.target


def settle_unknown(actions: tuple[Action, ...], fresh: Plan) -> tuple[Action, ...]:
    """`actions` with each UNKNOWN outcome decided by `fresh`, the plan made from a new observation.

    A kill the fresh plan holds back (refused) is still needed all the same: its task still runs and is
    still critical, and the heal just recorded is what holds it (backoff), not the kill having landed."""
    still_needed = {family_of(a) for a in fresh.pending}
    still_needed.update(family_of(a) for a in fresh.refused if a.kind == ActionKind.KILL_TASK)
    settled = []
    for action in actions:
        if action.outcome != Outcome.UNKNOWN:
            settled.append(action)
        elif family_of(action) in still_needed:
            settled.append(replace(action, detail=f"{action.detail}; {NOT_SEEN}"))
        else:
            settled.append(replace(action, outcome=Outcome.SUCCEEDED, detail=LANDED))
    return tuple(settled)
