"""The app `charts/marathon-reconciler` renders really runs the controller: its command line, run as
written (only the listen host moved from 0.0.0.0 to loopback, as every test listens) with the rendered
environment and nothing else, is accepted by `reconciler run`; the port and path of the rendered health
check answer; its two instances (rendered twice, on two ports, as two containers would be) elect one
leader through the Consul lock; and no credential is ever a word of the command line."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from reconciler.cli.sandbox import embedded_sandbox
from reconciler.sandbox.consul import ConsulSandboxConfig
from reconciler.sandbox.marathon import MarathonSandboxConfig
from reconciler.sandbox.stack import Sandbox, SandboxConfig
from reconciler.spec import load_desired
from reconciler.store import Store
from tests.e2e.cli import PROJECT, copy_example_tree, serving_controller
from tests.e2e.gitrepo import Repo
from tests.e2e.test_store_postgres import database  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow
CREDENTIAL = re.compile(r"password|token|secret|://[^/@]*:[^/@]*@", re.I)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rendered_controller(tmp_path: Path, specs: Path | dict[str, Any], marathon: str, consul: str, port: int,
                        store_url: str = "", extra: dict[str, str] | None = None) -> dict[str, Any]:
    """`specs`: a folder, or the `source`, `branch` and `path` values of a git remote; `extra`: more values."""
    spec = tmp_path / f"platform-{port}.yaml"
    values: dict[str, Any] = {"marathon": marathon, "consul": consul, "port": port, "leaderTtl": 10, **(extra or {})}
    values |= specs if isinstance(specs, dict) else {"specs": str(specs)}
    values |= {"database": store_url} if store_url else {}
    spec.write_text(
        "apiVersion: reconciler/v1\nkind: Environment\nname: platform\napps:\n  reconciler:\n"
        f"    chart: marathon-reconciler\n    values: {json.dumps(values)}\n",
        encoding="utf-8",
    )
    app = load_desired(spec, charts_dir=PROJECT / "charts").apps["/platform/reconciler"]
    return dict(app.definition)


def command_line(definition: dict[str, Any]) -> list[str]:
    """The rendered `cmd` as the words `reconciler` gets, its listen address moved to loopback."""
    words = shlex.split(str(definition["cmd"]))
    assert words[:2] == ["reconciler", "run"], words
    listen = words.index("--listen") + 1
    host, port = words[listen].rsplit(":", 1)
    assert host == "0.0.0.0"  # in a container: Marathon's health check comes from outside it
    words[listen] = f"127.0.0.1:{port}"
    assert not [word for word in words if CREDENTIAL.search(word)], words
    return words[1:]


def container_environment(
    definition: dict[str, Any], home: Path, store: dict[str, str] | None = None
) -> dict[str, str]:
    """What a container of the app gets: the rendered `env` (no RECONCILER_* of this machine), a home. A
    secret reference gets the value `store` holds at the declared secret's source, as the agent's secrets
    plugin resolves it for a real task."""
    keep = {key: value for key, value in os.environ.items() if not key.startswith("RECONCILER_")}
    env = {}
    for name, value in definition["env"].items():
        secret = definition["secrets"][value["secret"]]["source"] if isinstance(value, dict) else None
        env[str(name)] = (store or {})[secret] if secret is not None else str(value)
    return {**keep, **env, "HOME": str(home), "NO_COLOR": "1"}


async def wait_until(probe: Callable[[], Awaitable[bool]], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s")
        await asyncio.sleep(0.2)


async def test_the_rendered_command_line_runs_two_replicas_that_elect_one_leader(tmp_path: Path) -> None:
    await _two_replicas_elect_one_leader(tmp_path, "")
    # The default history store, in each container's home (the chart names none): lost with the container.
    assert any((tmp_path / home / ".local/state/reconciler/history.db").is_file() for home in ("home-a", "home-b"))


@pytest.mark.postgres
async def test_the_replicas_share_the_postgresql_store_the_database_value_names(
    tmp_path: Path, database: str,  # noqa: F811 - the fixture imported above
) -> None:
    url = make_url(database)
    assert url.password is None  # the test server trusts loopback: the value may carry no password
    await _two_replicas_elect_one_leader(tmp_path, url.render_as_string())
    assert not list(tmp_path.glob("home-*/.local/state/reconciler/history.db"))
    store = Store.open(database, must_exist=True)
    try:
        assert store.environments(), "the leader recorded nothing in the shared store"
    finally:
        store.close()


async def test_the_replicas_follow_the_git_remote_the_source_value_names(tmp_path: Path) -> None:
    """GitOps: `source`, `branch`, `path` and `gitTimeout` become `run --source URL --branch B --path DIR
    --git-timeout S`."""
    example = copy_example_tree(tmp_path / "example")
    files = {f"platform/{path.relative_to(example.parent)}": path.read_text(encoding="utf-8")
             for path in sorted(example.parent.rglob("*")) if path.is_file()}
    repo = Repo(tmp_path / "git")
    sha = repo.commit(files, branch="release")
    source = {"source": repo.url, "branch": "release", "path": "platform/specs", "gitTimeout": 30}
    status = await _two_replicas_elect_one_leader(tmp_path, "", source)
    assert sha[:12] in json.dumps(status), status.get("source")


async def test_the_replicas_take_marathon_and_consul_credentials_from_marathon_secrets(tmp_path: Path) -> None:
    """`marathonUser`, `marathonPasswordSecret` and `consulTokenSecret`: a Marathon that takes only HTTP Basic
    auth is reached with the password the secret store holds, which no word of the command line and no value
    of the app's definition carries."""
    store = {"/platform/reconciler/marathon-password": "mara-Pw-5e1b", "/platform/consul-token": "acl-Tok-90d2"}
    credentials = {"marathonUser": "ops", "marathonPasswordSecret": "/platform/reconciler/marathon-password",
                   "consulTokenSecret": "/platform/consul-token"}
    marathon = MarathonSandboxConfig(http_credentials="ops:mara-Pw-5e1b", features=frozenset({"secrets"}))
    sandbox = Sandbox(SandboxConfig(marathon=marathon, consul=ConsulSandboxConfig()))
    status = await _two_replicas_elect_one_leader(tmp_path, "", sandbox=sandbox, extra=credentials, store=store)
    assert status["leadership"]["leader"]
    definition = rendered_controller(tmp_path, tmp_path, "http://127.0.0.1:1", "http://127.0.0.1:2", 1, "", credentials)
    assert not [value for value in store.values() if value in json.dumps(definition)]
    async with Sandbox(SandboxConfig(marathon=marathon, consul=None)) as secrets_marathon:
        async with httpx.AsyncClient(timeout=10, auth=("ops", "mara-Pw-5e1b")) as http:
            created = await http.post(f"{secrets_marathon.marathon_url}/v2/apps", json=definition)
        assert created.status_code == 201, created.text  # a Marathon with the secrets feature takes the app


