"""plan and apply end to end: the real CLI against the Marathon sandbox over loopback HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.sandbox.marathon import MarathonSandbox
from tests.e2e.cli import copy_example_tree, run_cli
from tests.sandbox.marathon.fixtures import fast_config

pytestmark = pytest.mark.slow


@pytest.fixture
async def sandbox() -> AsyncIterator[MarathonSandbox]:
    async with MarathonSandbox(fast_config(keep_event_history=False)) as sandbox:
        yield sandbox


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    return copy_example_tree(tmp_path)


async def marathon_apps(url: str) -> dict[str, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.get("/v2/apps", params={"embed": "apps.tasks"})
    response.raise_for_status()
    return {app["id"]: app for app in response.json()["apps"]}


async def test_plan_apply_converges_and_second_apply_sends_no_write(
    sandbox: MarathonSandbox, specs: Path
) -> None:
    planned = await run_cli("plan", str(specs), marathon=sandbox.url)
    assert planned.code == 2, planned.output
    assert "+ /integration/redis" in planned.stdout and "Plan: 13 to create." in planned.stdout

    applied = await run_cli("apply", str(specs), "--deadline", "60", marathon=sandbox.url)
    assert applied.code == 0, applied.output
    assert "Converged" in applied.stdout

    apps = await marathon_apps(sandbox.url)
    assert len(apps) == 13
    for app_id, app in apps.items():
        running = [t for t in app.get("tasks", []) if t.get("state") == "TASK_RUNNING"]
        assert len(running) == app["instances"], app_id
        assert app["labels"]["reconciler.managed-by"] == "marathon-reconciler"
    versions = {app_id: app["version"] for app_id, app in apps.items()}

    seen_before = sandbox.faults.requests_seen
    again = await run_cli("apply", str(specs), marathon=sandbox.url)
    assert again.code == 0, again.output
    assert "no changes" in again.stdout
    assert {app_id: app["version"] for app_id, app in (await marathon_apps(sandbox.url)).items()} == versions
    # Observe is exactly two GETs, plus the marathon_apps read above: anything more would be a write.
    assert sandbox.faults.requests_seen - seen_before == 3

    planned_again = await run_cli("plan", str(specs), "-o", "json", marathon=sandbox.url)
    assert planned_again.code == 0, planned_again.output
    assert json.loads(planned_again.stdout)["changes_pending"] is False


async def test_drift_is_detected_field_by_field_and_reverted(sandbox: MarathonSandbox, specs: Path) -> None:
    assert (await run_cli("apply", str(specs), "--env", "integration", marathon=sandbox.url)).code == 0
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        env = (await client.get("/v2/apps/integration/user-api")).json()["app"]["env"]
        drifted = {"cpus": 0.9, "env": env | {"REDIS_SRV": "redis.elsewhere"}}
        response = await client.put("/v2/apps/integration/user-api", json=drifted)
        assert response.status_code == 200, response.text
    await sandbox.wait_idle(timeout=20)

    planned = await run_cli("plan", str(specs), "--env", "integration", "-o", "json", marathon=sandbox.url)
    assert planned.code == 2, planned.output
    (action,) = json.loads(planned.stdout)["actions"]
    assert action["kind"] == "update" and action["target"] == "/integration/user-api"
    assert "drift" in action["reason"]
    assert {change["path"] for change in action["changes"]} == {"/cpus", "/env/REDIS_SRV"}

    assert (await run_cli("apply", str(specs), "--env", "integration", marathon=sandbox.url)).code == 0
    user_api = (await marathon_apps(sandbox.url))["/integration/user-api"]
    assert user_api["cpus"] != 0.9 and user_api["env"]["REDIS_SRV"] == "redis"
    assert (await run_cli("plan", str(specs), "--env", "integration", marathon=sandbox.url)).code == 0


async def test_unmanaged_app_is_never_touched(sandbox: MarathonSandbox, specs: Path) -> None:
    unmanaged = {"id": "/integration/legacy-batch", "cmd": "sleep 1000", "cpus": 0.1, "mem": 32, "instances": 1}
    clash = {"id": "/integration/nginx", "cmd": "sleep 1000", "cpus": 0.1, "mem": 32, "instances": 1}
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        for body in (unmanaged, clash):
            assert (await client.post("/v2/apps", json=body)).status_code == 201
    await sandbox.wait_idle(timeout=20)
    before = await marathon_apps(sandbox.url)

    applied = await run_cli("apply", str(specs), "--prune", "--force", "-o", "json", marathon=sandbox.url)
    assert applied.code == 0, applied.output
    kinds = {a["target"]: a["kind"] for a in json.loads(applied.stdout)["actions"]}
    assert kinds["/integration/nginx"] == "warn"
    assert "/integration/legacy-batch" not in kinds

    after = await marathon_apps(sandbox.url)
    for app_id in ("/integration/legacy-batch", "/integration/nginx"):
        assert after[app_id]["version"] == before[app_id]["version"]
        assert after[app_id]["cmd"] == "sleep 1000"


def drop_apps(specs: Path, *names: str) -> None:
    """Removes the sets' apps of these names from functional.yaml (the sets stay in the tree)."""
    path = specs / "functional.yaml"
    lines = path.read_text().splitlines(keepends=True)
    kept, skipping = [], False
    for line in lines:
        stripped = line.strip()
        if line.startswith("      ") and not line.startswith("       ") and stripped.split(":")[0] in names:
            skipping = True
            continue
        if skipping and line.startswith("        "):
            continue
        skipping = False
        kept.append(line)
    path.write_text("".join(kept))


