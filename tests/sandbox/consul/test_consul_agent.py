"""Agent endpoints of the Consul sandbox over real HTTP: registration, checks, maintenance, agent health."""

from __future__ import annotations

import httpx

from reconciler.sandbox.consul import ConsulSandbox, agent_nodes
from tests.sandbox.consul.fixtures import SandboxFactory, consul_sandbox_at_real_periods  # noqa: F401


async def register(http: httpx.AsyncClient, base: str, body: dict[str, object], **params: str) -> httpx.Response:
    response = await http.put(f"{base}/v1/agent/service/register", json=body, params=params)
    assert response.status_code == 200, response.text
    return response


async def test_register_pascal_case_appears_in_agent_and_catalog(consul_sandbox: ConsulSandbox,
                                                                 http: httpx.AsyncClient) -> None:
    base = consul_sandbox.agent_url("agent-1")
    await register(http, base, {"ID": "redis1", "Name": "redis", "Tags": ["primary"], "Port": 8000,
                                "Meta": {"v": "4"}, "Weights": {"Passing": 10, "Warning": 1}})
    services = (await http.get(f"{base}/v1/agent/services")).json()
    assert list(services) == ["redis1"]
    assert services["redis1"]["Service"] == "redis"
    assert services["redis1"]["Weights"] == {"Passing": 10, "Warning": 1}
    assert (await http.get(f"{consul_sandbox.url}/v1/agent/services")).json() == {}
    catalog = (await http.get(f"{consul_sandbox.url}/v1/catalog/service/redis")).json()
    assert [(e["Node"], e["ServiceID"], e["Address"]) for e in catalog] == [("agent-1", "redis1", "127.0.0.2")]