async def _two_replicas_elect_one_leader(
    tmp_path: Path, store_url: str, source: dict[str, Any] | None = None, *, sandbox: Sandbox | None = None,
    extra: dict[str, str] | None = None, store: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The leader's /status once it is ready."""
    specs: Path | dict[str, Any] = source or copy_example_tree(tmp_path)
    async with sandbox or embedded_sandbox(with_consul=True) as remotes, httpx.AsyncClient(timeout=10) as http:
        assert remotes.consul_url is not None
        definitions = [rendered_controller(tmp_path, specs, remotes.marathon_url, remotes.consul_url, free_port(),
                                           store_url, extra) for _ in range(2)]
        assert definitions[0]["instances"] == 2
        homes = [tmp_path / "home-a", tmp_path / "home-b"]
        async with serving_controller(*command_line(definitions[0]),
                                      env=container_environment(definitions[0], homes[0], store)) as (_, first), \
                serving_controller(*command_line(definitions[1]),
                                   env=container_environment(definitions[1], homes[1], store)) as (_, second):
            servers = [first, second]
            for definition, server in zip(definitions, servers, strict=True):
                check = definition["healthChecks"][0]
                port = definition["container"]["portMappings"][check["portIndex"]]["containerPort"]
                assert server == f"http://127.0.0.1:{port}"
                assert (await http.get(f"{server}{check['path']}")).status_code == 200

            async def one_leader() -> bool:
                states = [(await http.get(f"{server}/status")).json()["leadership"] for server in servers]
                return sorted(bool(state["leader"]) for state in states) == [False, True]

            await wait_until(one_leader, "one leader and one standby", 60)
            leaders = [s for s in servers if (await http.get(f"{s}/status")).json()["leadership"]["leader"]]

            async def leader_ready() -> bool:
                return (await http.get(f"{leaders[0]}/readyz")).status_code == 200

            await wait_until(leader_ready, "the leader ready (first cycle done, lock held)", 120)
            answer: dict[str, Any] = (await http.get(f"{leaders[0]}/status")).json()
            return answer
