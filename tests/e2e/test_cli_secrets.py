"""Credentials never reach the CLI's output or logs, end to end (the real CLI in a subprocess).

Two remotes on loopback: the Marathon sandbox with HTTP basic auth on, and a hostile remote that
answers every request with an error body echoing the request's headers and the credentials in them
(a misconfigured proxy in front of Marathon or Consul does this).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from reconciler.redaction import secret_forms
from reconciler.sandbox.marathon import MarathonSandbox
from tests.e2e.cli import CliResult, answering, run_cli
from tests.sandbox.marathon.fixtures import fast_config

pytestmark = pytest.mark.slow

USER = "ops"
PASSWORD = "pw-Zq81/never:shown"
TOKEN = "tok-Xk22-never-shown-5c1d"
CONSUL_TOKEN = "acl-Qr77-never-shown-9e0f"
QUOTED_PASSWORD = PASSWORD.replace("/", "%2F").replace(":", "%3A")
SPEC = """
apiVersion: reconciler/v1
kind: Environment
name: shop
apps:
  web: {cmd: serve, instances: 1, cpus: 0.1, mem: 32}
"""


def leaks(result: CliResult) -> list[str]:
    forms = secret_forms(user=USER, password=PASSWORD, tokens=(TOKEN, CONSUL_TOKEN))
    return [form for form in forms if form in result.output]


async def echo_credentials(request: web.Request) -> web.Response:
    headers = dict(request.headers)
    decoded = []
    authorization = headers.get("Authorization", "")
    if authorization.startswith("Basic "):
        decoded.append("credentials " + base64.b64decode(authorization[6:]).decode())
    if authorization.startswith("token="):
        decoded.append("token " + authorization[6:])
    if "X-Consul-Token" in headers:
        decoded.append(f"ACL not found for token {headers['X-Consul-Token']}")
    text = f"refused {json.dumps(headers)} {'; '.join(decoded)}"
    if request.path.startswith("/v1/"):
        return web.Response(status=403, text=text)
    return web.json_response({"message": text, "details": [{"path": "/", "errors": decoded}]}, status=401)


@pytest.fixture
async def hostile() -> AsyncIterator[str]:
    async with answering(echo_credentials) as address:
        yield address


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "shop.yaml").write_text(SPEC)
    return tmp_path / "specs"


IN_URL = ("url", f"http://{USER}:{QUOTED_PASSWORD}@")
FLAGS = ("flags", "--marathon-user", USER, "--marathon-password", PASSWORD)
DCOS_TOKEN = ("token", "--marathon-token", TOKEN)
RUN_ONCE = ("run", "--cycles", "1", "--no-leader-election")  # a standby would wait for a lock Consul never grants


@pytest.mark.parametrize(
    ("credentials", "command"),
    [
        (IN_URL, ("plan",)), (IN_URL, ("apply", "-o", "json")), (IN_URL, RUN_ONCE),
        (FLAGS, ("plan", "-o", "json")), (FLAGS, RUN_ONCE), (DCOS_TOKEN, ("apply",)),
    ],
    ids=lambda value: "-".join(value[:2]) if isinstance(value, tuple) else str(value),
)
async def test_echoed_credentials_never_reach_stdout_or_stderr(
    hostile: str, specs: Path, credentials: tuple[str, ...], command: tuple[str, ...]
) -> None:
    kind, *flags = credentials
    marathon = f"{flags[0]}{hostile}" if kind == "url" else f"http://{hostile}"
    options = () if kind == "url" else tuple(flags)
    consul = f"http://{USER}:{QUOTED_PASSWORD}@{hostile}"
    result = await run_cli(
        "--log-level", "DEBUG", "--consul-token", CONSUL_TOKEN, *options, command[0], str(specs), *command[1:],
        marathon=marathon, consul=consul, timeout=60,
    )
    assert result.code == 1, result.output  # `run --cycles 1` too: its one cycle failed
    assert "refused" in result.output  # the remote's answer is shown, scrubbed
    assert not leaks(result), result.output
    if command[-1] == "json":
        assert "error" in json.loads(result.stdout)


async def test_run_names_its_remotes_without_their_credentials(specs: Path) -> None:
    config = fast_config(keep_event_history=False, http_credentials=f"{USER}:{PASSWORD}")
    async with MarathonSandbox(config) as sandbox:
        marathon = sandbox.url.replace("http://", f"http://{USER}:{QUOTED_PASSWORD}@")
        result = await run_cli("run", str(specs), "--cycles", "1", marathon=marathon, timeout=60)
    assert result.code == 0, result.output
    host = sandbox.url.removeprefix("http://")
    first = next(line for line in result.stdout.splitlines() if line.startswith("controller running against"))
    assert first.startswith(f"controller running against Marathon http://***@{host}"), result.stdout
    assert "cycle-start" in result.stderr  # `run` logs at INFO by default, as its --help says
    assert not leaks(result), result.output
