"""docs/status.md lists exactly the keys of the status document: its top level, each environment's,
each app's, and the keys of the nested blocks (pending, pause, last error, last heal, instances)."""

from __future__ import annotations

import re
from pathlib import Path

from reconciler.core.app_status import plan_statuses
from reconciler.core.model import Actual, ActualApp, ActualTask, Desired, DesiredApp, DesiredEnvironment
from reconciler.core.status import EnvFacts, LastError, LastHeal, Pause, Pending, status_document

DOC = Path(__file__).resolve().parents[3] / "docs" / "status.md"
EVERY_FACT = EnvFacts(
    synced_revision="aaa", digest="d1", specs_revision="bbb",
    invalid=Pending("ccc", "invalid", "shop.yaml:3: apps.web.chart: unknown chart"),
    approval=Pending("bbb", "awaiting-approval", plan_id="p1", digest="d2"),
    pause=Pause("alice@host", "aaa", "d1", "2026-12-07T00:00:00+00:00"),
    last_error=LastError("update /shop/web failed: 500", "2026-12-07T00:00:01+00:00"),
    last_heal=LastHeal("/shop/web", "shop_web.t1", "critical for 31s > 30s", "succeeded", "2026-12-07T00:00:02+00:00"),
)


def tables() -> list[dict[str, str]]:
    """Each table under `### The JSON document`: key -> meaning."""
    section = DOC.read_text().split("### The JSON document", 1)[1].split("\n## ", 1)[0]
    found = []
    for block in re.split(r"\n\s*\n", section):
        rows = dict(re.findall(r"^\| `([a-z_]+)` \| (.*) \|$", block, flags=re.MULTILINE))
        if rows:
            found.append(rows)
    return found


def document() -> dict[str, object]:
    web = DesiredApp("/shop/web", "shop", "web", {"id": "/shop/web", "instances": 1}, 1)
    desired = Desired({"shop": DesiredEnvironment("shop", "shop", apps=("web",))}, {web.app_id: web})
    task = ActualTask("t1", web.app_id, "h")
    actual = Actual({web.app_id: ActualApp(web.app_id, {"id": web.app_id}, 1, tasks=(task,))})
    built = status_document({"shop": EVERY_FACT}, plan_statuses(desired, actual, None, None), None, actual)
    return {"from": "controller", **built}


def test_the_doc_lists_exactly_the_keys_of_the_document() -> None:
    top, env_table, app_table = tables()
    doc = document()
    assert set(doc) == set(top)
    env = doc["environments"]["shop"]  # type: ignore[index]
    assert set(env) == set(env_table)
    assert set(doc["apps"]["/shop/web"]) == set(app_table)  # type: ignore[index]
    for block in ("pending", "pause", "last_error", "last_heal", "instances"):
        named = set(re.findall(r"`([a-z_]+)`", env_table[block])) - {"invalid", "awaiting-approval", "paused"}
        assert set(env[block]) == named, block
    assert set(env["approval"]) == set(env["pending"])
