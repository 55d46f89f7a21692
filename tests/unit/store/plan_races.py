"""Reconcilers racing over one database (a SQLite file or a PostgreSQL URL), released together by a
barrier: deciding one plan, or recording the plan that awaits approval. Each contender has a store of its
own (as two processes do), or all share one store from their threads (as the controller's event loop and
its worker thread do). Shared by the SQLite and the PostgreSQL tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from reconciler.core.approvals import Review, review
from reconciler.core.plan import PlanOptions
from reconciler.engine.approvals import AWAITING, ApprovalGate, Pending
from reconciler.store import PlanMove, Store
from reconciler.store.tables import PlanRecord
from tests.unit.core.planner_builders import EMPTY, desired_app, desired_of

T = TypeVar("T")
Contender = Callable[[Store], T]
JOIN_DEADLINE_S = 60.0


def race(database: str | Path, contenders: Sequence[Contender[T]], *, shared: bool = False) -> list[T]:
    """What each contender gave, in their order; every one started at once, each on a store of its own
    (`shared`: all on one store, from their own threads)."""
    stores = [Store.open(database)] if shared else [Store.open(database) for _ in contenders]
    barrier = threading.Barrier(len(contenders))
    results: list[tuple[T] | BaseException | None] = [None] * len(contenders)

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=JOIN_DEADLINE_S)
            results[index] = (contenders[index](stores[0 if shared else index]),)
        except BaseException as exc:  # collected and raised below, in the test's thread
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(contenders))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=JOIN_DEADLINE_S)
    finally:
        for store in stores:
            store.close()
    assert not any(t.is_alive() for t in threads), "a contender never finished"
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [r[0] for r in results if isinstance(r, tuple)]


def statuses(store: Store, env: str, plan_id: str) -> list[str]:
    """Every status plan `plan_id` was given, oldest first (the one it was recorded with, then its events)."""
    keys = {"plan": "id", "plan-status": "plan_id"}
    return [e.data["status"] for e in store.history(env=env) if e.kind in keys and e.data[keys[e.kind]] == plan_id]


def one_mark_wins(database: str | Path, rounds: int) -> None:
    """An approved plan marked at once applied (`approve --force`), failed (the controller) and superseded (a
    later approval's cycle): one mark is recorded, and the others are told that one, `rounds` times."""
    wanted = ("applied", "failed", "superseded")
    for round_ in range(rounds):
        plan_id = f"p{round_}"
        store = Store.open(database)
        try:
            store.record_plan(plan_id, "prod", "r1", "d1", "approved")
            moves = race(database, [_marking(plan_id, status) for status in wanted])
            marked = statuses(store, "prod", plan_id)
        finally:
            store.close()
        [won] = [m for m in moves if m.moved]
        assert marked == ["approved", won.state], marked
        lost = [m for m in moves if not m.moved]
        assert lost == [PlanMove(False, won.state, f"by {won.state}")] * 2, moves


def one_approval_wins(database: str | Path, contenders: int) -> None:
    """A plan awaiting approval approved by `contenders` at once: one approval, one approved state (the
    environment event) and one status are recorded; the others record nothing and are told who approved."""
    store = Store.open(database)
    try:
        plan = store.record_plan("p1", "prod", "r1", "d1", "awaiting-approval")
        moves = race(database, [_approving(plan, f"user{n}@host") for n in range(contenders)])
        [won] = [m for m in moves if m.moved]
        assert [m for m in moves if not m.moved] == [PlanMove(False, "approved", won.detail)] * (contenders - 1)
        assert statuses(store, "prod", "p1") == ["awaiting-approval", "approved"]
        history = store.history(env="prod")
        assert [e.data["by"] for e in history if e.kind == "approval"] == [won.detail.removeprefix("by ")]
        assert [e.data["by"] for e in history if e.kind == "env-event"] == [won.detail.removeprefix("by ")], history
    finally:
        store.close()


def _marking(plan_id: str, status: str) -> Contender[PlanMove]:
    return lambda store: store.move_plan(plan_id, "approved", status, detail=f"by {status}")


def _approving(plan: PlanRecord, by: str) -> Contender[PlanMove]:
    return lambda store: store.approve_plan(plan, "awaiting-approval", "approved", by=by, event="approved",
                                            detail=f"by {by}")


def _reviewed(env: str, tag: str) -> Review:
    """The plan that creates `env`'s app at version `tag`, as a controller cycle reviews it."""
    return review(desired_of(desired_app("web", env, 2, cmd=f"web {tag}")), None, EMPTY, PlanOptions(), env)


def _holding(reviewed: Review) -> Contender[Pending]:
    return lambda store: ApprovalGate(store, PlanOptions()).hold(reviewed, "r1", "c00001")


def _replacing(plan_id: str, reviewed: Review) -> Contender[Pending | PlanMove]:
    return lambda store: ApprovalGate(store, PlanOptions()).replace_plan(plan_id, reviewed, "r1")


def one_plan_awaits(database: str | Path, rounds: int, *, shared: bool = False) -> None:
    """Three reconcilers (controllers, `apply`, `approve`) recording one plan at once, `rounds` times: it is
    recorded once, the two others find it waiting (recorded=False); and of two different plans recorded at
    once, one awaits approval and the other is superseded by it."""
    for round_ in range(rounds):
        env = f"prod{round_}"
        held = race(database, [_holding(_reviewed(env, "1.0"))] * 3, shared=shared)
        assert sorted(p.recorded for p in held) == [False, False, True], [(p.plan_id, p.recorded) for p in held]
        assert len({p.plan_id for p in held}) == 1, held
        two = race(database, [_holding(_reviewed(env, "2.0")), _holding(_reviewed(env, "3.0"))], shared=shared)
        store = Store.open(database)
        try:
            [waiting] = store.plans_still(env, AWAITING)
            assert all(p.recorded for p in two) and waiting.id in {p.plan_id for p in two}, two
            others = [p for p in (*held[:1], *two) if p.plan_id != waiting.id]
            assert [store.plan_status(p.plan_id) for p in others] == ["superseded"] * 2, others
        finally:
            store.close()


def approve_beside_the_gate(database: str | Path, rounds: int) -> None:
    """`approve` replacing plan p1 (Marathon changed since it was made) and a controller's gate recording the
    same plan from the same state at once, `rounds` times: the plan is recorded once. approve either
    recorded it, or finds p1 superseded by the gate's and names that plan; the gate finds approve's."""
    for round_ in range(rounds):
        env = f"prod{round_}"
        store = Store.open(database)
        try:
            first = _holding(_reviewed(env, "1.0"))(store)
            fresh = _reviewed(env, "2.0")
            gate, approving = race(database, [_holding(fresh), _replacing(first.plan_id, fresh)])
            [waiting] = store.plans_still(env, AWAITING)
            assert waiting.digest == fresh.digest and gate.plan_id == waiting.id, (gate, waiting)
            assert approving in (replace(gate, recorded=not gate.recorded),
                                 PlanMove(False, "superseded", f"by plan {waiting.id} (revision r1)")), approving
            assert store.plan_status(first.plan_id) == "superseded"
        finally:
            store.close()
