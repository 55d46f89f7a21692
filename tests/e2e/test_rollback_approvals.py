"""`reconciler rollback` and `resume` as an operator uses them: in an approval environment (the rollback
needs no approval: it goes to a state the environment ran; after `resume`, the specs' state waits for an
approval again), and to a revision whose app was since renamed. A controller subprocess follows a real git
repository against a sandbox on the test's loop; the one-off commands run as subprocesses too."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from reconciler.cli.sandbox import embedded_sandbox
from reconciler.store import Store
from reconciler.store.tables import PlanRecord
from tests.e2e.cli import run_cli
from tests.e2e.gitrepo import Repo
from tests.e2e.test_status_rollback import MARATHON, controller, env_is, eventually, runs, shop

pytestmark = pytest.mark.slow


def gated(cmd: str, instances: int) -> str:
    return shop(cmd, instances).replace("name: shop\n", "name: shop\napproval: required\n")


def awaiting(db: Path) -> list[PlanRecord]:
    if not db.exists():
        return []
    store = Store.open(db, must_exist=True)
    try:
        return store.plans_still("shop", "awaiting-approval")
    finally:
        store.close()


async def approve_waiting(db: Path, marathon: str) -> None:
    async def one() -> bool:
        return len(awaiting(db)) == 1

    await eventually(one, "one plan of shop awaiting approval", 90)
    [plan] = awaiting(db)
    approved = await run_cli("approve", "shop", plan.id, "--database", str(db), "--deadline", "120",
                             marathon=marathon, timeout=180)
    assert approved.code == 0, approved.output


async def test_a_rollback_in_an_approval_environment_and_the_resume_after_it(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo")
    v1 = repo.commit({"shop.yaml": gated("serve v1", 1)}, "v1")
    db = tmp_path / "history.db"
    async with embedded_sandbox(with_consul=False) as sandbox, httpx.AsyncClient(timeout=10) as http:
        marathon = sandbox.marathon_url
        MARATHON.append(marathon)
        async with controller(tmp_path, repo, marathon) as run:
            await approve_waiting(db, marathon)
            await eventually(env_is(http, run.server, synced_revision=v1, sync="Synced"), "v1 synced")
            v2 = repo.commit({"shop.yaml": gated("serve v2", 2)}, "v2")
            await approve_waiting(db, marathon)
            await eventually(env_is(http, run.server, synced_revision=v2, sync="Synced"), "v2 synced")
            v3 = repo.commit({"shop.yaml": gated("serve v3", 2)}, "v3")

            async def v3_waits() -> bool:
                return [p.revision for p in awaiting(db)] == [v3]

            await eventually(v3_waits, "v3's plan awaiting approval")
            [v3_plan] = awaiting(db)

            # No approval asked: v1 ran, so it was approved; it becomes the approved state.
            rolled = await run_cli("rollback", "shop", "--to", v1[:8], "--database", str(db), "--no-consul",
                                   marathon=marathon, timeout=180)
            assert rolled.code == 0, rolled.output
            await eventually(runs(http, marathon, "serve v1", 1), "v1 rolled back")
            await eventually(env_is(http, run.server, sync="Paused"), "status shows the pause")

            async def v3_superseded() -> bool:
                return awaiting(db) == [] and superseded(db) == [v3_plan.id]

            await eventually(v3_superseded, "v3's plan superseded by the rollback")
            # It names the revision in force, v1 (the specs are at v3: "the specs at v3" misled before).
            assert superseded_detail(db, v3_plan.id) == f"the approved state ({v1[:12]}) is in force"

            resumed = await run_cli("resume", "shop", "--database", str(db), marathon=marathon)
            assert resumed.code == 0, resumed.output
            assert " ".join(resumed.stdout.split()) == (
                f"shop resumed (it was paused at {v1[:12]} by {rolled_by(db)}); it requires an approval (`approval:"
                " required`), so it stays at its approved state: from its next cycle the controller records the"
                " specs' state as a plan awaiting approval (`reconciler status` shows its id; approve it:"
                " `reconciler approve shop PLAN-ID`)"), resumed.output

            await eventually(v3_waits, "the specs' state (v3) awaiting approval again after the resume")
            await eventually(env_is(http, run.server, sync="AwaitingApproval", synced_revision=v1), "v1 in force")
            assert await runs(http, marathon, "serve v1", 1)()
            await approve_waiting(db, marathon)
            await eventually(runs(http, marathon, "serve v3", 2), "v3 runs once approved")
            await eventually(env_is(http, run.server, synced_revision=v3, sync="Synced"), "v3 synced")


def superseded(db: Path) -> list[str]:
    store = Store.open(db, must_exist=True)
    try:
        return [p.id for p, _ in store.plans_now("shop", "awaiting-approval", ("superseded",))]
    finally:
        store.close()


def superseded_detail(db: Path, plan_id: str) -> str:
    with sqlite3.connect(db) as connection:
        [(detail,)] = connection.execute(
            "SELECT detail FROM plan_events WHERE plan_id = ? AND status = 'superseded'", (plan_id,)).fetchall()
    return str(detail)


def rolled_by(db: Path) -> str:
    store = Store.open(db, must_exist=True)
    try:
        event = store.last_env_event("shop", ("rolled-back",))
    finally:
        store.close()
    assert event is not None
    return event.by


def named(app: str, cmd: str) -> str:
    return shop(cmd, 1).replace("  web: ", f"  {app}: ")


async def apps_of(http: httpx.AsyncClient, marathon: str) -> dict[str, str]:
    return {a["id"]: a["cmd"] for a in (await http.get(f"{marathon}/v2/apps")).json()["apps"]}


async def test_a_rollback_to_a_revision_before_an_app_was_renamed_names_the_app_it_left_running(
    tmp_path: Path,
) -> None:
    """v2 renamed shop's web to front (the controller runs with --prune). While no controller runs, a
    rollback to v1 brings web back and leaves front running: it says so. A controller with --prune then
    deletes front while shop stays paused at v1."""
    repo = Repo(tmp_path / "repo")
    v1 = repo.commit({"shop.yaml": named("web", "serve v1")}, "v1")
    db = tmp_path / "history.db"
    async with embedded_sandbox(with_consul=False) as sandbox, httpx.AsyncClient(timeout=10) as http:
        marathon = sandbox.marathon_url
        MARATHON.append(marathon)

        def only(expected: dict[str, str]) -> Callable[[], Awaitable[bool]]:
            async def probe() -> bool:
                return await apps_of(http, marathon) == expected
            return probe

        async with controller(tmp_path, repo, marathon, extra=("--prune",)) as run:
            await eventually(env_is(http, run.server, synced_revision=v1, sync="Synced"), "v1 synced")
            v2 = repo.commit({"shop.yaml": named("front", "serve v2")}, "v2: web is called front")
            await eventually(env_is(http, run.server, synced_revision=v2, sync="Synced"), "v2 synced")
            await eventually(only({"/shop/front": "serve v2"}), "web renamed to front in Marathon")

        rolled = await run_cli("rollback", "shop", "--to", v1[:8], "--database", str(db), "--no-consul",
                               marathon=marathon, timeout=180)
        assert rolled.code == 0, rolled.output
        assert await apps_of(http, marathon) == {"/shop/web": "serve v1", "/shop/front": "serve v2"}
        assert (f"1 app of shop is not in {v1[:12]} and was left running: /shop/front (roll back with --prune to"
                " delete it; a controller run with --prune deletes it while shop stays paused)"
                ) in " ".join(rolled.stdout.split()), rolled.output

        async with controller(tmp_path, repo, marathon, extra=("--prune",)) as run:
            await eventually(only({"/shop/web": "serve v1"}), "front pruned while shop stays paused at v1")
            await eventually(env_is(http, run.server, sync="Paused", synced_revision=v1), "shop paused at v1")


async def test_a_rollback_with_prune_deletes_what_the_revision_does_not_hold_within_the_prune_limit(
    tmp_path: Path,
) -> None:
    """v2 added two apps beside web. A rollback to v1 with --prune would delete both: more than the prune
    limit allows of three managed apps (max(1, 10 %) = 1), so nothing is sent and it exits 4, shop paused
    at v1 all the same; with --force it deletes them and brings web back to v1."""
    repo = Repo(tmp_path / "repo")
    v1 = repo.commit({"shop.yaml": named("web", "serve v1")}, "v1")
    v2_apps = {"web": "serve v2", "cart": "serve cart", "search": "serve search"}
    v2_spec = named("web", "serve v2") + "".join(named(app, cmd).split("apps:\n", 1)[1]
                                                 for app, cmd in v2_apps.items() if app != "web")
    db = tmp_path / "history.db"
    async with embedded_sandbox(with_consul=False) as sandbox, httpx.AsyncClient(timeout=10) as http:
        marathon = sandbox.marathon_url
        MARATHON.append(marathon)
        v2_running = {f"/shop/{app}": cmd for app, cmd in v2_apps.items()}

        async def only(expected: dict[str, str]) -> bool:
            return await apps_of(http, marathon) == expected

        async with controller(tmp_path, repo, marathon) as run:
            await eventually(env_is(http, run.server, synced_revision=v1, sync="Synced"), "v1 synced")
            v2 = repo.commit({"shop.yaml": v2_spec}, "v2: cart and search")
            await eventually(env_is(http, run.server, synced_revision=v2, sync="Synced"), "v2 synced")
            await eventually(lambda: only(v2_running), "v2's three apps in Marathon")

        forced_alone = await run_cli("rollback", "shop", "--to", v1[:8], "--database", str(db), "--force",
                                     marathon=marathon)
        assert forced_alone.code == 2 and "--force lifts the prune limit: it goes with --prune" in forced_alone.stderr
        assert not rolled_back(db), "a refused flag records no rollback"

        refused = await run_cli("rollback", "shop", "--to", v1[:8], "--database", str(db), "--prune", "--no-consul",
                                marathon=marathon, timeout=180)
        assert refused.code == 4, refused.output
        said = " ".join(refused.output.split())
        assert "delete /shop/cart outcome=refused" in said and "delete /shop/search outcome=refused" in said, said
        assert f"the rollback of shop to {v1[:12]} was refused by a guard; nothing was sent" in said, said
        assert "--force lifts the prune limit" in said and f"shop stays paused at {v1[:12]}" in said, said
        assert await apps_of(http, marathon) == v2_running  # web's update did not go either
        assert rolled_back(db)  # the pause stands: a controller on the store goes on with it

        forced = await run_cli("rollback", "shop", "--to", v1[:8], "--database", str(db), "--prune", "--force",
                               "--no-consul", marathon=marathon, timeout=180)
        assert forced.code == 0, forced.output
        await eventually(lambda: only({"/shop/web": "serve v1"}), "cart and search deleted, web at v1")
        assert "left running" not in forced.stdout, forced.output
        deleted = " ".join(forced.stdout.split())
        assert "delete /shop/cart outcome=succeeded" in deleted and "delete /shop/search outcome=succeeded" in deleted


def rolled_back(db: Path) -> bool:
    store = Store.open(db, must_exist=True)
    try:
        return store.last_env_event("shop", ("rolled-back",)) is not None
    finally:
        store.close()
