"""Secrets written inside app specs reach no output of the operator, end to end: the real CLI in a
subprocess against the Marathon sandbox (HTTP basic auth on, credentials in the URL) and the Consul
sandbox (an ACL token from the environment), over real HTTP.

One spec tree plants a secret in every place a definition carries one: a password inside a URL in an
env value, a JDBC `password=` parameter, the values of env variables whose names say they are secrets,
a URL password in a label, in a `cmd` argument and in a fetch URI. The test applies it, changes every
secret, and drives plan (text and JSON), apply, run (text and JSON logs at DEBUG, its /status and
/metrics), history, status and a Marathon that quotes the body it refuses; every byte they print and
every history table of the store are searched for every form of every secret (raw, URL-encoded,
JSON-escaped, base64 of user:password). A plan still tells that each of them changed.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psycopg
import pytest
from aiohttp import web
from sqlalchemy.engine import make_url

from reconciler.redaction import secret_forms
from reconciler.sandbox.consul import ConsulSandbox
from reconciler.sandbox.marathon import MarathonSandbox
from tests.e2e.cli import PROJECT, CliResult, answering, run_cli, stop_process
from tests.e2e.test_store_postgres import database  # noqa: F401
from tests.sandbox.consul.fixtures import SandboxFactory, consul_sandbox_factory  # noqa: F401
from tests.sandbox.marathon.fixtures import fast_config

pytestmark = pytest.mark.slow

MARATHON_USER, MARATHON_PASSWORD = "ops", "mara-Pw-41c9"
CONSUL_TOKEN = "acl-Tok-77e1-c0ffee"
# (user, password) of each URL password planted in the specs; {n} is the spec's version.
URL_SECRETS = {"env": ("app", "envUrl-Pw{n}-5b1"), "label": ("bob", "label-Pw{n}-a90"),
               "cmd": ("svc", "cmd-Pw{n}-e33"), "fetch": ("dl", "fetch-Pw{n}-71d")}
JDBC_SECRET = "jdbc-Pw{n}-0f2"
NAMED_SECRETS = {"API_PASSWORD": "named-Pw{n}-9c4", "SESSION_TOKEN": "named-Tok{n}-d18",
                 "STRIPE_SECRET_KEY": "sk_live_{n}_c7aa91"}
SECRET_PATHS = ("/cmd", "/env/API_PASSWORD", "/env/DATABASE_URL", "/env/JDBC_URL", "/env/SESSION_TOKEN",
                "/env/STRIPE_SECRET_KEY", "/fetch/0/uri", "/labels/REPO")


def spec(n: int) -> str:
    env = {
        "DATABASE_URL": "postgres://{}:{}@db:5432/shop".format(*URL_SECRETS["env"]),
        "JDBC_URL": f"jdbc:postgresql://db:5432/shop?user=app&password={JDBC_SECRET}&ssl=true",
        "LOG_LEVEL": "info",
        **NAMED_SECRETS,
    }
    app = {
        "cmd": "serve --upstream https://{}:{}@api.example/v1".format(*URL_SECRETS["cmd"]),
        "instances": 1, "cpus": 0.1, "mem": 32,
        "env": env,
        "labels": {"REPO": "https://{}:{}@git.example/shop.git".format(*URL_SECRETS["label"])},
        "fetch": [{"uri": "https://{}:{}@artifacts.example/app.tgz".format(*URL_SECRETS["fetch"])}],
    }
    document = {"apiVersion": "reconciler/v1", "kind": "Environment", "name": "shop", "apps": {"web": app}}
    return json.dumps(document).replace("{n}", str(n))  # JSON is YAML


def planted(n: int) -> tuple[str, ...]:
    """Every form of every secret of spec version `n`, and of the operator's own credentials."""
    forms = [*secret_forms(user=MARATHON_USER, password=MARATHON_PASSWORD, tokens=(CONSUL_TOKEN,))]
    for user, password in URL_SECRETS.values():
        forms += secret_forms(user=user, password=password.replace("{n}", str(n)))
    values = [JDBC_SECRET, *NAMED_SECRETS.values()]
    forms += secret_forms(tokens=[value.replace("{n}", str(n)) for value in values])
    return tuple(forms)


EVERY_SECRET = (*planted(1), *planted(2))


def leaked(text: str) -> list[str]:
    return [form for form in EVERY_SECRET if form in text]


