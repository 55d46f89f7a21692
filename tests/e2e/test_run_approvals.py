"""The approval gate of the controller: `reconciler run --source <git URL> --sandbox` in a subprocess on the
example specs with func-2 requiring approval. Nothing of func-2 is created until its first plan is
approved; a later commit waits as one pending plan (not one per cycle) while the other environments
follow it, and `reconciler approve` applies it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from reconciler.store import Store
from reconciler.store.tables import PlanRecord
from tests.e2e.cli import run_cli
from tests.e2e.gitrepo import Repo
from tests.e2e.test_run_gitops import controller, eventually, specs_repo, synced

pytestmark = pytest.mark.slow
FUNC_2 = "  func-2:                   # the cart feature: web and order-api from the feature branch, own mysql\n"


def require_approval(repo: Repo) -> str:
    text = (repo.work / "specs" / "functional.yaml").read_text()
    assert FUNC_2 in text
    return repo.commit({"specs/functional.yaml": text.replace(FUNC_2, FUNC_2 + "    approval: required\n")},
                       "func-2 requires approval")


def func_2_web_instances(repo: Repo, count: int) -> str:
    text = (repo.work / "specs" / "functional.yaml").read_text()
    old = "      web:\n        instances: 1\n"
    assert old in text
    return repo.commit({"specs/functional.yaml": text.replace(old, f"      web:\n        instances: {count}\n")},
                       f"func-2 web x{count}")


def pending(db: Path) -> list[PlanRecord]:
    store = Store.open(db, must_exist=True)
    try:
        return store.plans_still("func-2", "awaiting-approval")
    finally:
        store.close()


def plans_recorded(db: Path, revision: str) -> list[str]:
    """The ids of func-2's plans made from `revision`: the pending ones (a plan the controller executes for
    func-2 carries its approved revision; one may land beside `approve`'s writes on a loaded machine)."""
    store = Store.open(db, must_exist=True)
    try:
        plans = [e.data for e in store.history(env="func-2") if e.kind == "plan"]
    finally:
        store.close()
    return [plan["id"] for plan in plans if plan["revision"] == revision]


async def instances(http: httpx.AsyncClient, marathon: str) -> dict[str, int]:
    apps = (await http.get(f"{marathon}/v2/apps")).json()["apps"]
    return {a["id"]: a["instances"] for a in apps}


async def test_the_controller_holds_an_approval_environment_until_approve(tmp_path: Path) -> None:
    repo, _ = specs_repo(tmp_path)
    first = require_approval(repo)
    db = tmp_path / "history.db"
    async with controller(tmp_path, repo, "--poll-interval", "2", "--resync", "2") as run, \
            httpx.AsyncClient(timeout=10) as http:
        await eventually(synced(http, run.server, first), "integration synced to the first commit", 90)

        async def one_pending() -> list[PlanRecord]:
            return pending(db) if db.exists() else []

        await eventually(one_pending, "func-2's first plan awaiting approval", 60)
        [plan] = pending(db)
        assert plan.revision == first
        running = await instances(http, run.marathon)
        assert "/func-1/redis" in running and not [a for a in running if a.startswith("/func-2/")]

        approved = await run_cli("approve", "func-2", plan.id, "--database", str(db), "--deadline", "120",
                                  marathon=run.marathon, timeout=180)
        assert approved.code == 0, approved.output
        running = await instances(http, run.marathon)
        assert {a: n for a, n in running.items() if a.startswith("/func-2/")} == {
            "/func-2/mysql": 1, "/func-2/order-api": 1, "/func-2/web": 1}

        second = func_2_web_instances(repo, 2)

        async def integration_and_a_new_plan() -> bool:
            plans = pending(db)
            return bool(plans) and plans[0].revision == second and await synced(http, run.server, second)()

        await eventually(integration_and_a_new_plan, "integration follows the commit, func-2's change waits", 60)
        cycles = (await http.get(f"{run.server}/status")).json()["cycles"]

        async def two_more_cycles() -> bool:
            return bool((await http.get(f"{run.server}/status")).json()["cycles"] >= cycles + 2)

        await eventually(two_more_cycles, "two more cycles", 90)
        assert len(plans_recorded(db, second)) == 1  # the waiting plan is not recorded again each cycle
        assert len(plans_recorded(db, first)) >= 1  # the first one, approved
        assert (await instances(http, run.marathon))["/func-2/web"] == 1
        environments = (await http.get(f"{run.server}/status")).json()["environments"]
        assert environments["func-2"]["synced_revision"] == first  # the approved revision stays in force
        [waiting] = pending(db)
        # status names the waiting plan, as `reconciler approve` needs it (docs/status.md)
        assert environments["func-2"]["sync"] == "AwaitingApproval", environments["func-2"]
        assert environments["func-2"]["approval"]["plan_id"] == waiting.id, environments["func-2"]
        assert environments["integration"]["sync"] != "AwaitingApproval"

        approved = await run_cli("approve", "func-2", waiting.id, "--database", str(db), "--deadline", "120",
                                  marathon=run.marathon, timeout=180)
        assert approved.code == 0, approved.output
        assert (await instances(http, run.marathon))["/func-2/web"] == 2

        async def func_2_synced() -> bool:
            environments = (await http.get(f"{run.server}/status")).json()["environments"]
            return bool(environments.get("func-2", {}).get("synced_revision") == second)

        await eventually(func_2_synced, "func-2 synced to the approved commit", 60)
        assert pending(db) == [] and (await instances(http, run.marathon))["/func-2/web"] == 2
