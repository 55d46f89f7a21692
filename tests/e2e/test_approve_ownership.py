"""apply and approve over environments a live controller owns, end to end: `reconciler run` with Consul
and a leader lock at a key of its own (`--leader-key`) against the embedded sandbox over loopback HTTP.
apply, told the key (flag or RECONCILER_LEADER_KEY), is refused (exit 4) naming the controller; approve
hands the approval to the controller through the store and sends nothing itself: every Marathon write the
sandbox received carries the controller's User-Agent, and the controller marks the plan applied; with
--force it writes itself, warning whom it overrode (docs/approvals.md, docs/controller.md)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from reconciler.cli.sandbox import embedded_sandbox
from reconciler.store import Store
from reconciler.store.tables import PlanRecord
from tests.e2e.cli import run_cli, serving_controller
from tests.e2e.test_cli_approve import TEST_ENV, doc_spec, marathon_instances
from tests.e2e.test_run_gitops import eventually

pytestmark = pytest.mark.slow
KEY = "service/marathon-reconciler/leader-prod"
HANDED = (r"Approved: plan {plan} of prod \(digest [0-9a-f]{{16}}, revision [^)]+\)\."
          r" The live controller \S+ pid {pid}, leader since \S+Z owns prod:"
          r" its next cycle sends the 2 action\(s\); nothing was sent from here\.")


def awaiting(db: Path) -> list[PlanRecord]:
    if not db.exists():
        return []
    store = Store.open(db, must_exist=True)
    try:
        return store.plans_still("prod", "awaiting-approval")
    finally:
        store.close()


def statuses(db: Path, plan_id: str) -> list[str]:
    """Every status plan `plan_id` was given, oldest first (the one it was recorded with, then its events)."""
    store = Store.open(db, must_exist=True)
    try:
        entries = store.history(env="prod")
    finally:
        store.close()
    keys = {"plan": "id", "plan-status": "plan_id"}
    return [e.data["status"] for e in entries if e.kind in keys and e.data[keys[e.kind]] == plan_id]


async def test_apply_sees_a_controller_at_another_key_and_approve_hands_the_approval_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    specs, db = tmp_path / "specs", tmp_path / "history.db"
    specs.mkdir()
    (specs / "prod.yaml").write_text(doc_spec())
    (specs / "test.yaml").write_text(TEST_ENV)
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb")
    async with embedded_sandbox(with_consul=True) as sandbox:
        assert sandbox.consul_url is not None
        marathon, consul = sandbox.marathon_url, sandbox.consul_url
        async with serving_controller(
            "--log-level", "WARNING", "--marathon", marathon, "--consul", consul, "run", str(specs),
            "--listen", "127.0.0.1:0", "--database", str(db), "--leader-key", KEY, "--leader-ttl", "10",
            "--resync", "2", env=env,
        ) as (process, _):
            async def prod_awaits() -> list[PlanRecord]:
                return awaiting(db)

            await eventually(prod_awaits, "prod's first plan awaiting approval", 90)
            [plan] = awaiting(db)

            refused = await run_cli("apply", str(specs), "--env", "test", "--leader-key", KEY,
                                    marathon=marathon, consul=consul)
            assert refused.code == 4, refused.output
            assert f"pid {process.pid}" in refused.stderr and f"(Consul lock {KEY})" in refused.stderr
            monkeypatch.setenv("RECONCILER_LEADER_KEY", KEY)
            assert (await run_cli("apply", str(specs), "--env", "test", marathon=marathon, consul=consul)).code == 4

            monkeypatch.delenv("RECONCILER_LEADER_KEY")
            # The command docs/approvals.md shows ("With a live controller"), and its answer's shape.
            approved = await run_cli("approve", "prod", plan.id, "--database", str(db), "--leader-key", KEY,
                                     marathon=marathon, consul=consul)
            assert approved.code == 0, approved.output
            assert re.fullmatch(HANDED.format(plan=plan.id, pid=process.pid),
                                approved.stdout.strip()), approved.output

            async def prod_created() -> bool:
                running = await marathon_instances(marathon)
                return running.get("/prod/web") == 2 and running.get("/prod/db") == 1

            await eventually(prod_created, "the controller applies the approved plan", 90)
            assert awaiting(db) == []

            async def marked_applied() -> bool:
                return statuses(db, plan.id)[-1:] == ["applied"]

            # The controller records the outcome of the writes it was handed (docs/approvals.md).
            await eventually(marked_applied, "the handed plan marked applied by the controller", 60)
            marked = statuses(db, plan.id)  # a write that failed under load is `failed` until a retry succeeds
            assert marked[:2] == ["awaiting-approval", "approved"] and set(marked[2:]) <= {"failed", "applied"}, marked
            writers = {w.user_agent for w in sandbox.marathon.writes.writes()}
            assert writers and all(f"pid {process.pid})" in agent for agent in writers), writers

            # --force: approve sends the writes itself, with a warning naming the controller it overrode.
            (specs / "prod.yaml").write_text(doc_spec().replace("instances: 2", "instances: 3"))
            await eventually(prod_awaits, "the next plan of prod awaiting approval", 90)
            [later] = awaiting(db)
            forced = await run_cli("approve", "prod", later.id, "--database", str(db), "--leader-key", KEY, "--force",
                                   marathon=marathon, consul=consul)
            assert forced.code == 0, forced.output
            assert "--force: approving and applying prod although the live controller" in forced.stderr, forced.output
            assert "Approved and applied: plan" in forced.stdout, forced.output
            assert (await marathon_instances(marathon))["/prod/web"] == 3
