"""The controller's history when the store fails in the middle of a cycle's record (shared by the SQLite and
the PostgreSQL tests): the database refuses the `actions` rows (a trigger, as a disk or a connection lost
between two statements would), so the plan row before them went in alone. A cycle's plan is recorded whole
or not at all, and one that was not waits for the store: the next cycle records it, at its own time, with
its actions; /readyz's reason, /status and the alerts say the store failed meanwhile."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from reconciler.core.model import Action, ActionKind, Outcome
from reconciler.engine.cycle import CycleResult
from reconciler.engine.execute import Execution
from reconciler.engine.reporting import Reporter
from reconciler.engine.telemetry import ControllerMetrics
from reconciler.store import Store, database_url
from tests.unit.engine.test_reporting_status import RUNNING, V1

_SQLITE = ("CREATE TRIGGER refuse_actions BEFORE INSERT ON actions BEGIN SELECT RAISE(ABORT, 'disk gone'); END",)
_POSTGRES = (
    "CREATE FUNCTION refuse_actions() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk gone'; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER refuse_actions BEFORE INSERT ON actions FOR EACH ROW EXECUTE FUNCTION refuse_actions()",
)
_MEND = {"sqlite": ("DROP TRIGGER refuse_actions",),
         "postgresql": ("DROP TRIGGER refuse_actions ON actions", "DROP FUNCTION refuse_actions()")}
CREATED = Action(ActionKind.CREATE, "/shop/web", "not in Marathon", env="shop", outcome=Outcome.SUCCEEDED)


def _ddl(database: str | Path, statements: tuple[str, ...] | None = None, *, mend: bool = False) -> None:
    engine = sa.create_engine(database_url(database))
    try:
        with engine.begin() as conn:
            dialect = conn.dialect.name
            for statement in _MEND[dialect] if mend else (_SQLITE if dialect == "sqlite" else _POSTGRES):
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def a_plan_is_recorded_whole_once_the_store_takes_it(database: str | Path) -> None:
    store = Store.open(database)
    try:
        reporter = Reporter(ControllerMetrics(), store, lambda: {"revision": "rev1", "latest": "rev1"}, lambda: V1)
        _ddl(database)
        reporter.record(CycleResult("c1", "start", execution=Execution((CREATED,)), actual=RUNNING))
        assert [e.kind for e in store.history() if e.kind in ("plan", "action")] == []  # not half of it
        outage = reporter.status()["store_outage"]
        assert outage["since"] and outage["waiting"] >= 1 and "disk gone" in outage["error"], outage
        assert "the history store fails since" in reporter.store_problem
        assert [a.kind for a in reporter.store_alerts()] == ["store-unavailable"]
        _ddl(database, mend=True)
        reporter.record(CycleResult("c2", "resync", actual=RUNNING))
        plans = [e for e in store.history() if e.kind == "plan"]
        assert [(p.data["cycle_id"], p.data["status"]) for p in plans] == [("c1", "applied")]
        assert [(a.kind, a.app, a.outcome) for a in store.actions_of(plans[0].data["id"])] == \
               [("create", "/shop/web", "succeeded")]
        revision = next(e for e in store.history() if e.kind == "revision")
        assert plans[0].at <= revision.at  # the plan at its cycle's time, before the sync c2 recorded
        outage = reporter.status()["store_outage"]
        assert outage["since"] is None and outage["waiting"] == 0 and outage["last"]["recorded_late"] >= 1, outage
        assert reporter.store_problem == "" and reporter.store_alerts() == ()
    finally:
        store.close()
