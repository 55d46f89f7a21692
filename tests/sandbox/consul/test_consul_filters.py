"""`?filter` selectors of the Consul sandbox: an unknown one fails the request on every filtering endpoint.

FACTS §7: only the selectors of an endpoint's items are valid, and an unknown selector fails the request
instead of being ignored. Known ones, including the published filtering examples, still answer 200.
"""

from __future__ import annotations

import httpx
import pytest

from reconciler.sandbox.consul import ConsulSandbox
from tests.sandbox.consul.fixtures import consul_sandbox_at_real_periods  # noqa: F401

EVALUATOR = "Failed to create boolean expression evaluator"
FILTERING_PATHS = [
    "/v1/agent/services",
    "/v1/agent/checks",
    "/v1/catalog/services",
    "/v1/catalog/service/web",
    "/v1/catalog/nodes",
    "/v1/catalog/node/consul-server",
    "/v1/catalog/node-services/consul-server",
    "/v1/health/service/web",
    "/v1/health/checks/web",
    "/v1/health/state/any",
    "/v1/health/node/consul-server",
]
# (path, selector that only a neighbouring endpoint's items have)
NEIGHBOUR_SELECTORS = [
    ("/v1/agent/services", "ServiceName"),
    ("/v1/catalog/service/web", "Service.ID"),
    ("/v1/health/service/web", "ServiceName"),
    ("/v1/health/service/web", "Service.Bogus"),
    ("/v1/health/service/web", "Service.ID.Inner"),
    ("/v1/health/service/web", "Service.Weights.Critical"),
    ("/v1/health/state/any", "Service.ID"),
    ("/v1/catalog/nodes", "ServiceName"),
]
VALID = [
    ("/v1/agent/services", 'Meta.env == "qa"', ["web-1"]),
    ("/v1/agent/services", 'Kind != "connect-proxy" and Weights.Passing == 1 and Datacenter == "dc1"', ["web-1"]),
    ("/v1/catalog/service/web", 'NodeMeta.os == "linux"', []),
    ("/v1/catalog/service/web", 'ServiceMeta["env"] == "qa" and ServiceProxy.DestinationServiceName != "db"',
     ["web-1"]),
    ("/v1/health/service/web", 'Service.TaggedAddresses.lan.Address == "x" or Checks.Status == "passing"',
     ["web-1"]),
    ("/v1/health/service/web", 'Node.Meta.anything is empty and "primary" in Service.Tags', ["web-1"]),
    ("/v1/health/checks/web", 'ServiceName != "" and Definition.TTL is empty', ["web-1"]),
]


@pytest.fixture
async def seeded(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> ConsulSandbox:
    body = {"Name": "web", "ID": "web-1", "Tags": ["primary"], "Meta": {"env": "qa"},
            "Check": {"TTL": "60s", "Status": "passing"}}
    assert (await http.put(f"{consul_sandbox.url}/v1/agent/service/register", json=body)).status_code == 200
    return consul_sandbox


@pytest.mark.parametrize("path", FILTERING_PATHS)
async def test_unknown_selector_fails_the_request(seeded: ConsulSandbox, http: httpx.AsyncClient, path: str) -> None:
    answer = await http.get(f"{seeded.url}{path}", params={"filter": 'Bogus == "x"'})
    assert answer.status_code == 400, answer.text
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert answer.text.startswith(EVALUATOR) and 'Selector "Bogus" is not valid' in answer.text


async def test_unknown_selector_fails_even_with_no_items(consul_sandbox: ConsulSandbox,
                                                         http: httpx.AsyncClient) -> None:
    for path in ("/v1/catalog/service/web", "/v1/agent/services", "/v1/health/checks/web"):
        answer = await http.get(f"{consul_sandbox.url}{path}", params={"filter": 'Bogus == "x"'})
        assert (answer.status_code, EVALUATOR in answer.text) == (400, True), path


@pytest.mark.parametrize(("path", "selector"), NEIGHBOUR_SELECTORS)
async def test_selector_of_another_endpoint_is_unknown(seeded: ConsulSandbox, http: httpx.AsyncClient, path: str,
                                                       selector: str) -> None:
    answer = await http.get(f"{seeded.url}{path}", params={"filter": f'"x" in {selector} or ServiceID == "y"'})
    assert answer.status_code == 400, answer.text
    assert "is not valid" in answer.text


@pytest.mark.parametrize(("path", "expression", "expected"), VALID)
async def test_known_selectors_still_filter(seeded: ConsulSandbox, http: httpx.AsyncClient, path: str,
                                            expression: str, expected: list[str]) -> None:
    answer = await http.get(f"{seeded.url}{path}", params={"filter": expression})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    ids = sorted(body) if isinstance(body, dict) else sorted(
        e.get("ServiceID") or e.get("CheckID") or e["Service"]["ID"] for e in body)
    assert ids == expected


async def test_catalog_services_applies_the_filter_per_instance(seeded: ConsulSandbox,
                                                                http: httpx.AsyncClient) -> None:
    url = f"{seeded.url}/v1/catalog/services"
    assert (await http.get(url, params={"filter": 'ServiceMeta.env == "qa"'})).json() == {"web": ["primary"]}
    assert (await http.get(url, params={"filter": 'ServiceName == "consul"'})).json() == {}


async def test_a_bad_filter_fails_a_blocking_read_at_once(seeded: ConsulSandbox) -> None:
    url = f"{seeded.url}/v1/health/service/web"
    async with httpx.AsyncClient(timeout=5.0) as client:
        index = (await client.get(url)).headers["X-Consul-Index"]
        answer = await client.get(url, params={"index": index, "wait": "60s", "filter": 'Bogus == "x"'})
    assert answer.status_code == 400