async def test_prune_guard_refuses_then_force_deletes(sandbox: MarathonSandbox, specs: Path) -> None:
    assert (await run_cli("apply", str(specs), marathon=sandbox.url)).code == 0
    drop_apps(specs, "redis", "order-api", "mysql")  # three managed apps leave the specs: over the 10% limit

    planned = await run_cli("plan", str(specs), "-o", "json", marathon=sandbox.url)
    assert planned.code == 2, planned.output  # the sets' apps now depend on integration's
    gone = ["/func-1/redis", "/func-2/mysql", "/func-2/order-api"]
    assert json.loads(planned.stdout)["prunable"] == gone  # and the plan names what --prune would delete
    text = await run_cli("plan", str(specs), marathon=sandbox.url)
    assert "3 apps would be deleted with --prune: " + ", ".join(gone) in text.stdout, text.output
    assert "match the specs" not in text.stdout

    refused = await run_cli("apply", str(specs), "--prune", marathon=sandbox.url)
    assert refused.code == 4, refused.output
    [line] = [row for row in refused.stdout.splitlines() if "- /func-1/redis" in row]
    # why it was planned, then why it was refused
    assert line.index("left the specs") < line.index("refused: refusing to delete") and "--force" in line
    assert len(await marathon_apps(sandbox.url)) == 13

    without_prune = await run_cli("apply", str(specs), marathon=sandbox.url)
    assert without_prune.code == 0 and len(await marathon_apps(sandbox.url)) == 13

    forced = await run_cli("apply", str(specs), "--prune", "--force", marathon=sandbox.url)
    assert forced.code == 0, forced.output
    remaining = await marathon_apps(sandbox.url)
    assert not set(gone) & set(remaining) and len(remaining) == 10


async def test_an_environment_that_left_the_tree_is_never_pruned(sandbox: MarathonSandbox, specs: Path) -> None:
    assert (await run_cli("apply", str(specs), marathon=sandbox.url)).code == 0
    (specs / "functional.yaml").unlink()  # the tree now holds integration alone
    planned = await run_cli("plan", str(specs), "--prune", "--force", "-o", "json", marathon=sandbox.url)
    assert planned.code == 0, planned.output
    assert json.loads(planned.stdout)["actions"] == []
    assert (await run_cli("apply", str(specs), "--prune", "--force", marathon=sandbox.url)).code == 0
    assert len(await marathon_apps(sandbox.url)) == 13

    # Retiring an environment (docs/plan-apply.md): keep it in the tree without apps, prune, then remove it.
    (specs / "functional.yaml").write_text(
        "apiVersion: reconciler/v1\nkind: FunctionalSet\nbase: integration\nsets:\n  func-2:\n    apps: {}\n"
    )
    retired = await run_cli("apply", str(specs), "--prune", "--force", marathon=sandbox.url)
    assert retired.code == 0, retired.output
    remaining = await marathon_apps(sandbox.url)
    assert not [a for a in remaining if a.startswith("/func-2/")] and len(remaining) == 10  # func-1 untouched


