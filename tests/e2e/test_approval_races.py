"""Two reconcilers deciding one approved plan at once (engine + two stores on one SQLite file, the Marathon
sandbox over loopback HTTP): `approve --force` beside a live controller, and two `approve`s of one plan.
Each of a plan's statuses is a compare-and-set in the store: one of them records it, the other finds it
recorded and says so (docs/approvals.md). The interleavings are made, not waited for: the approved plan's
deployments wait for an agent that the test adds once the controller has had its say."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.core.model import Actual
from reconciler.core.plan import PlanOptions, build_plan
from reconciler.engine.approvals import APPLIED, AWAITING, FAILED, ApprovalGate, record_outcome
from reconciler.engine.approving import Approval, NotPending, approve
from reconciler.engine.execute import ExecuteOptions
from reconciler.marathon import MarathonClient
from reconciler.sandbox.marathon import MarathonSandbox
from reconciler.spec import load_desired
from reconciler.store import PlanMove, Store
from tests.e2e.cli import run_cli
from tests.e2e.test_cli_approve import DOC, TEST_ENV, doc_spec, marathon_instances
from tests.sandbox.marathon.fixtures import fast_config, until

pytestmark = pytest.mark.slow
CREATED = {"/prod/db": 1, "/prod/web": 2}
BY_CONTROLLER = "by the controller in cycle c00007: 2 action(s) succeeded"


def past_the_deadline_of_approve() -> datetime:
    """A controller's clock once the time an `approve` sending its writes itself gave passed (its --deadline,
    at most 300 s, and a margin): it reconciles the approved state again, as after an `approve` killed midway."""
    return datetime.now(UTC) + timedelta(seconds=400)


def doc_line(start: str) -> str:
    """The line of docs/approvals.md that starts with `start`."""
    [line] = [line for line in DOC.read_text().splitlines() if line.startswith(start)]
    return line


@dataclass
class Stage:
    """The specs, a Marathon sandbox, and two reconcilers' stores on one database: `cli` and `controller`."""

    specs: Path
    sandbox: MarathonSandbox
    marathon: MarathonClient
    cli: Store
    controller: Store

    def statuses(self, plan_id: str) -> list[str]:
        """Every status `plan_id` was given, oldest first (the one it was recorded with, then its events)."""
        keys = {"plan": "id", "plan-status": "plan_id"}
        return [e.data["status"] for e in self.cli.history(env="prod") if e.kind in keys and
                e.data[keys[e.kind]] == plan_id]

    async def pending(self) -> str:
        """The plan of prod awaiting approval, recorded as the controller's cycle records it."""
        ApprovalGate(self.controller, PlanOptions()).in_force(load_desired(self.specs), await self.marathon.observe())
        [plan] = self.cli.plans_still("prod", AWAITING)
        return plan.id

    def approving(self, store: Store, plan_id: str, by: str) -> asyncio.Task[Approval]:
        return asyncio.create_task(approve(store, self.marathon, "prod", plan_id, by=by,
                                           execute=ExecuteOptions(wait=True, timeout=60)))


class LateRead:
    """The Marathon client of a reconciler whose next observation waits for `go`: its read made to follow
    another reconciler's writes. Only `observe` is reached (the reconciler it serves sends nothing)."""

    def __init__(self, marathon: MarathonClient) -> None:
        self._marathon = marathon
        self.reading = asyncio.Event()
        self.go = asyncio.Event()

    async def observe(self) -> Actual:
        self.reading.set()
        await self.go.wait()
        return await self._marathon.observe()


@contextlib.contextmanager
def two_stores(db: Path) -> Iterator[tuple[Store, Store]]:
    first = Store.open(db)
    try:
        second = Store.open(db)
        try:
            yield first, second
        finally:
            second.close()
    finally:
        first.close()


@contextlib.asynccontextmanager
async def stage(tmp_path: Path, *, agents: int) -> AsyncIterator[Stage]:
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "prod.yaml").write_text(doc_spec())
    (specs / "test.yaml").write_text(TEST_ENV)
    async with MarathonSandbox(fast_config(agents=agents, keep_event_history=False)) as sandbox, \
            MarathonClient(sandbox.url) as marathon:
        with two_stores(tmp_path / "history.db") as (cli, controller):
            yield Stage(specs, sandbox, marathon, cli, controller)


