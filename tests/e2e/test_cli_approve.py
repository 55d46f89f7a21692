"""The approval gate of one-off commands end to end (real CLI, Marathon sandbox over loopback HTTP):
apply refuses an approval environment and sends nothing; `approve` applies exactly the plan shown, and
only while Marathon has not changed since. Runs every command docs/approvals.md shows."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from reconciler.sandbox.marathon import MarathonSandbox
from reconciler.store import Store
from tests.e2e.cli import PROJECT, CliResult, run_cli
from tests.sandbox.marathon.fixtures import fast_config

pytestmark = pytest.mark.slow

DOC = PROJECT / "docs" / "approvals.md"
TEST_ENV = "apiVersion: reconciler/v1\nkind: Environment\nname: test\napps:\n  web: {cmd: serve, cpus: 0.1, mem: 32}\n"
AWAITS = re.compile(r"^Plan ([0-9a-f]{8}) of prod awaits approval \((\d+) action\(s\), digest ([0-9a-f]{16})\):$", re.M)


def doc_spec() -> str:
    """The `specs/prod.yaml` of docs/approvals.md: its first yaml block."""
    found = re.search(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
    assert found, "docs/approvals.md lost its example spec"
    return found.group(1)


@pytest.fixture
async def sandbox() -> AsyncIterator[MarathonSandbox]:
    async with MarathonSandbox(fast_config(keep_event_history=False)) as sandbox:
        yield sandbox


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "prod.yaml").write_text(doc_spec())
    (tmp_path / "specs" / "test.yaml").write_text(TEST_ENV)
    return tmp_path / "specs"


async def marathon_instances(url: str) -> dict[str, int]:
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.get("/v2/apps")
    response.raise_for_status()
    return {app["id"]: app["instances"] for app in response.json()["apps"]}


def awaiting(result: CliResult) -> tuple[str, int]:
    found = AWAITS.search(result.stderr)
    assert found, result.output
    assert f"  approve it: reconciler approve prod {found.group(1)}" in result.stderr
    return found.group(1), int(found.group(2))


async def test_apply_refuses_an_approval_environment_and_approve_applies_exactly_the_plan(
    sandbox: MarathonSandbox, specs: Path, tmp_path: Path
) -> None:
    db = str(tmp_path / "history.db")
    planned = await run_cli("plan", str(specs), marathon=sandbox.url)
    assert planned.code == 2 and "warning: prod requires an approval" in planned.stderr, planned.output

    refused = await run_cli("apply", str(specs), "--database", db, marathon=sandbox.url)
    assert refused.code == 4, refused.output
    first, count = awaiting(refused)
    assert count == 2 and "+ /prod/web create" in refused.stderr
    assert "error: refused: prod requires an approval (`approval: required`); nothing was sent, to any environment" \
        in refused.stderr and "`reconciler apply --env test`" in refused.stderr
    assert await marathon_instances(sandbox.url) == {}  # nothing half-applied: test's app was not created either
    again = await run_cli("apply", str(specs), "--database", db, marathon=sandbox.url)
    assert again.code == 4 and awaiting(again)[0] == first  # the same plan, not recorded twice
    assert (await run_cli("apply", str(specs), "--env", "test", "--database", db, marathon=sandbox.url)).code == 0

    approved = await run_cli("approve", "prod", first, "--database", db, marathon=sandbox.url)
    assert approved.code == 0, approved.output
    assert re.search(rf"^Approved and applied: plan {first} of prod \(digest [0-9a-f]{{16}}, revision .+\): 2 action"
                     r"\(s\) succeeded\.$", approved.stdout, re.M), approved.output
    assert await marathon_instances(sandbox.url) == {"/prod/db": 1, "/prod/web": 2, "/test/web": 1}
    assert (await run_cli("apply", str(specs), "--database", db, marathon=sandbox.url)).code == 0  # approved now

    (specs / "prod.yaml").write_text(doc_spec().replace("instances: 2", "instances: 3"))
    held = await run_cli("apply", str(specs), "--database", db, marathon=sandbox.url)
    second, _ = awaiting(held)
    async with httpx.AsyncClient(base_url=sandbox.url) as client:  # someone scales by hand meanwhile
        assert (await client.put("/v2/apps/prod/web", json={"instances": 4})).status_code == 200
    changed = await run_cli("approve", "prod", second, "--database", db, marathon=sandbox.url)
    assert changed.code == 4, changed.output
    third, _ = awaiting(changed)
    assert third != second and "+/- /prod/web scale  instances 4 -> 3" in changed.stderr
    assert f"error: Marathon changed since plan {second} was made, so it was not applied: nothing was sent." \
           f" Approve the plan from the state now instead: reconciler approve prod {third}" in changed.stderr
    assert (await marathon_instances(sandbox.url))["/prod/web"] == 4

    stale = await run_cli("approve", "prod", second, "--database", db, marathon=sandbox.url)
    assert stale.code == 2, stale.output
    assert f"error: plan {second} is superseded, not awaiting approval, in environment prod; awaiting approval" \
           f" there: {third}" in stale.stderr
    assert (await run_cli("approve", "prod", third, "--database", db, marathon=sandbox.url)).code == 0
    assert (await marathon_instances(sandbox.url))["/prod/web"] == 3

    store = Store.open(db, must_exist=True)
    try:
        statuses = [(e.data.get("plan_id") or e.data.get("id"), e.data["status"])
                    for e in store.history(env="prod") if e.kind in ("plan", "plan-status")]
        approvals = [e.data for e in store.history(env="prod") if e.kind == "approval"]
    finally:
        store.close()
    assert statuses == [(first, "awaiting-approval"), (first, "approved"), (first, "applied"),
                        (second, "awaiting-approval"), (third, "awaiting-approval"), (second, "superseded"),
                        (third, "approved"), (third, "applied")]
    assert [a["plan_id"] for a in approvals] == [first, third] and all("@" in a["by"] for a in approvals)
