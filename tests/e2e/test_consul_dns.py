"""plan and apply with Consul, end to end: the real CLI against the Marathon + Consul sandbox, names
resolved over real DNS (dnspython against the sandbox's DNS port), dry runs that write nothing."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import dns.asyncquery
import dns.message
import dns.rcode
import dns.rdatatype
import httpx
import pytest

from reconciler.sandbox.consul import ConsulSandboxConfig
from reconciler.sandbox.stack import Sandbox, SandboxConfig
from tests.e2e.cli import CliResult, copy_example_tree, run_cli
from tests.sandbox.marathon.fixtures import fast_config, until

pytestmark = pytest.mark.slow


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    config = SandboxConfig(
        marathon=fast_config(keep_event_history=False), consul=ConsulSandboxConfig(check_interval_scale=0.01)
    )
    async with Sandbox(config) as started:
        yield started


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    return copy_example_tree(tmp_path)


async def cli(sandbox: Sandbox, command: str, *args: str) -> CliResult:
    assert sandbox.consul_url is not None
    return await run_cli(command, *args, "--consul", sandbox.consul_url, marathon=sandbox.marathon_url)


async def consul_get(sandbox: Sandbox, path: str) -> Any:
    async with httpx.AsyncClient(base_url=str(sandbox.consul_url)) as client:
        response = await client.get(path)
    response.raise_for_status()
    return response.json()


async def task_ports(sandbox: Sandbox, app_id: str) -> set[int]:
    async with httpx.AsyncClient(base_url=sandbox.marathon_url) as client:
        tasks = (await client.get(f"/v2/apps{app_id}/tasks")).json()["tasks"]
    return {task["ports"][0] for task in tasks if task["state"] == "TASK_RUNNING"}


async def srv_ports(sandbox: Sandbox, name: str) -> set[int]:
    """The ports of the SRV answer for `name` (empty when Consul's DNS answers NXDOMAIN or nothing)."""
    query = dns.message.make_query(name, dns.rdatatype.SRV)
    answer = await dns.asyncquery.udp(query, "127.0.0.1", port=int(sandbox.dns_port or 0), timeout=5)
    if answer.rcode() != dns.rcode.NOERROR:
        return set()
    return {record.port for rrset in answer.answer for record in rrset if rrset.rdtype == dns.rdatatype.SRV}


async def test_dns_isolation_and_fallback_over_real_dns(sandbox: Sandbox, specs: Path) -> None:
    applied = await cli(sandbox, "apply", str(specs), "--deadline", "60")
    assert applied.code == 0, applied.output
    assert "to register" in applied.stdout and "queries to create" in applied.stdout  # one line per app

    own = {
        "redis.func-1.query.consul": "/func-1/redis",  # func-1 runs its own redis
        "mysql.func-1.query.consul": "/integration/mysql",  # func-1 does not run mysql: integration's
        "order-api.func-2.query.consul": "/func-2/order-api",
        "redis.func-2.query.consul": "/integration/redis",  # never func-1's redis
        "redis.integration.query.consul": "/integration/redis",
    }
    for name, app_id in own.items():
        wanted = await task_ports(sandbox, app_id)
        assert wanted, app_id
        await until(lambda n=name, w=wanted: _equal(srv_ports(sandbox, n), w), f"{name} -> {app_id}", timeout=15)

    # The apps every set was told to fall back to never resolve to another set's instances.
    func1_redis = await task_ports(sandbox, "/func-1/redis")
    assert not func1_redis & await srv_ports(sandbox, "redis.func-2.query.consul")

    # Run again: nothing to do in either system.
    again = await cli(sandbox, "plan", str(specs))
    assert again.code == 0, again.output
    assert "no changes" in again.stdout


async def _equal(found: Any, wanted: set[int]) -> bool:
    return bool(await found == wanted)


async def queries(sandbox: Sandbox) -> set[str]:
    return {q["Name"] for q in await consul_get(sandbox, "/v1/query")}


async def registered_environments(sandbox: Sandbox) -> set[str]:
    services = await consul_get(sandbox, "/v1/catalog/services")
    found: set[str] = set()
    for name in services:
        entries = await consul_get(sandbox, f"/v1/health/service/{name}")
        found |= {e["Service"]["Meta"].get("environment", "") for e in entries}
    return found - {""}


async def test_a_tree_holding_one_environment_never_touches_the_others(sandbox: Sandbox, specs: Path) -> None:
    """The outage: a tree with only integration deleted every other environment's queries."""
    assert (await cli(sandbox, "apply", str(specs), "--deadline", "60")).code == 0
    before = await queries(sandbox)
    assert {"redis.func-1", "mysql.func-2", "web.integration"} <= before
    assert {"func-1", "func-2"} <= await registered_environments(sandbox)

    (specs / "functional.yaml").unlink()  # the tree now holds integration alone
    planned = await cli(sandbox, "plan", str(specs), "--prune", "--force")
    assert planned.code == 0, planned.output
    assert "func-1" not in planned.stdout and "func-2" not in planned.stdout
    for args in ((), ("--prune", "--force"), ("--env", "integration", "--prune", "--force")):
        applied = await cli(sandbox, "apply", str(specs), *args)
        assert applied.code == 0, applied.output
    assert await queries(sandbox) == before
    assert {"func-1", "func-2"} <= await registered_environments(sandbox)
    async with httpx.AsyncClient(base_url=sandbox.marathon_url) as client:
        apps = {a["id"] for a in (await client.get("/v2/apps")).json()["apps"]}
    assert {"/func-1/redis", "/func-2/web"} <= apps


async def test_the_queries_of_an_app_that_left_the_specs_go_only_with_its_prune(sandbox: Sandbox, specs: Path) -> None:
    assert (await cli(sandbox, "apply", str(specs), "--deadline", "60")).code == 0
    nginx = {"nginx.integration", "nginx.func-1", "nginx.func-2"}  # its own name and the sets' fallbacks
    assert nginx <= await queries(sandbox)
    path = specs / "integration.yaml"
    text = path.read_text()
    path.write_text(text[: text.index("  nginx:\n")])

    planned = await cli(sandbox, "plan", str(specs))
    assert planned.code == 0, planned.output
    assert "1 app would be deleted with --prune: /integration/nginx" in planned.stdout
    assert "query-delete" not in planned.stdout
    assert (await cli(sandbox, "apply", str(specs))).code == 0
    assert nginx <= await queries(sandbox)  # the app still runs: callers still resolve it

    pruned = await cli(sandbox, "apply", str(specs), "--prune", "-o", "json")
    assert pruned.code == 0, pruned.output
    done = {(a["kind"], a["target"]): a["outcome"] for a in json.loads(pruned.stdout)["actions"]}
    assert done[("delete", "/integration/nginx")] == "succeeded"
    assert {done[("query-delete", name)] for name in nginx} == {"succeeded"}
    assert not nginx & await queries(sandbox)
    assert "redis.func-1" in await queries(sandbox)


async def test_dry_run_writes_to_neither_system(sandbox: Sandbox, specs: Path) -> None:
    assert (await cli(sandbox, "apply", str(specs), "--deadline", "60")).code == 0
    # A lost registration and a spec change: both systems have something to do.
    entries = await consul_get(sandbox, "/v1/health/service/redis")
    instance = next(e for e in entries if "func-1" in e["Service"]["Tags"])
    agent = f"http://{instance['Node']['Address']}:{sandbox.consul.port if sandbox.consul else 0}"
    async with httpx.AsyncClient(base_url=agent) as client:
        gone = await client.put(f"/v1/agent/service/deregister/{instance['Service']['ID']}")
        assert gone.status_code == 200, gone.text
    nginx = "instances: {}\n    values: {{upstream"
    text = (specs / "integration.yaml").read_text().replace(nginx.format(2), nginx.format(3))
    (specs / "integration.yaml").write_text(text)

    assert sandbox.consul is not None
    marathon_before, started = sandbox.marathon.faults.requests_seen, time.monotonic()
    dry = await cli(sandbox, "apply", str(specs), "--dry-run", "--verbose")
    assert dry.code == 2, dry.output
    assert "/integration/nginx" in dry.stdout and "scale" in dry.stdout
    assert instance["Service"]["ID"] in dry.stdout and "without a registration" in dry.stdout
    assert "nothing was sent to Marathon or Consul" in dry.stdout
    short = await cli(sandbox, "apply", str(specs), "--dry-run")  # without -v: one Consul line per app
    assert "* redis consul  1 to register" in short.stdout and instance["Service"]["ID"] not in short.stdout
    assert sandbox.marathon.faults.requests_seen - marathon_before == 4  # observe twice: two GETs each, no write
    # No write reached Consul's HTTP API. (Its raft index is no measure: the agents' own check results
    # advance it, and a check whose first result comes late on a loaded machine moved it mid-test.)
    assert [w for w in sandbox.consul.state.writes.writes() if w.at >= started] == []


async def test_unreachable_consul_is_reported_and_plans_nothing_in_consul(sandbox: Sandbox, specs: Path) -> None:
    assert (await cli(sandbox, "apply", str(specs), "--deadline", "60")).code == 0
    assert sandbox.consul is not None
    await sandbox.consul.stop_http()
    (specs / "functional.yaml").unlink()  # would delete the sets' queries if Consul could be read
    planned = await cli(sandbox, "plan", str(specs))
    await sandbox.consul.start_http()
    assert planned.code == 1, planned.output  # Marathon matches; Consul's part is unknown: not a clean plan
    assert "no Consul action planned" in planned.stderr and "Consul could not be read" in planned.stderr
    assert "Marathon matches the specs" in planned.stdout
    assert "query-delete" not in planned.stdout and "deregister" not in planned.stdout

    skipped = await cli(sandbox, "plan", str(specs), "--no-consul")
    assert skipped.code == 0 and "warning" not in skipped.stderr, skipped.output