async def test_the_controller_marking_a_forced_approval_first_keeps_its_word_and_approve_says_so(
    tmp_path: Path,
) -> None:
    """`approve --force` sends the writes itself; the controller, running the approved state meanwhile,
    marks the plan applied while those writes still wait for their deployments. approve's own mark then
    finds the plan applied: it records nothing and reports what it found."""
    async with stage(tmp_path, agents=0) as running:
        plan_id = await running.pending()
        approving = running.approving(running.cli, plan_id, "alice@cli")

        async def created() -> bool:
            return await marathon_instances(running.sandbox.url) == CREATED

        await until(created, "approve's writes in Marathon (their deployments wait for an agent)", 30)
        assert not approving.done()
        controller = ApprovalGate(running.controller, PlanOptions(), clock=past_the_deadline_of_approve)
        in_force = controller.in_force(load_desired(running.specs), await running.marathon.observe())
        record_outcome(running.controller, "prod", in_force, APPLIED, BY_CONTROLLER)
        running.sandbox.add_agent()
        done = await asyncio.wait_for(approving, 60)
        assert running.statuses(plan_id) == [AWAITING, "approved", APPLIED]
        assert not done.failed and done.marked_by_other == PlanMove(False, APPLIED, BY_CONTROLLER)


async def test_the_controller_leaves_the_environment_to_an_approve_sending_its_writes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    """`approve` without a live controller found (`--no-consul`, a controller without election) sends the
    writes itself. A controller cycle on the same store that observed Marathon before those writes and reads
    the approval after it was recorded would send the approved state again: it leaves prod alone instead
    (no write, no mark) until approve marks the plan, or until the time approve gave passed."""
    async with stage(tmp_path, agents=0) as running:
        plan_id = await running.pending()
        specs = load_desired(running.specs)
        before = await running.marathon.observe()  # the cycle's observation: from before approve's writes
        approving = running.approving(running.cli, plan_id, "alice@cli")

        async def approved() -> list[tuple[object, str]]:
            return [(p.id, s) for p, s in running.controller.plans_now("prod", AWAITING, ("approved",))]

        assert await until(approved, "the plan approved, its writes going out", 30) == [(plan_id, "approved")]
        controller = ApprovalGate(running.controller, PlanOptions())
        with caplog.at_level(logging.WARNING, logger="reconciler.approvals"):
            in_force = controller.in_force(specs, before)
        assert "prod" not in in_force.environments, in_force.environments
        [logged] = [r.getMessage() for r in caplog.records if "approval-applied-elsewhere" in r.getMessage()]
        shown = doc_line("event=approval-applied-elsewhere")  # docs/approvals.md's example
        assert logged.split(" until=")[0] == shown.replace("5b0d7e21", plan_id).replace(
            "alice@laptop", "alice@cli").split(" until=")[0]
        until_ = datetime.fromisoformat(logged.split(" until=")[1]) - datetime.now(UTC)
        assert timedelta(seconds=60) < until_ <= timedelta(seconds=91)  # approve's deadline (60 s) and the margin
        assert [a.target for a in build_plan(in_force, before).actions if a.env == "prod"] == []
        assert "prod" in ApprovalGate(running.controller, PlanOptions(), clock=past_the_deadline_of_approve
                                      ).in_force(specs, before).environments  # an approve killed midway

        running.sandbox.add_agent()
        done = await asyncio.wait_for(approving, 60)
        assert done.marked_by_other is None and not done.failed
        assert running.statuses(plan_id) == [AWAITING, "approved", APPLIED]
        writers = {w.user_agent for w in running.sandbox.writes.writes()}
        assert len(running.sandbox.writes.writes()) == 1, writers  # approve's one PUT /v2/apps, nothing else
        after = await running.marathon.observe()
        in_force = controller.in_force(specs, after)  # marked: the controller reconciles prod again
        assert "prod" in in_force.environments
        assert [a.target for a in build_plan(in_force, after).pending if a.env == "prod"] == []


async def test_approve_marking_first_keeps_its_word_over_the_controllers_later_mark(tmp_path: Path) -> None:
    """The other order: a controller cycle reads the plan approved (as record_outcome does) while the forced
    approval's writes wait; those finish and mark it applied; the controller's mark from what it read (one
    of its own writes failed) then finds the plan applied and records nothing."""
    async with stage(tmp_path, agents=0) as running:
        plan_id = await running.pending()
        approving = running.approving(running.cli, plan_id, "alice@cli")

        async def approved() -> list[tuple[object, str]]:
            return [(p.id, s) for p, s in running.controller.plans_now("prod", AWAITING, ("approved", FAILED))]

        assert await until(approved, "the plan approved, as a controller cycle reads it", 30) == [(plan_id, "approved")]
        running.sandbox.add_agent()
        done = await asyncio.wait_for(approving, 60)
        assert done.marked_by_other is None and not done.failed
        late = running.controller.move_plan(plan_id, "approved", FAILED, detail="by the controller in cycle c00008")
        assert late == PlanMove(False, APPLIED, "2 of 2 action(s) succeeded")
        assert running.statuses(plan_id) == [AWAITING, "approved", APPLIED]


