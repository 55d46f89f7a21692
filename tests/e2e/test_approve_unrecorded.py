"""`approve` whose writes went out to Marathon (the sandbox over loopback HTTP) while the store could not
record their outcome: another process took the SQLite file's write lock right after them. The error says
the writes went out, what came of them and why the store failed; the plan stays approved, and the
controller's cycle of its state marks it applied later."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.model import Actual
from reconciler.core.plan import PlanOptions
from reconciler.engine.approvals import APPLIED, AWAITING, ApprovalGate, record_outcome
from reconciler.engine.approving import approve
from reconciler.engine.execute import ExecuteOptions
from reconciler.marathon import MarathonClient
from reconciler.sandbox.marathon import MarathonSandbox
from reconciler.spec import load_desired
from reconciler.store import Store, StoreError
from reconciler.store.sessions import LOCKED_HINT
from tests.e2e.test_cli_approve import TEST_ENV, doc_spec, marathon_instances
from tests.sandbox.marathon.fixtures import fast_config

pytestmark = pytest.mark.slow


class LockedAfterWrites:
    """The Marathon client of `approve`, through which every call goes; once Marathon answered the writes,
    another connection (as another process would) takes the store file's write lock and keeps it."""

    def __init__(self, marathon: MarathonClient, database: Path) -> None:
        self._marathon, self._database = marathon, database
        self.holder: sqlite3.Connection | None = None

    async def observe(self) -> Actual:
        return await self._marathon.observe()

    async def put_apps(self, bodies: Sequence[Mapping[str, Any]], **options: Any) -> Any:
        answer = await self._marathon.put_apps(bodies, **options)
        if self.holder is None:
            self.holder = sqlite3.connect(self._database, isolation_level=None)
            self.holder.execute("BEGIN IMMEDIATE")
        return answer

    async def get_deployments(self) -> Any:
        return await self._marathon.get_deployments()

    async def get_queue(self) -> Any:
        return await self._marathon.get_queue()


async def test_writes_sent_whose_outcome_the_store_did_not_record_are_an_error_saying_they_went_out(
    tmp_path: Path,
) -> None:
    specs, database = tmp_path / "specs", tmp_path / "history.db"
    specs.mkdir()
    (specs / "prod.yaml").write_text(doc_spec())
    (specs / "test.yaml").write_text(TEST_ENV)
    async with MarathonSandbox(fast_config(keep_event_history=False)) as sandbox, \
            MarathonClient(sandbox.url) as marathon:
        store = Store.open(database)
        try:
            gate = ApprovalGate(store, PlanOptions())
            gate.in_force(load_desired(specs), await marathon.observe())  # as the controller's cycle records it
            [plan] = store.plans_still("prod", AWAITING)
            locking = LockedAfterWrites(marathon, database)
            try:
                with pytest.raises(StoreError) as failed:
                    await approve(store, locking, "prod", plan.id, by="alice@cli",  # type: ignore[arg-type]
                                  execute=ExecuteOptions(wait=True, timeout=60))
            finally:
                if locking.holder is not None:
                    locking.holder.close()
            assert failed.value.message.startswith(
                f"plan {plan.id} of prod was approved and its writes went out (2 of 2 action(s) succeeded), but the"
                f" store did not record their outcome: writing to the store at sqlite:///{database} failed:"
                " OperationalError: database is locked"), failed.value.message
            hint, until = failed.value.hint.rsplit(" (from ", 1)
            assert hint == f"{LOCKED_HINT}; the plan stays approved until a controller's cycle reconciles its state" \
                           " and marks it"
            later = datetime.fromisoformat(until.removesuffix(" on)"))  # approve's deadline and a margin
            assert timedelta(seconds=60) < later - datetime.now(UTC) <= timedelta(seconds=91)
            assert await marathon_instances(sandbox.url) == {"/prod/db": 1, "/prod/web": 2}
            assert store.plan_status(plan.id) == "approved"
            gate = ApprovalGate(store, PlanOptions(), clock=lambda: later)  # a controller's cycle from then on
            in_force = gate.in_force(load_desired(specs), await marathon.observe())
            record_outcome(store, "prod", in_force, APPLIED, "by the controller in cycle c00002")
            assert store.plan_status(plan.id) == APPLIED
        finally:
            store.close()