async def test_register_snake_case_body(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    await register(http, consul_sandbox.url, {"name": "web", "id": "web-1", "port": 80, "enable_tag_override": True,
                                              "check": {"ttl": "30s", "status": "passing",
                                                        "deregister_critical_service_after": "90m"}})
    service = (await http.get(f"{consul_sandbox.url}/v1/agent/service/web-1")).json()
    assert service["EnableTagOverride"] is True
    checks = (await http.get(f"{consul_sandbox.url}/v1/agent/checks")).json()
    assert checks["service:web-1"]["Status"] == "passing"
    assert checks["service:web-1"]["Definition"]["DeregisterCriticalServiceAfter"] == "1h30m0s"


async def test_generated_check_ids_and_default_critical(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    await register(http, consul_sandbox.url, {"Name": "api", "ID": "api-1", "Checks": [{"TTL": "30s"}, {"TTL": "60s"}]})
    checks = (await http.get(f"{consul_sandbox.url}/v1/agent/checks")).json()
    assert sorted(checks) == ["service:api-1:1", "service:api-1:2"]
    assert {c["Status"] for c in checks.values()} == {"critical"}
    assert checks["service:api-1:1"]["Name"] == "Service 'api' check"


async def test_replace_existing_checks(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    base = consul_sandbox.url
    await register(http, base, {"Name": "api", "ID": "api-1", "Checks": [{"CheckID": "a", "Name": "a", "TTL": "9s"},
                                                                         {"CheckID": "b", "Name": "b", "TTL": "9s"}]})
    await register(http, base, {"Name": "api", "ID": "api-1", "Check": {"CheckID": "a", "Name": "a", "TTL": "9s"}})
    assert sorted((await http.get(f"{base}/v1/agent/checks")).json()) == ["a", "b"]
    await register(http, base, {"Name": "api", "ID": "api-1", "Check": {"CheckID": "a", "Name": "a", "TTL": "9s"}},
                   **{"replace-existing-checks": "true"})
    assert sorted((await http.get(f"{base}/v1/agent/checks")).json()) == ["a"]


async def test_deregister_removes_service_and_checks_and_unknown_is_404(consul_sandbox: ConsulSandbox,
                                                                        http: httpx.AsyncClient) -> None:
    base = consul_sandbox.url
    await register(http, base, {"Name": "api", "Check": {"TTL": "9s"}})
    assert (await http.put(f"{base}/v1/agent/service/deregister/api")).status_code == 200
    assert (await http.get(f"{base}/v1/agent/checks")).json() == {}
    missing = await http.put(f"{base}/v1/agent/service/deregister/api")
    assert missing.status_code == 404
    assert missing.text == 'Unknown service ID "api". Ensure that the service ID is passed, not the service name.'
    assert missing.headers["content-type"].startswith("text/plain")


async def test_ttl_pass_warn_fail_update(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    base = consul_sandbox.url
    await register(http, base, {"Name": "api", "Check": {"TTL": "60s"}})

    async def status() -> tuple[str, str]:
        check = (await http.get(f"{base}/v1/agent/checks")).json()["service:api"]
        return check["Status"], check["Output"]

    await http.put(f"{base}/v1/agent/check/pass/service:api", params={"note": "all good"})
    assert await status() == ("passing", "all good")
    await http.put(f"{base}/v1/agent/check/warn/service:api")
    assert (await status())[0] == "warning"
    await http.put(f"{base}/v1/agent/check/fail/service:api")
    assert (await status())[0] == "critical"
    response = await http.put(f"{base}/v1/agent/check/update/service:api", json={"Status": "passing", "Output": "ok"})
    assert response.status_code == 200
    assert await status() == ("passing", "ok")
    unknown = await http.put(f"{base}/v1/agent/check/pass/nope")
    assert unknown.status_code == 404
    assert unknown.text == 'Unknown check ID "nope". Ensure that the check ID is passed, not the check name.'
    bad = await http.put(f"{base}/v1/agent/check/update/service:api", json={"Status": "fine"})
    assert bad.status_code == 400


async def test_check_register_and_deregister(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    base = consul_sandbox.url
    response = await http.put(f"{base}/v1/agent/check/register", json={"Name": "mem", "TTL": "30s"})
    assert response.status_code == 200
    assert (await http.get(f"{base}/v1/agent/checks")).json()["mem"]["ServiceID"] == ""
    orphan = await http.put(f"{base}/v1/agent/check/register", json={"Name": "x", "TTL": "9s", "ServiceID": "none"})
    assert orphan.status_code == 400
    script = await http.put(f"{base}/v1/agent/check/register", json={"Name": "s", "Args": ["true"], "Interval": "5s"})
    assert script.status_code == 400 and "Scripts are disabled" in script.text
    assert (await http.put(f"{base}/v1/agent/check/deregister/mem")).status_code == 200
    assert (await http.put(f"{base}/v1/agent/check/deregister/mem")).status_code == 404


async def test_service_and_node_maintenance(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    base = consul_sandbox.url
    await register(http, base, {"Name": "api", "Check": {"TTL": "60s", "Status": "passing"}})
    assert (await http.put(f"{base}/v1/agent/service/maintenance/api")).status_code == 400
    await http.put(f"{base}/v1/agent/service/maintenance/api", params={"enable": "true", "reason": "deploy"})
    checks = (await http.get(f"{base}/v1/agent/checks")).json()
    assert checks["_service_maintenance:api"]["Status"] == "critical"
    assert checks["_service_maintenance:api"]["Notes"] == "deploy"
    assert (await http.get(f"{base}/v1/health/service/api", params={"passing": ""})).json() == []
    health = await http.get(f"{base}/v1/agent/health/service/id/api", params={"format": "text"})
    assert (health.status_code, health.text) == (503, "maintenance")
    await http.put(f"{base}/v1/agent/service/maintenance/api", params={"enable": "false"})
    assert len((await http.get(f"{base}/v1/health/service/api", params={"passing": "1"})).json()) == 1
    await http.put(f"{base}/v1/agent/maintenance", params={"enable": "true"})
    assert "_node_maintenance" in (await http.get(f"{base}/v1/agent/checks")).json()
    assert (await http.get(f"{base}/v1/health/service/api", params={"passing": "true"})).json() == []
    unknown = await http.put(f"{base}/v1/agent/service/maintenance/nope", params={"enable": "true"})
    assert unknown.status_code == 404


async def test_agent_health_status_codes(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    base = consul_sandbox.url
    for sid in ("w1", "w2"):
        await register(http, base, {"Name": "web", "ID": sid, "Check": {"TTL": "60s", "Status": "passing"}})
    by_name = await http.get(f"{base}/v1/agent/health/service/name/web")
    assert by_name.status_code == 200
    assert [e["AggregatedStatus"] for e in by_name.json()] == ["passing", "passing"]
    await http.put(f"{base}/v1/agent/check/warn/service:w2")
    assert (await http.get(f"{base}/v1/agent/health/service/name/web")).status_code == 429
    assert (await http.get(f"{base}/v1/agent/health/service/id/w1")).status_code == 200
    await http.put(f"{base}/v1/agent/check/fail/service:w2")
    by_id = await http.get(f"{base}/v1/agent/health/service/id/w2")
    assert by_id.status_code == 503
    assert by_id.json()["AggregatedStatus"] == "critical"
    text = await http.get(f"{base}/v1/agent/health/service/name/web", params={"format": "text"})
    assert (text.status_code, text.text) == (503, "critical")
    assert (await http.get(f"{base}/v1/agent/health/service/name/nope")).status_code == 404


async def test_self_members_and_wire_conventions(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    me = (await http.get(f"{consul_sandbox.agent_url('agent-1')}/v1/agent/self")).json()
    assert me["Config"]["NodeName"] == "agent-1" and me["Config"]["Datacenter"] == "dc1"
    assert me["Config"]["Server"] is False
    members = (await http.get(f"{consul_sandbox.url}/v1/agent/members")).json()
    assert sorted(m["Name"] for m in members) == ["agent-1", "consul-server"]
    wrong_verb = await http.post(f"{consul_sandbox.url}/v1/agent/service/register", json={})
    assert wrong_verb.status_code == 405
    assert wrong_verb.headers["Allow"] == "PUT"
    assert wrong_verb.headers["X-Consul-Default-ACL-Policy"] == "allow"
    bad_body = await http.put(f"{consul_sandbox.url}/v1/agent/service/register", content=b"{nope")
    assert bad_body.status_code == 400 and bad_body.text.startswith("Request decode failed")
    assert (await http.put(f"{consul_sandbox.url}/v1/agent/service/register", json={"Port": 1})).text == (
        "Missing service name")


async def test_agents_of_every_marathon_host_share_one_port(consul_sandbox_factory: SandboxFactory,
                                                            http: httpx.AsyncClient) -> None:
    sandbox = await consul_sandbox_factory(nodes=agent_nodes(3))
    assert [sandbox.agent_url(f"agent-{n}") for n in (1, 2, 3)] == [
        f"http://127.0.0.{n}:{sandbox.port}" for n in (2, 3, 4)]
    for n in (1, 2, 3):
        body = {"Name": "api", "ID": f"api-{n}", "Check": {"TTL": "60s", "Status": "passing"}}
        await register(http, f"http://127.0.0.{n + 1}:{sandbox.port}", body)
    entries = (await http.get(f"{sandbox.url}/v1/health/service/api")).json()
    assert sorted((e["Node"]["Node"], e["Node"]["Address"]) for e in entries) == [
        ("agent-1", "127.0.0.2"), ("agent-2", "127.0.0.3"), ("agent-3", "127.0.0.4")]
