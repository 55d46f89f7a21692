"""Service discovery end to end, as docs/dns.md ("Finding the port") tells a caller to do it: real
containers (the sandbox's docker runtime, ports published on the agents' loopback addresses), the
reconciler's `apply` with Consul, then exactly the caller's steps against the sandbox's Consul DNS on
loopback: the peer's bare name from the caller's `*_SRV` variable, the caller's `dns-search` domain,
an SRV lookup for the port, the A record in ADDITIONAL for the agent address, and an HTTP GET there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import dns.asyncquery
import dns.message
import dns.rdatatype
import httpx
import pytest

from reconciler.sandbox.consul import ConsulSandboxConfig
from reconciler.sandbox.marathon import DockerUnavailable
from reconciler.sandbox.stack import Sandbox, SandboxConfig
from tests.e2e.cli import run_cli
from tests.sandbox.marathon.fixtures import fast_config, until

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SPECS = """\
apiVersion: reconciler/v1
kind: Environment
name: shop
dns: {domain: consul}
apps:
  user-api:
    image: user-api:1
    cpus: 0.1
    mem: 32
    ports: [{name: http, containerPort: 8080}]
    healthChecks: [{protocol: HTTP, path: /health, portIndex: 0, gracePeriodSeconds: 5, intervalSeconds: 2}]
  web:
    image: web:1
    cpus: 0.1
    mem: 32
    env: {USER_API_SRV: user-api}
    ports: [{name: http, containerPort: 3000}]
---
apiVersion: reconciler/v1
kind: FunctionalSet
base: shop
sets:
  func-1:
    apps:
      web: {}
"""


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    marathon = fast_config(runtime="docker", agents=2, keep_event_history=False)
    stack = Sandbox(SandboxConfig(marathon=marathon, consul=ConsulSandboxConfig(check_interval_scale=0.01)))
    try:
        await stack.__aenter__()
    except DockerUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield stack
    finally:
        await stack.__aexit__(None, None, None)


async def marathon_get(sandbox: Sandbox, path: str) -> Any:
    async with httpx.AsyncClient(base_url=sandbox.marathon_url, timeout=10) as client:
        response = await client.get(path)
    response.raise_for_status()
    return response.json()


async def srv_lookup(sandbox: Sandbox, name: str) -> set[tuple[str, int]]:
    """What a caller's resolver gets for `name` SRV: (agent address, port) of each passing instance."""
    query = dns.message.make_query(name, dns.rdatatype.SRV)
    answer = await dns.asyncquery.udp(query, "127.0.0.1", port=int(sandbox.dns_port or 0), timeout=5)
    addresses = {
        rrset.name.to_text(): record.address
        for rrset in answer.additional
        if rrset.rdtype == dns.rdatatype.A
        for record in rrset
    }
    records = [record for rrset in answer.answer if rrset.rdtype == dns.rdatatype.SRV for record in rrset]
    datacenter = sandbox.consul.state.datacenter if sandbox.consul else ""
    # docs/dns.md shows the target as `<address in hex>.addr.<dc>.consul.`
    assert all(r.target.to_text().endswith(f".addr.{datacenter}.consul.") for r in records), records
    return {(addresses[record.target.to_text()], record.port) for record in records}


async def test_a_caller_reaches_its_peer_through_the_srv_record_of_its_bare_name(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "shop.yaml").write_text(SPECS)
    applied = await run_cli(
        "apply", str(specs), "--deadline", "120", marathon=sandbox.marathon_url, consul=sandbox.consul_url
    )
    assert applied.code == 0, applied.output

    tasks = (await marathon_get(sandbox, "/v2/apps/shop/user-api/tasks"))["tasks"]
    peer = {(task["host"], task["ports"][0]) for task in tasks if task["state"] == "TASK_RUNNING"}
    assert peer and all(port != 8080 for _, port in peer)  # the container port is not what callers dial

    for caller in ("/shop/web", "/func-1/web"):  # func-1 runs no user-api: its name falls back to shop's
        app = (await marathon_get(sandbox, f"/v2/apps{caller}"))["app"]
        bare = app["env"]["USER_API_SRV"]
        parameters = {p["key"]: p["value"] for p in app["container"]["docker"]["parameters"]}
        name = f"{bare}.{parameters['dns-search']}."  # what the resolver's search list makes of a bare name
        found = await until(lambda n=name: srv_lookup(sandbox, n), f"{name} answering", timeout=60)
        assert found == peer, name
        async with httpx.AsyncClient(timeout=5) as client:
            for address, port in found:
                answer = await client.get(f"http://{address}:{port}/health")
                assert answer.status_code == 200 and answer.text == "ok\n", (address, port)