@pytest.fixture
async def remotes(consul_sandbox_factory: SandboxFactory) -> AsyncIterator[tuple[str, str]]:  # noqa: F811
    """The Marathon URL (credentials in it) and the Consul URL."""
    consul: ConsulSandbox = await consul_sandbox_factory()
    config = fast_config(keep_event_history=False, http_credentials=f"{MARATHON_USER}:{MARATHON_PASSWORD}")
    async with MarathonSandbox(config) as marathon:
        yield marathon.url.replace("http://", f"http://{MARATHON_USER}:{MARATHON_PASSWORD}@"), consul.url


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "shop.yaml").write_text(spec(1))
    return tmp_path / "specs"


@pytest.fixture(autouse=True)
def consul_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command gets the Consul token from its environment, as a controller on Marathon does."""
    monkeypatch.setenv("RECONCILER_CONSUL_TOKEN", CONSUL_TOKEN)


async def cli(*args: str, marathon: str, consul: str | None = None) -> CliResult:
    return await run_cli(*args, marathon=marathon, consul=consul, timeout=90)


async def test_secrets_in_specs_reach_no_output_and_plans_still_show_their_changes(
    remotes: tuple[str, str], specs: Path, tmp_path: Path
) -> None:
    marathon, consul = remotes
    outputs: list[tuple[str, str]] = []

    applied = await cli("--log-level", "DEBUG", "apply", str(specs), "--wait", marathon=marathon, consul=consul)
    assert applied.code == 0, applied.output
    outputs.append(("apply", applied.output))

    (specs / "shop.yaml").write_text(spec(2))
    planned = await cli("--log-level", "DEBUG", "plan", str(specs), marathon=marathon, consul=consul)
    assert planned.code == 2, planned.output
    outputs.append(("plan", planned.output))
    for path in SECRET_PATHS:  # each secret's change is shown, masked on both sides
        line = next((line for line in planned.stdout.splitlines() if line.strip().startswith(f"{path}:")), "")
        assert line.endswith("(changed)"), (path, planned.stdout)
    assert documented_example() <= set(planned.stdout.splitlines()), planned.stdout

    as_json = await cli("plan", str(specs), "-o", "json", marathon=marathon, consul=consul)
    assert as_json.code == 2, as_json.output
    outputs.append(("plan -o json", as_json.output))
    changes = {c["path"]: c for a in json.loads(as_json.stdout)["actions"] for c in a.get("changes", ())}
    assert all(changes[path]["masked"] is True for path in SECRET_PATHS), changes
    assert changes["/env/SESSION_TOKEN"] == {"path": "/env/SESSION_TOKEN", "actual": "***", "desired": "***",
                                             "masked": True}

    history_file = tmp_path / "history.db"
    ran, served = await run_controller(specs, history_file, marathon=marathon, consul=consul)
    outputs += [("run", ran), *served]

    store = ("--database", str(history_file))
    for command in (("history", *store), ("history", *store, "-o", "json"), ("status", str(specs), *store)):
        result = await cli(*command, marathon=marathon, consul=consul)
        assert result.code == 0, result.output
        outputs.append((" ".join(command[:1]), result.output))

    for name, text in outputs:
        assert not leaked(text), (name, leaked(text), text)
    assert tables_holding_secrets(history_file) == {"desired_states"}  # the definitions rollback re-applies


def documented_example() -> set[str]:
    """The lines of the example under "Secrets in a plan" in docs/plan-apply.md."""
    section = (PROJECT / "docs" / "plan-apply.md").read_text().split("## Secrets in a plan", 1)[1]
    block = section.split("```\n", 2)[1]
    assert "(changed)" in block
    return set(block.splitlines())


async def run_controller(
    specs: Path, history_file: Path, *, marathon: str, consul: str
) -> tuple[str, list[tuple[str, str]]]:
    """`run` with JSON logs at DEBUG until its first cycle applied the specs: everything it printed (stdout
    and stderr, into files), and what its /status, /metrics and /readyz answered meanwhile."""
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb")
    out, err = history_file.with_suffix(".out"), history_file.with_suffix(".err")
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "reconciler", "--marathon", marathon, "--consul", consul, "--log-level", "DEBUG",
            "--log-format", "json", "run", str(specs), "--listen", "127.0.0.1:0", "--database", str(history_file),
            "--no-leader-election", stdout=stdout, stderr=stderr, cwd=PROJECT, env=env,
        )
    served: list[tuple[str, str]] = []
    try:
        printed = await printed_in(out, process, "actions succeeded", timeout=90)
        base = re.search(r"POST /hooks/git on (http://127\.0\.0\.1:\d+)", printed)
        assert base, printed
        async with httpx.AsyncClient(base_url=base.group(1), timeout=30) as client:
            for path in ("/status", "/metrics", "/readyz"):
                served.append((path, (await client.get(path)).text))
    finally:
        await stop_process(process)
    return out.read_text() + err.read_text(), served


async def printed_in(file: Path, process: asyncio.subprocess.Process, needle: str, timeout: float) -> str:
    """The file's text once it holds `needle`; fails after `timeout` seconds or when the process ended first."""
    deadline = asyncio.get_running_loop().time() + timeout
    while needle not in (text := file.read_text()):
        assert process.returncode is None, f"the process ended before printing {needle!r}:\n{text}"
        assert asyncio.get_running_loop().time() < deadline, f"{needle!r} not printed within {timeout}s:\n{text}"
        await asyncio.sleep(0.1)
    return text


