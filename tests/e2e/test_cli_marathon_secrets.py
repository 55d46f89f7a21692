"""Marathon secrets end to end: the real CLI applies a spec with `secrets` and env secret references to the
Marathon sandbox (with and without its `secrets` feature) over loopback HTTP, re-plans to nothing, and
plans a changed source and a changed reference as an update that shows them as they are."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.sandbox.marathon import MarathonSandbox
from tests.e2e.cli import run_cli
from tests.sandbox.marathon.fixtures import fast_config

pytestmark = pytest.mark.slow

SPEC = """apiVersion: reconciler/v1
kind: Environment
name: shop
dns: {domain: consul}
apps:
  orders-api:
    cmd: serve
    cpus: 0.1
    mem: 32
    secrets:
      db-password: {source: /shop/orders/db-password}
      db-password-next: {source: /shop/orders/db-password-next}
    env:
      DB_USER: orders
      DB_PASSWORD: {secret: db-password}
"""


def write(specs: Path, text: str) -> Path:
    specs.mkdir(exist_ok=True)
    (specs / "shop.yaml").write_text(text, encoding="utf-8")
    return specs


async def stored(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url) as client:
        app: dict[str, Any] = (await client.get("/v2/apps/shop/orders-api")).json()["app"]
    return app


async def test_secrets_apply_replan_to_nothing_and_plan_their_changes_as_they_are(tmp_path: Path) -> None:
    specs = write(tmp_path / "specs", SPEC)
    async with MarathonSandbox(fast_config(keep_event_history=False, features=frozenset({"secrets"}))) as sandbox:
        applied = await run_cli("apply", str(specs), "--deadline", "60", marathon=sandbox.url)
        assert applied.code == 0, applied.output
        app = await stored(sandbox.url)
        assert app["env"]["DB_PASSWORD"] == {"secret": "db-password"}
        assert app["secrets"]["db-password"] == {"source": "/shop/orders/db-password"}

        again = await run_cli("plan", str(specs), marathon=sandbox.url)
        assert again.code == 0 and "no changes" in again.stdout, again.output

        write(specs, SPEC.replace("{secret: db-password}", "{secret: db-password-next}")
              .replace("/shop/orders/db-password}", "/shop/orders/db-password-v2}"))
        planned = await run_cli("plan", str(specs), "--output", "json", marathon=sandbox.url)
        assert planned.code == 2, planned.output
        [action] = json.loads(planned.stdout)["actions"]
        changes = {change["path"]: change for change in action["changes"]}
        assert changes["/env/DB_PASSWORD/secret"]["actual"] == "db-password"
        assert changes["/env/DB_PASSWORD/secret"]["desired"] == "db-password-next"
        assert changes["/secrets/db-password/source"]["desired"] == "/shop/orders/db-password-v2"
        assert not any(change.get("masked") for change in changes.values()), changes
        text = await run_cli("plan", str(specs), marathon=sandbox.url)
        assert "db-password-next" in text.stdout and "***" not in text.stdout, text.stdout

        applied = await run_cli("apply", str(specs), "--deadline", "60", marathon=sandbox.url)
        assert applied.code == 0, applied.output
        assert (await stored(sandbox.url))["env"]["DB_PASSWORD"] == {"secret": "db-password-next"}


async def test_a_marathon_without_the_secrets_feature_refuses_the_app_and_apply_says_why(tmp_path: Path) -> None:
    specs = write(tmp_path / "specs", SPEC)
    async with MarathonSandbox(fast_config(keep_event_history=False)) as sandbox:
        applied = await run_cli("apply", str(specs), "--deadline", "30", marathon=sandbox.url)
        assert applied.code == 1, applied.output
        assert "Feature secrets is not enabled. Enable with --enable_features secrets)" in applied.output
        async with httpx.AsyncClient(base_url=sandbox.url) as client:
            assert (await client.get("/v2/apps/shop/orders-api")).status_code == 404
