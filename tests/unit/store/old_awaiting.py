"""Stores written before a plan awaiting approval was recorded under the environment's lock: two plans of
one environment may both await approval (one plan recorded twice, or an older one a newer one never
superseded). The rows are written straight into the store's tables, as that reconciler left them; then the
approval gate holds a plan, or `approve` replaces one. Shared by the SQLite and the PostgreSQL tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from reconciler.core.approvals import Review, review
from reconciler.core.plan import PlanOptions
from reconciler.engine.approvals import AWAITING, ApprovalGate, Pending
from reconciler.store import Store, database_url
from reconciler.store.tables import PlanRecord
from tests.unit.core.planner_builders import EMPTY, desired_app, desired_of
from tests.unit.store.clocked import T0

ENV = "prod"
NEW = "new1"  # the id the gate gives a plan it records


@dataclass(frozen=True)
class OldData:
    """Plans awaiting approval as an old reconciler left them, oldest first: (id, the version its digest is
    of); the gate holds the plan of version `hold` (`approve` replaces plan `replacing` by it). Afterwards
    `awaits` (recorded just now: NEW) is the one plan awaiting, and each plan of `superseded` was superseded
    by it."""

    awaiting: Sequence[tuple[str, str]]
    hold: str
    awaits: str
    superseded: Sequence[str]
    replacing: str = ""


OLD_DATA = [
    # approve replacing p1 by the plan p2 already is: p2 is the one waiting, and p1 no longer waits beside it
    pytest.param(OldData([("p1", "1.0"), ("p2", "2.0")], "2.0", "p2", ["p1"], replacing="p1"), id="replace-older"),
    pytest.param(OldData([("p1", "1.0"), ("p2", "2.0")], "1.0", "p1", ["p2"], replacing="p2"), id="replace-newer"),
    # a controller's cycle holding the plan one of two waiting is
    pytest.param(OldData([("p1", "1.0"), ("p2", "2.0")], "2.0", "p2", ["p1"]), id="hold-newer"),
    pytest.param(OldData([("p1", "1.0"), ("p2", "2.0")], "1.0", "p1", ["p2"]), id="hold-older"),
    # one plan recorded twice by two reconcilers at once: the newer record is the one waiting
    pytest.param(OldData([("p1", "1.0"), ("p2", "1.0")], "1.0", "p2", ["p1"]), id="hold-twice-recorded"),
    pytest.param(OldData([("p1", "1.0"), ("p2", "2.0")], "3.0", NEW, ["p1", "p2"]), id="hold-another"),
]


def reviewed(tag: str) -> Review:
    """The plan that creates ENV's app at version `tag`."""
    return review(desired_of(desired_app("web", ENV, 2, cmd=f"web {tag}")), None, EMPTY, PlanOptions(), ENV)


def write_awaiting(database: str | Path, awaiting: Sequence[tuple[str, str]]) -> None:
    """The plans, each still awaiting approval (its recorded status and its state), a second apart."""
    engine = sa.create_engine(database_url(database))
    try:
        with Session(engine) as session:
            session.add_all([PlanRecord(id=plan_id, env=ENV, revision=f"r-{plan_id}", digest=reviewed(tag).digest,
                                        status=AWAITING, state=AWAITING, at=T0 + timedelta(seconds=n))
                             for n, (plan_id, tag) in enumerate(awaiting)])
            session.commit()
    finally:
        engine.dispose()


def one_awaits_on_old_data(database: str | Path, case: OldData) -> None:
    Store.open(database).close()  # the schema, at its latest version
    write_awaiting(database, case.awaiting)
    store = Store.open(database)
    try:
        gate = ApprovalGate(store, PlanOptions(), new_id=lambda: NEW)
        fresh = reviewed(case.hold)
        found = gate.replace_plan(case.replacing, fresh, "r9") if case.replacing else gate.hold(fresh, "r9")
        assert isinstance(found, Pending) and (found.plan_id, found.recorded) == (case.awaits, case.awaits == NEW)
        assert [p.id for p in store.plans_still(ENV, AWAITING)] == [case.awaits]
        revision = "r9" if case.awaits == NEW else f"r-{case.awaits}"
        assert _superseded(store) == {p: f"by plan {case.awaits} (revision {revision})" for p in case.superseded}
        assert gate.hold(fresh, "r9") == replace(found, recorded=False)  # the next cycle finds it
    finally:
        store.close()


def _superseded(store: Store) -> Mapping[str, str]:
    """Each plan superseded, with the detail it was given."""
    return {e.data["plan_id"]: e.data["detail"] for e in store.history(env=ENV)
            if e.kind == "plan-status" and e.data["status"] == "superseded"}