def tables_holding_secrets(history_file: Path) -> set[str]:
    """The store's tables in which any form of any planted secret occurs, in any column."""
    found = set()
    with sqlite3.connect(history_file) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            rows = connection.execute(f'SELECT * FROM "{table}"').fetchall()
            if any(leaked(repr(row)) for row in rows):
                found.add(table)
    return found


async def quoting_marathon(request: web.Request) -> web.Response:
    """A Marathon (or a proxy in front of it) whose refusal quotes the body it was sent."""
    if request.method == "GET" and request.path == "/v2/apps":
        return web.json_response({"apps": []})
    if request.method == "GET":
        return web.json_response([] if request.path == "/v2/deployments" else {})
    body = await request.text()
    details = [{"path": "/", "errors": [f"refused: {body}"]}]
    return web.json_response({"message": "Object is not valid", "details": details}, status=422)


@pytest.fixture
async def quoting() -> AsyncIterator[str]:
    async with answering(quoting_marathon) as address:
        yield f"http://{address}"


@pytest.mark.parametrize("output", [(), ("-o", "json")], ids=["text", "json"])
async def test_a_refusal_quoting_the_definition_back_shows_none_of_its_secrets(
    quoting: str, specs: Path, output: tuple[str, ...]
) -> None:
    result = await cli("--log-level", "DEBUG", "apply", str(specs), *output, marathon=quoting)
    assert result.code == 1, result.output
    assert "Object is not valid" in result.output and "LOG_LEVEL" in result.output  # the answer is shown
    assert not leaked(result.output), (leaked(result.output), result.output)


async def test_render_prints_the_definitions_as_they_are_sent_secrets_included(specs: Path) -> None:
    """docs/plan-apply.md: render is how the definitions are checked, and it reads nothing but the specs."""
    rendered = await cli("render", str(specs), "--format", "marathon-json", marathon="http://127.0.0.1:9")
    assert rendered.code == 0, rendered.output
    [app] = json.loads(rendered.stdout)
    assert app["env"]["API_PASSWORD"] == NAMED_SECRETS["API_PASSWORD"].replace("{n}", "1")
    assert app["env"]["DATABASE_URL"] == "postgres://app:envUrl-Pw1-5b1@db:5432/shop"


PG_PASSWORD = "pg-Pw-planted-31c"


@pytest.mark.postgres
async def test_a_postgresql_store_holds_the_secrets_in_its_desired_states_only(
    remotes: tuple[str, str], specs: Path, database: str  # noqa: F811
) -> None:
    """The same, with the history in PostgreSQL reached through a URL whose query carries a password: the
    history tables hold no secret of the specs, and no output shows the store's password."""
    marathon, consul = remotes
    url = f"{database}?password={PG_PASSWORD}"
    ran = await cli("run", str(specs), "--cycles", "2", "--no-leader-election", "--database", url,
                    marathon=marathon, consul=consul)
    assert ran.code == 0, ran.output
    history = await cli("history", "--database", url, "-o", "json", marathon=marathon)
    assert history.code == 0 and json.loads(history.stdout), history.output
    shown = [*secret_forms(tokens=(PG_PASSWORD,)), *EVERY_SECRET]
    for result in (ran, history):
        assert not [form for form in shown if form in result.output], result.output
    with psycopg.connect(make_url(database).set(drivername="postgresql").render_as_string(hide_password=False)) as pg:
        tables = [row[0] for row in pg.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        holding = {table for table in tables
                   if any(leaked(repr(row)) for row in pg.execute(f'SELECT * FROM "{table}"'))}
    assert holding == {"desired_states"}
