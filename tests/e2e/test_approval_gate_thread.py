"""The controller's approval gate runs in the sync's worker thread, beside the event loop (engine/sync.py):
its store reads and its review (a plan of the environment, seconds of CPU at 10,000 apps) no longer hold
back what the loop runs meanwhile (the leader's lock beats, the HTTP API). The interleaving is made, not
timed: the gate's first store read waits until the test, on the loop, has run and lets it go on."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from pathlib import Path

import pytest

from reconciler.core.plan import PlanOptions
from reconciler.engine.approvals import AWAITING, ApprovalGate
from reconciler.engine.cycle import Reconciler
from reconciler.marathon import MarathonClient
from reconciler.sandbox.marathon import MarathonSandbox
from reconciler.spec import load_desired
from reconciler.store import Store
from reconciler.store.tables import EnvEvent
from tests.e2e.test_cli_approve import TEST_ENV, doc_spec, marathon_instances
from tests.sandbox.marathon.fixtures import fast_config, until

pytestmark = pytest.mark.slow
# How long the held read waits for the test: only a gate that blocks the loop ever waits this out.
HOLD_DEADLINE_S = 30.0


class HeldStore(Store):
    """A store whose first read of an approved state waits for `release` (from the loop's side)."""

    def hold(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()
        self.loop_thread = threading.get_ident()
        self.read_from: int | None = None
        self.waited_out = False

    def last_env_event(self, env: str, kinds: Iterable[str]) -> EnvEvent | None:
        if not self.entered.is_set():
            self.read_from = threading.get_ident()
            self.entered.set()
            self.waited_out = not self.release.wait(HOLD_DEADLINE_S)
        return super().last_env_event(env, kinds)


async def test_the_event_loop_runs_while_the_controllers_approval_gate_reads_and_reviews(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "prod.yaml").write_text(doc_spec())
    (specs / "test.yaml").write_text(TEST_ENV)
    store = HeldStore.open(tmp_path / "history.db")
    try:
        store.hold()
        gate = ApprovalGate(store, PlanOptions())
        async with MarathonSandbox(fast_config(keep_event_history=False)) as sandbox, \
                MarathonClient(sandbox.url) as marathon:
            reconciler = Reconciler(lambda: load_desired(specs), marathon, None,
                                    in_force=lambda desired, seen: gate.in_force(desired, seen.actual, "c00001"))
            cycle = asyncio.create_task(reconciler.cycle())
            await until(store.entered.is_set, "the gate at its first store read", 60)
            assert not store.waited_out, "the gate's store read held the event loop until its wait gave up"
            # The loop serves the sandbox's HTTP (and this test) while the gate's read waits.
            assert await marathon_instances(sandbox.url) == {} and not cycle.done()
            store.release.set()
            result = await asyncio.wait_for(cycle, 60)
        assert result.error is None and store.read_from != store.loop_thread
        assert [a.target for a in result.plan.pending] == ["/test/web"]  # prod waits for its first approval
        [plan] = store.plans_still("prod", AWAITING)  # recorded from the gate's thread
        assert [(a.kind, a.app) for a in store.actions_of(plan.id)] == [("create", "/prod/db"), ("create", "/prod/web")]
    finally:
        store.close()