async def test_a_plan_superseded_while_approve_checks_it_is_not_approved_nor_sent(tmp_path: Path) -> None:
    """approve read the plan awaiting approval and asks Marathon for its state; meanwhile the controller
    records the next commit's plan, superseding it. approve then finds the plan superseded: it records no
    approval, sends nothing, and names the plan to approve instead (exit 2)."""
    async with stage(tmp_path, agents=3) as running:
        plan_id = await running.pending()
        actual = await running.marathon.observe()
        approving = running.approving(running.cli, plan_id, "alice@cli")
        await asyncio.sleep(0)  # approve ran up to its first await: Marathon's answer, after the plan's check
        assert not approving.done()
        (running.specs / "prod.yaml").write_text(doc_spec().replace("instances: 2", "instances: 3"))
        commit = "5d1c0e7b2a44" + "0" * 28
        ApprovalGate(running.controller, PlanOptions()).in_force(load_desired(running.specs, revision=commit), actual)
        [newer] = running.cli.plans_still("prod", AWAITING)
        with pytest.raises(NotPending) as refused:
            await asyncio.wait_for(approving, 60)
        shown = doc_line("error: plan a423034e was marked superseded meanwhile")  # docs/approvals.md's example
        assert f"error: {refused.value}" == shown.replace("a423034e", plan_id).replace("d25b9868", newer.id)
        assert refused.value.exit_code == 2
        assert running.statuses(plan_id) == [AWAITING, "superseded"]
        assert running.cli.last_env_event("prod", ("approved",)) is None
        assert running.sandbox.writes.writes() == [] and await marathon_instances(running.sandbox.url) == {}


async def test_what_approve_says_when_the_controller_marked_the_plan_while_its_writes_went_out(
    tmp_path: Path,
) -> None:
    """The real CLI (a process of its own, writing itself as with --force) and a controller's store in this
    one: the controller marks the plan applied while the CLI's deployments wait for an agent. The CLI
    reports its own outcome (exit 0: its writes succeeded) and that the plan's status is the controller's."""
    async with stage(tmp_path, agents=0) as running:
        plan_id = await running.pending()
        db = str(tmp_path / "history.db")
        approving = asyncio.create_task(run_cli("approve", "prod", plan_id, "--database", db,
                                                marathon=running.sandbox.url))

        async def created() -> bool:
            return await marathon_instances(running.sandbox.url) == CREATED

        await until(created, "the CLI's writes in Marathon (their deployments wait for an agent)", 60)
        in_force = ApprovalGate(running.controller, PlanOptions(), clock=past_the_deadline_of_approve).in_force(
            load_desired(running.specs), await running.marathon.observe())
        record_outcome(running.controller, "prod", in_force, APPLIED, BY_CONTROLLER)
        running.sandbox.add_agent()
        done = await asyncio.wait_for(approving, 90)
        assert done.code == 0, done.output
        shown = doc_line("warning: plan 5b0d7e21 was marked applied")  # docs/approvals.md's example
        assert shown.replace("5b0d7e21", plan_id) in done.stderr.splitlines(), done.output
        assert re.search(rf"^Approved and applied: plan {plan_id} of prod .*: 2 action\(s\) succeeded\.$", done.stdout,
                         re.M), done.output
        assert running.statuses(plan_id) == [AWAITING, "approved", APPLIED]


async def test_an_approve_reading_marathon_after_anothers_writes_says_who_approved_and_records_no_plan(
    tmp_path: Path,
) -> None:
    """Two `approve`s of one plan: the second checked it awaiting, and reads Marathon only once the first
    approved and applied it. The plan from that state has another digest (those writes made Marathon match
    it) and would ask to approve nothing: it is not recorded; the second says who approved the plan meanwhile
    and what came of it (exit 2)."""
    async with stage(tmp_path, agents=3) as running:
        plan_id = await running.pending()
        late = LateRead(running.marathon)
        second = asyncio.create_task(approve(running.controller, late, "prod", plan_id,  # type: ignore[arg-type]
                                             by="bob@desk", execute=ExecuteOptions(wait=True, timeout=60)))
        await until(late.reading.is_set, "the second approve at its Marathon read", 30)
        first = await asyncio.wait_for(running.approving(running.cli, plan_id, "alice@laptop"), 60)
        assert not first.failed and await marathon_instances(running.sandbox.url) == CREATED
        late.go.set()
        with pytest.raises(NotPending) as refused:
            await asyncio.wait_for(second, 60)
        shown = doc_line("error: plan 5b0d7e21 was approved meanwhile")  # docs/approvals.md's example
        assert f"error: {refused.value}" == shown.replace("5b0d7e21", plan_id)
        assert refused.value.exit_code == 2
        assert [e.data["id"] for e in running.cli.history(env="prod") if e.kind == "plan"] == [plan_id]
        assert running.statuses(plan_id) == [AWAITING, "approved", APPLIED]
        assert [e.data["by"] for e in running.cli.history(env="prod") if e.kind == "approval"] == ["alice@laptop"]