async def test_prune_refuses_from_an_empty_or_invalid_tree(sandbox: MarathonSandbox, specs: Path) -> None:
    assert (await run_cli("apply", str(specs), marathon=sandbox.url)).code == 0
    empty = specs.parent / "empty"
    empty.mkdir()
    from_empty = await run_cli("apply", str(empty), "--prune", "--force", marathon=sandbox.url)
    assert from_empty.code in (3, 4), from_empty.output
    (specs / "integration.yaml").write_text("apiVersion: reconciler/v1\nkind: Environment\nname: [broken\n")
    from_invalid = await run_cli("apply", str(specs), "--prune", "--force", marathon=sandbox.url)
    assert from_invalid.code == 3, from_invalid.output
    assert "integration.yaml:4: invalid YAML" in from_invalid.output
    assert len(await marathon_apps(sandbox.url)) == 13


def bump_tag(specs: Path, old: str, new: str) -> None:
    path = specs / "integration.yaml"
    path.write_text(path.read_text().replace(old, new))


async def test_locked_app_waits_then_fails_unless_forced(sandbox: MarathonSandbox, specs: Path) -> None:
    assert (await run_cli("apply", str(specs), "--env", "integration", marathon=sandbox.url)).code == 0
    sandbox.freeze_deployments(True)
    bump_tag(specs, 'tag: "1.4.2"', 'tag: "1.4.3"')  # user-api: its deployment now never finishes
    started = await run_cli("apply", str(specs), "--env", "integration", "--no-wait", marathon=sandbox.url)
    assert started.code == 0, started.output

    bump_tag(specs, 'tag: "1.4.3"', 'tag: "1.4.4"')
    bump_tag(specs, 'tag: "3.1.0"', 'tag: "3.1.1"')  # payment-api is not locked: it goes out at once
    # Without --wait nothing waits for the lock: the locked app is skipped at once, and said so.
    skipped = await run_cli("apply", str(specs), "--env", "integration", "--no-wait", "-o", "json",
                            marathon=sandbox.url, timeout=30)
    assert skipped.code == 1, skipped.output
    outcomes = {a["target"]: a for a in json.loads(skipped.stdout)["actions"]}
    assert outcomes["/integration/user-api"]["outcome"] == "skipped"
    assert "run apply again once that deployment ends" in outcomes["/integration/user-api"]["detail"]
    assert json.loads(skipped.stdout)["changes_pending"] is True
    assert outcomes["/integration/payment-api"]["outcome"] == "succeeded"
    bump_tag(specs, 'tag: "3.1.1"', 'tag: "3.1.2"')
    blocked = await run_cli(
        "apply", str(specs), "--env", "integration", "--deadline", "1", "-o", "json", marathon=sandbox.url
    )
    assert blocked.code == 1, blocked.output
    outcomes = {a["target"]: a for a in json.loads(blocked.stdout)["actions"]}
    assert outcomes["/integration/user-api"]["outcome"] == "failed"
    assert "locked by running deployment" in outcomes["/integration/user-api"]["detail"]
    assert json.loads(blocked.stdout)["changes_pending"] is True  # a failed write is still a pending change
    assert outcomes["/integration/payment-api"]["outcome"] == "succeeded"

    path = specs / "integration.yaml"
    path.write_text(path.read_text().replace("    dependencies: [mysql, redis]\n",
                                             "    dependencies: [mysql, redis]\n    force: true\n", 1))
    forced = await run_cli("apply", str(specs), "--env", "integration", "--no-wait", "-o", "json",
                           marathon=sandbox.url)
    assert forced.code == 0, forced.output
    user_api = {a["target"]: a for a in json.loads(forced.stdout)["actions"]}["/integration/user-api"]
    assert user_api["outcome"] == "succeeded" and "forced" in user_api["detail"]
    apps = await marathon_apps(sandbox.url)
    assert apps["/integration/user-api"]["container"]["docker"]["image"].endswith(":1.4.4")


async def test_plan_and_apply_take_the_charts_folder_like_validate(sandbox: MarathonSandbox, specs: Path) -> None:
    moved = specs.parent / "elsewhere" / "charts"
    moved.parent.mkdir()
    (specs.parent / "charts").rename(moved)
    assert (await run_cli("plan", str(specs), marathon=sandbox.url)).code == 3  # the default place is empty now
    planned = await run_cli("plan", str(specs), "--charts", str(moved), marathon=sandbox.url)
    assert planned.code == 2 and "Plan: 13 to create." in planned.stdout, planned.output
    applied = await run_cli("apply", str(specs), "--charts", str(moved), "--env", "func-1", marathon=sandbox.url)
    assert applied.code == 0, applied.output
    assert sorted(await marathon_apps(sandbox.url)) == ["/func-1/redis", "/func-1/user-api"]


