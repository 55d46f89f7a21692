"""marathon-deploy 3.x (PyPI `marathon-deploy`), a third-party CLI written for real Marathon, drives the
sandbox through every subcommand it implements (sandbox layer tests): `--put` of a folder, `--scale`,
`--instances`, `--restart`, `--inplacerestart` and `--tag`. (`--saveapp` and `--dumpall` raise
NotImplementedError in the tool itself; `--version` reads a file the package does not ship.)

The tool first checks `GET /ping` answers `"pong"` to its `Accept: application/json` (SystemResource.ping),
then uses marathon-python: PUT with `?force=True` (Jersey's Boolean.valueOf: true) and polls
`/v2/deployments`. It sleeps 3 s whenever it finds no deployment running, hence `slow`.

marathon-python 0.13.0 (its last release) serialises nested models through `collections.Iterable`, an
alias Python 3.10 removed, so `--tag` (PUT of a fetched app) fails on any server under Python 3.11; the
tool runs here with that alias restored (`collections.Iterable = collections.abc.Iterable`) and nothing else.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.sandbox.marathon import MarathonSandbox
from tests.sandbox.marathon.fixtures import fast_config, until

pytestmark = pytest.mark.slow
DEADLINE_SECONDS = 90.0
RUN_TOOL = (
    "import collections, collections.abc; collections.Iterable = collections.abc.Iterable; "
    "from marathon_deploy.deploytool import main; main()"
)


async def deploy(sandbox: MarathonSandbox, *args: str, answers: str = "") -> str:
    """Run `marathon-deploy -m <sandbox> args...` with `answers` on stdin; its stdout, or fail with both streams."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", RUN_TOOL, "-m", sandbox.url, *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(answers.encode()), DEADLINE_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, f"exit {process.returncode}\nstdout:\n{out.decode()}\nstderr:\n{err.decode()}"
    return out.decode()


def app(app_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": app_id, "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 1, **fields}


@pytest.fixture
async def sandbox() -> Any:
    # Tasks take a moment to start, so the tool sees its deployments running, as against a real Marathon.
    async with MarathonSandbox(fast_config(start_delay_ms=300)) as running:
        yield running


async def instances_of(api: httpx.AsyncClient, app_id: str) -> int:
    return int((await api.get(f"/v2/apps{app_id}")).json()["app"]["instances"])


async def running(api: httpx.AsyncClient, app_id: str, count: int) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]]:
        tasks = (await api.get(f"/v2/apps{app_id}/tasks")).json()["tasks"]
        live = [t for t in tasks if t["state"] == "TASK_RUNNING"]
        return live if len(live) == count == len(tasks) else []

    return list(await until(probe, f"{count} running task(s) of {app_id}", timeout=DEADLINE_SECONDS))


async def test_put_a_folder_then_scale_count_and_restart(sandbox: MarathonSandbox, tmp_path: Path) -> None:
    folder = tmp_path / "apps"
    folder.mkdir()
    (folder / "a-web.json").write_text(json.dumps(app("/shop/web", instances=2)))
    (folder / "b-worker.json").write_text(json.dumps(app("shop/worker")))
    (folder / "#c-skipped.json").write_text(json.dumps(app("/shop/skipped")))
    output = await deploy(sandbox, "--put", str(folder), answers="YES\n")
    assert output.splitlines()[0] == '"pong"'
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=10.0) as api:
        listed = sorted(a["id"] for a in (await api.get("/v2/apps")).json()["apps"])
        assert listed == ["/shop/web", "/shop/worker"]
        await running(api, "/shop/web", 2)

        await deploy(sandbox, "--appid", "/shop/web", "--scale", "3")
        assert await instances_of(api, "/shop/web") == 3
        await running(api, "/shop/web", 3)
        assert (await deploy(sandbox, "--appid", "shop/web", "--instances")).splitlines()[-1] == "3"

        before = {t["id"] for t in await running(api, "/shop/worker", 1)}
        await deploy(sandbox, "--appid", "/shop/worker", "--restart")
        after = {t["id"] for t in await running(api, "/shop/worker", 1)}
        assert before.isdisjoint(after)

        # `--put` of a file whose app exists updates it (PUT /v2/apps/{id}?force=True)
        (folder / "b-worker.json").write_text(json.dumps(app("shop/worker", cmd="sleep 2000")))
        await deploy(sandbox, "--put", str(folder / "b-worker.json"))
        assert (await api.get("/v2/apps/shop/worker")).json()["app"]["cmd"] == "sleep 2000"


async def test_in_place_restart_scales_to_zero_and_back(sandbox: MarathonSandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=10.0) as api:
        assert (await api.post("/v2/apps", json=app("/ipr", instances=2))).status_code == 201
        before = {t["id"] for t in await running(api, "/ipr", 2)}
        output = await deploy(sandbox, "--appid", "/ipr", "--inplacerestart")
        assert "Scaled /ipr down to 0" in output and "/ipr back at 2 again" in output
        after = {t["id"] for t in await running(api, "/ipr", 2)}
        assert before.isdisjoint(after)


async def test_tag_changes_only_the_docker_image_tag(sandbox: MarathonSandbox) -> None:
    # the tool handles `registry/image:tag` (string_mangling.split_image_name keeps two path segments)
    docker = {"type": "DOCKER", "docker": {"image": "registry.local:5000/web:1.0"}}
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=10.0) as api:
        body = app("/tagged", container=docker, labels={"team": "web"})
        assert (await api.post("/v2/apps", json=body)).status_code == 201
        await running(api, "/tagged", 1)
        await deploy(sandbox, "--appid", "/tagged", "--tag", "1.1")
        shown = (await api.get("/v2/apps/tagged")).json()["app"]
        assert shown["container"]["docker"]["image"] == "registry.local:5000/web:1.1"
        assert shown["labels"] == {"team": "web"} and shown["instances"] == 1
