"""Empty trailing path parameters of the Consul sandbox: Consul's own 400/404 texts, never "404 page not found".

Consul reads the parameter as the rest of the path (`/v1/health/service/` gives ""), so an empty one is
answered by the endpoint: 400 `Missing …` (FACTS §0) where the handler checks for it, or the endpoint's
unknown-id answer where it does not (agent service and check ids, FACTS §0 and pitfall 12; queries).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from reconciler.sandbox.consul import ConsulSandbox

UNKNOWN_SERVICE = 'Unknown service ID "". Ensure that the service ID is passed, not the service name.'
UNKNOWN_CHECK = 'Unknown check ID "". Ensure that the check ID is passed, not the check name.'
QUERY_BODY = {"Service": {"Service": "web"}}
NO_SUCH_QUERY_ID = "Prepared Query lookup failed: failed prepared query lookup: UUID must be 36 characters"
EMPTY_PARAMETER: list[tuple[str, str, Any, int, str]] = [
    ("GET", "/v1/catalog/service/", None, 400, "Missing service name"),
    ("GET", "/v1/catalog/node/", None, 400, "Missing node name"),
    ("GET", "/v1/catalog/node-services/", None, 400, "Missing node name"),
    ("GET", "/v1/health/service/", None, 400, "Missing service name"),
    ("GET", "/v1/health/service/?passing", None, 400, "Missing service name"),
    ("GET", "/v1/health/checks/", None, 400, "Missing service name"),
    ("GET", "/v1/health/state/", None, 400, "Missing check state"),
    ("GET", "/v1/health/node/", None, 400, "Missing node name"),
    ("PUT", "/v1/session/renew/", None, 400, "Missing session"),
    ("PUT", "/v1/session/destroy/", None, 400, "Missing session"),
    ("GET", "/v1/session/info/", None, 400, "Missing session"),
    ("GET", "/v1/session/node/", None, 400, "Missing node name"),
    ("GET", "/v1/agent/health/service/name/", None, 400, "Missing service Name"),
    ("GET", "/v1/agent/health/service/id/", None, 400, "Missing serviceID"),
    ("PUT", "/v1/agent/service/maintenance/", None, 400, "Missing service ID"),
    ("PUT", "/v1/agent/service/maintenance/?enable=true", None, 400, "Missing service ID"),
    ("GET", "/v1/agent/service/", None, 404, UNKNOWN_SERVICE),
    ("PUT", "/v1/agent/service/deregister/", None, 404, UNKNOWN_SERVICE),
    ("PUT", "/v1/agent/check/deregister/", None, 404, UNKNOWN_CHECK),
    ("PUT", "/v1/agent/check/pass/", None, 404, UNKNOWN_CHECK),
    ("PUT", "/v1/agent/check/warn/", None, 404, UNKNOWN_CHECK),
    ("PUT", "/v1/agent/check/fail/", None, 404, UNKNOWN_CHECK),
    ("PUT", "/v1/agent/check/update/", {"Status": "passing"}, 404, UNKNOWN_CHECK),
    ("GET", "/v1/query/", None, 404, "Query not found"),
    # agent/consul/prepared_query_endpoint.go Apply looks the ID up in go-memdb's UUID index first.
    ("PUT", "/v1/query/", QUERY_BODY, 500, NO_SUCH_QUERY_ID),
    ("DELETE", "/v1/query/", None, 500, NO_SUCH_QUERY_ID),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "text"), EMPTY_PARAMETER,
                         ids=[f"{row[0]} {row[1]}" for row in EMPTY_PARAMETER])
async def test_empty_trailing_parameter_answers_the_endpoint_text(consul_sandbox: ConsulSandbox,
                                                                  http: httpx.AsyncClient, method: str, path: str,
                                                                  body: Any, status: int, text: str) -> None:
    answer = await http.request(method, f"{consul_sandbox.url}{path}", json=body)
    assert (answer.status_code, answer.text) == (status, text)
    assert answer.headers["Content-Type"].startswith("text/plain")


async def test_empty_parameter_is_not_a_wildcard(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    """Known names still answer; the KV root stays a listing, not an error (FACTS §8)."""
    base = consul_sandbox.url
    assert (await http.get(f"{base}/v1/health/state/any")).status_code == 200
    assert (await http.get(f"{base}/v1/catalog/node/consul-server")).json()["Node"]["Node"] == "consul-server"
    assert (await http.get(f"{base}/v1/kv/?keys")).json() == []