async def test_json_output_of_a_failed_command_is_a_json_error_document(specs: Path) -> None:
    unreachable = await run_cli("plan", str(specs), "-o", "json", marathon="http://127.0.0.1:9")
    assert unreachable.code == 1, unreachable.output
    error = json.loads(unreachable.stdout)["error"]
    assert error["code"] == "remote-unavailable" and "127.0.0.1:9" in error["message"] and error["hint"]

    (specs / "integration.yaml").write_text("apiVersion: reconciler/v1\nkind: Environment\nname: [broken\n")
    result = await run_cli("plan", str(specs), "-o", "json", marathon="http://127.0.0.1:9")
    assert result.code == 3, result.output
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "invalid-spec" and error["exit_code"] == 3
    assert any(p["file"].endswith("integration.yaml") and p["line"] == 4 for p in error["problems"])
    assert "invalid YAML" in result.stderr  # the one-line form stays on stderr


async def test_apply_json_counts_outcomes_and_a_no_consul_plan_names_only_marathon(
    sandbox: MarathonSandbox, specs: Path
) -> None:
    applied = await run_cli("apply", str(specs), "-o", "json", "--deadline", "60", marathon=sandbox.url)
    assert applied.code == 0, applied.output
    document = json.loads(applied.stdout)
    assert document["outcomes"] == {"succeeded": 13} and document["consul"] is None
    again = await run_cli("plan", str(specs), marathon=sandbox.url)  # run_cli adds --no-consul
    assert again.code == 0 and "Plan: no changes. Marathon matches the specs." in again.stdout, again.output


async def test_plan_with_consul_unreachable_is_an_error_not_a_clean_plan(sandbox: MarathonSandbox, specs: Path) -> None:
    assert (await run_cli("apply", str(specs), "--deadline", "60", marathon=sandbox.url)).code == 0
    closed = "http://127.0.0.1:9"  # discard port: nothing listens on loopback
    planned = await run_cli("plan", str(specs), marathon=sandbox.url, consul=closed)
    assert planned.code == 1, planned.output
    assert "Marathon matches the specs" in planned.stdout and "Consul match" not in planned.stdout
    assert "Consul could not be read" in planned.stderr
    as_json = await run_cli("plan", str(specs), "-o", "json", marathon=sandbox.url, consul=closed)
    assert as_json.code == 1 and json.loads(as_json.stdout)["consul"]["complete"] is False


@pytest.mark.parametrize("url", ["http://admin:s3cret@127.0.0.1:notaport", "127.0.0.1:8080", "ftp://admin:s3cret@h"])
async def test_a_bad_marathon_url_is_one_line_without_its_credentials(url: str, specs: Path) -> None:
    result = await run_cli("plan", str(specs), marathon=url)
    assert result.code == 2, result.output  # a usage error
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --marathon: not") and "s3cret" not in result.output


async def test_apply_past_its_deadline_names_the_stuck_app_and_marathons_reason(
    sandbox: MarathonSandbox, specs: Path
) -> None:
    path = specs / "integration.yaml"
    path.write_text(path.read_text().replace("      heapMb: 200\n", "      heapMb: 200\n      cpus: 64\n", 1))
    applied = await run_cli("apply", str(specs), "--env", "integration", "--deadline", "3", marathon=sandbox.url)
    assert applied.code == 1, applied.output
    assert "Applied: 8 succeeded, 0 failed." in applied.stdout
    assert "deployments still running at the deadline (raise --deadline)" in applied.stderr
    [line] = [row for row in applied.stderr.splitlines() if "/integration/payment-api:" in row]
    assert "waiting to launch" in line and "InsufficientCpus (declined" in line, applied.stderr

    # Everything was sent: nothing is left to change, but "match the specs" would be a lie.
    planned = await run_cli("plan", str(specs), "--env", "integration", marathon=sandbox.url)
    assert planned.code == 0, planned.output
    assert "match the specs" not in planned.stdout
    assert "Progressing: a Marathon deployment still changes" in planned.stdout
    assert "/integration/payment-api" in planned.stdout
    as_json = await run_cli("plan", str(specs), "--env", "integration", "-o", "json", marathon=sandbox.url)
    document = json.loads(as_json.stdout)
    assert document["changes_pending"] is False and "/integration/payment-api" in document["progressing"]
