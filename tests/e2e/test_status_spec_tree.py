"""`reconciler status SPECS` without a controller (real CLI, Marathon sandbox over loopback HTTP): every
environment of the spec tree is listed, one never applied at the specs' state and saying so, and a paused
environment names the specs' revision and digest it is not applying (docs/status.md)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from reconciler.core.hashing import env_digest
from reconciler.sandbox.marathon import MarathonSandbox
from reconciler.sources.folder import folder_revision
from reconciler.spec import load_desired
from reconciler.store import Store
from tests.e2e.cli import run_cli
from tests.sandbox.marathon.fixtures import fast_config

pytestmark = pytest.mark.slow
NOBODY = "http://127.0.0.1:9"  # the discard port: no controller answers there


def environment(name: str, cmd: str) -> str:
    return (f"apiVersion: reconciler/v1\nkind: Environment\nname: {name}\n"
            f"apps:\n  web: {{cmd: '{cmd}', cpus: 0.1, mem: 32, ports: []}}\n")


@pytest.fixture
async def sandbox() -> AsyncIterator[MarathonSandbox]:
    async with MarathonSandbox(fast_config(keep_event_history=False)) as sandbox:
        yield sandbox


def record_synced(db: Path, specs: Path, env: str) -> str:
    """What a controller records when it synced `env` at the tree's revision; returns that revision."""
    desired = load_desired(specs, revision=folder_revision(specs))
    store = Store.open(db)
    try:
        digest = env_digest(desired, env)
        store.record_revision(env, desired.revision, digest)
        store.record_desired_state(env, desired.revision, digest, desired)
    finally:
        store.close()
    return desired.revision


async def test_status_lists_the_trees_environments_and_what_a_pause_holds_back(
    sandbox: MarathonSandbox, tmp_path: Path
) -> None:
    specs, db = tmp_path / "specs", tmp_path / "history.db"
    specs.mkdir()
    (specs / "shop.yaml").write_text(environment("shop", "serve v1"))
    v1 = record_synced(db, specs, "shop")
    rolled = await run_cli("rollback", "shop", "--to", v1[:14], "--database", str(db), "--no-consul",
                           marathon=sandbox.url)
    assert rolled.code == 0, rolled.output

    (specs / "shop.yaml").write_text(environment("shop", "serve v2"))
    (specs / "lab.yaml").write_text(environment("lab", "serve lab"))
    tree = load_desired(specs, revision=folder_revision(specs))
    assert tree.revision != v1

    answer = await run_cli("status", str(specs), "--controller", NOBODY, "--database", str(db), "--no-consul",
                           "-o", "json", marathon=sandbox.url)
    assert answer.code == 0, answer.output
    document = json.loads(answer.stdout)
    shop, lab = document["environments"]["shop"], document["environments"]["lab"]
    assert shop["sync"] == "Paused" and shop["pause"]["revision"] == v1
    assert shop["pending"] == {"revision": tree.revision, "reason": "paused", "detail": "", "plan_id": "",
                               "digest": env_digest(tree, "shop")}
    assert (lab["sync"], lab["health"], lab["synced_revision"]) == ("OutOfSync", "Missing", "")
    assert lab["pending"]["reason"] == "never-applied" and lab["pending"]["revision"] == tree.revision
    assert lab["pending"]["digest"] == env_digest(tree, "lab")
    assert document["apps"]["/lab/web"]["sync"] == "OutOfSync"  # its apps, as the specs say
    assert document["apps"]["/shop/web"]["health"] == "Healthy"  # shop runs its paused v1

    text = await run_cli("status", str(specs), "--controller", NOBODY, "--database", str(db), "--no-consul",
                         marathon=sandbox.url)
    assert text.code == 0, text.output
    assert re.search(r"│ lab\s+│ OutOfSync\s+│ Missing", text.stdout), text.stdout
    assert f"never applied: the specs at {tree.revision[:12]} (digest {env_digest(tree, 'lab')})" in text.stdout
    assert f"{tree.revision[:12]} pending (paused, digest {env_digest(tree, 'shop')})" in text.stdout

    without = await run_cli("status", "--controller", NOBODY, "--database", str(db), "--no-consul", "-o", "json",
                            marathon=sandbox.url)
    assert list(json.loads(without.stdout)["environments"]) == ["shop"]  # the store alone knows only shop
