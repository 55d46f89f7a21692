"""Response shapes of the Consul sandbox compared (keys and JSON types) with published and recorded bodies.

The reference bodies are read from ../shared/reference through the `reference_dir` fixture and never
copied. Enterprise-only keys (Namespace, Partition) and fields of retired versions are not expected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.sandbox.consul import ConsulSandbox

pytestmark = pytest.mark.reference

# Keys a Consul CE 1.18 agent does not send: Enterprise tenancy, retired or connect-only fields.
NOT_EXPECTED = frozenset({"Namespace", "Partition", "ProxyDestination", "SocketPath", "Proxy", "Locality"})
# Maps whose keys are data (ids, names, meta keys), not schema, and the connect blocks whose keys changed
# across versions (1.18 omits empty fields): only their being maps is compared.
DATA_MAPS = frozenset({"Meta", "NodeMeta", "ServiceMeta", "TaggedAddresses", "ServiceTaggedAddresses", "Tags",
                       "Definition", "Services", "Config", "Header", "ServiceProxy", "ServiceConnect"})


def same_shape(expected: Any, actual: Any, where: str = "$") -> list[str]:
    """Differences in keys and JSON types; null on either side stands for any type (Go nil slices and maps)."""
    if expected is None or actual is None:
        return []
    if isinstance(expected, bool) or isinstance(actual, bool):
        return [] if type(expected) is type(actual) else [f"{where}: {type(actual).__name__} != bool"]
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return []
    if type(expected) is not type(actual):
        return [f"{where}: {type(actual).__name__} instead of {type(expected).__name__}"]
    if isinstance(expected, list):
        return [p for item in actual for p in same_shape(expected[0], item, f"{where}[]")] if expected else []
    if isinstance(expected, dict):
        return _dict_shape(expected, actual, where)
    return []


def _dict_shape(expected: dict[str, Any], actual: dict[str, Any], where: str) -> list[str]:
    problems = []
    for key, value in expected.items():
        if key in NOT_EXPECTED:
            continue
        if key not in actual:
            problems.append(f"{where}.{key}: missing")
        elif key in DATA_MAPS and isinstance(value, dict):
            problems += [] if isinstance(actual[key], dict | type(None)) else [f"{where}.{key}: not a map"]
        else:
            problems += same_shape(value, actual[key], f"{where}.{key}")
    return problems


def keyed_shape(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """For maps keyed by id (agent services and checks): every actual value against the first expected value."""
    sample = next(iter(expected.values()))
    return [p for key, value in actual.items() for p in same_shape(sample, value, f"$[{key}]")]


@pytest.fixture
async def seeded(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> dict[str, str]:
    """One of everything: a checked service on agent-1, an external node, a locked key, a query."""
    agent = consul_sandbox.agent_url("agent-1")
    body = {"ID": "redis", "Name": "redis", "Tags": ["primary"], "Port": 8000, "Meta": {"redis_version": "4.0"},
            "TaggedAddresses": {"lan": {"address": "127.0.0.2", "port": 8000}},
            "Check": {"TTL": "30s", "Status": "passing"}}
    assert (await http.put(f"{agent}/v1/agent/service/register", json=body)).status_code == 200
    external = {"Node": "ext", "Address": "192.0.2.10", "NodeMeta": {"external-node": "true"},
                "Service": {"Service": "search", "Port": 80}}
    assert (await http.put(f"{consul_sandbox.url}/v1/catalog/register", json=external)).status_code == 200
    session = (await http.put(f"{consul_sandbox.url}/v1/session/create", json={"TTL": "30s"})).json()["ID"]
    await http.put(f"{consul_sandbox.url}/v1/kv/zip", content=b"test", params={"acquire": session})
    query = {"Name": "my-query", "Session": session, "Service": {"Service": "redis", "Tags": ["primary"]},
             "DNS": {"TTL": "10s"}}
    query_id = (await http.post(f"{consul_sandbox.url}/v1/query", json=query)).json()["ID"]
    return {"session": session, "query": query_id, "agent": agent}


CASES = [
    # (reference file, request path on the agent of agent-1, compared as)
    ("examples/GET_v1_agent_services.response.json", "/v1/agent/services", "keyed"),
    ("examples/GET_v1_agent_health_service_id_SERVICE_ID.critical.response.json",
     "/v1/agent/health/service/id/redis", "plain"),
    ("examples/GET_v1_agent_health_service_name_SERVICE_NAME.response.json",
     "/v1/agent/health/service/name/redis", "plain"),
    ("examples/GET_v1_agent_members.response.json", "/v1/agent/members", "plain"),
    ("examples/GET_v1_catalog_datacenters.response.json", "/v1/catalog/datacenters", "plain"),
    ("examples/GET_v1_catalog_nodes.response.json", "/v1/catalog/nodes", "plain"),
    ("examples/GET_v1_catalog_node_NODE_NAME.response.json", "/v1/catalog/node/agent-1", "plain"),
    ("examples/GET_v1_catalog_service_SERVICE_NAME.response.json", "/v1/catalog/service/redis", "plain"),
    ("examples/GET_v1_catalog_service_SERVICE_NAME.filter_example.unfiltered.response.json",
     "/v1/catalog/service/redis", "plain"),
    ("examples/GET_v1_health_checks_SERVICE.response.json", "/v1/health/checks/redis", "plain"),
    ("examples/GET_v1_health_service_SERVICE.response.json", "/v1/health/service/redis", "plain"),
    ("examples/GET_v1_health_state_STATE.response.json", "/v1/health/state/any", "plain"),
    ("examples/GET_v1_kv_KEY.response.json", "/v1/kv/zip", "plain"),
    ("examples/GET_v1_kv_KEY.keys.response.json", "/v1/kv/?keys", "plain"),
    ("examples/GET_v1_query.response.json", "/v1/query", "plain"),
    ("examples/GET_v1_session_list.response.json", "/v1/session/list", "plain"),
    ("examples/GET_v1_session_node_NODE.response.json", "/v1/session/node/consul-server", "plain"),
    ("examples/GET_v1_status_leader.response.json", "/v1/status/leader", "plain"),
    ("examples/GET_v1_status_peers.response.json", "/v1/status/peers", "plain"),
    ("recorded/criteo__GET_v1_agent_members.json", "/v1/agent/members", "plain"),
    ("recorded/criteo__GET_v1_catalog_datacenters.json", "/v1/catalog/datacenters", "plain"),
    ("recorded/criteo__GET_v1_catalog_node_consul02.prod.json", "/v1/catalog/node/consul-server", "plain"),
    ("recorded/criteo__GET_v1_catalog_node_does_not_exists.json", "/v1/catalog/node/does-not-exist", "plain"),
    ("recorded/criteo__GET_v1_catalog_nodes.json", "/v1/catalog/nodes", "plain"),
    ("recorded/criteo__GET_v1_catalog_services.json", "/v1/catalog/services", "keyed"),
    ("recorded/criteo__GET_v1_health_checks_consul.json", "/v1/health/checks/redis", "plain"),
    ("recorded/criteo__GET_v1_health_node_consul01.prod.json", "/v1/health/node/agent-1", "plain"),
    ("recorded/criteo__GET_v1_health_service_consul.json", "/v1/health/service/redis", "plain"),
    ("recorded/criteo__GET_v1_health_state_critical.json", "/v1/health/state/any", "plain"),
    ("recorded/criteo__GET_v1_kv_json_test.json.json", "/v1/kv/plain", "plain"),
    ("recorded/criteo__GET_v1_kv_keys.json", "/v1/kv/?keys", "plain"),
    ("recorded/jsonrpc4go__GET_v1_agent_health_service_name_java_http.json",
     "/v1/agent/health/service/name/redis", "plain"),
    ("recorded/netdata__v1.13.2__GET_v1_agent_checks.json", "/v1/agent/checks", "keyed"),
    ("recorded/ploperations__GET_v1_catalog_service_consul.json", "/v1/catalog/service/redis", "plain"),
    ("recorded/prometheus__GET_v1_agent_self.minimal.json", "/v1/agent/self", "plain"),
    ("recorded/prometheus__GET_v1_catalog_services.json", "/v1/catalog/services", "keyed"),
    ("recorded/prometheus__GET_v1_health_service_test.json", "/v1/health/service/redis", "plain"),
    ("recorded/signalfx__GET_v1_catalog_node_google.json", "/v1/catalog/node/ext", "plain"),
    ("recorded/signalfx__GET_v1_catalog_node_server-1.json", "/v1/catalog/node/agent-1", "plain"),
    ("recorded/signalfx__GET_v1_health_state_any.json", "/v1/health/state/any", "plain"),
    ("recorded/signalfx__GET_v1_status_leader.json", "/v1/status/leader", "plain"),
    ("recorded/signalfx__GET_v1_status_peers.json", "/v1/status/peers", "plain"),
]


@pytest.mark.parametrize(("reference", "path", "mode"), CASES, ids=[c[0].split("/")[-1] for c in CASES])
async def test_shape_matches_reference(reference_dir: Path, seeded: dict[str, str], http: httpx.AsyncClient,
                                       reference: str, path: str, mode: str) -> None:
    expected = json.loads((reference_dir / "consul" / reference).read_text())
    await http.put(f"{seeded['agent']}/v1/kv/plain", content=b"x")
    response = await http.get(f"{seeded['agent']}{path}")
    assert response.status_code in (200, 429, 503), response.text
    actual = response.json()
    problems = keyed_shape(expected, actual) if mode == "keyed" else same_shape(expected, actual)
    assert problems == [], f"{reference} vs GET {path}"


async def test_no_content_shapes(reference_dir: Path, seeded: dict[str, str], http: httpx.AsyncClient) -> None:
    """Write answers: `true` bodies and `{"ID"}` objects, as the published examples show."""
    examples = reference_dir / "consul" / "examples"
    agent = seeded["agent"]
    assert (await http.put(f"{agent}/v1/kv/k", content=b"v")).json() == json.loads(
        (examples / "PUT_v1_kv_KEY.response.json").read_text())
    assert (await http.delete(f"{agent}/v1/kv/k")).json() == json.loads(
        (examples / "DELETE_v1_kv_KEY.response.json").read_text())
    assert (await http.put(f"{agent}/v1/session/destroy/x")).json() == json.loads(
        (examples / "PUT_v1_session_destroy_UUID.response.json").read_text())
    created = (await http.put(f"{agent}/v1/session/create", json={})).json()
    assert set(created) == set(json.loads((examples / "PUT_v1_session_create.response.json").read_text()))
    renewed = (await http.put(f"{agent}/v1/session/renew/{seeded['session']}")).json()
    assert same_shape(json.loads((examples / "PUT_v1_session_renew_UUID.response.json").read_text()), renewed) == []
    query = {"Name": "q2", "Service": {"Service": "redis"}}
    posted = (await http.post(f"{agent}/v1/query", json=query)).json()
    assert set(posted) == set(json.loads((examples / "POST_v1_query.response.json").read_text()))
    executed = (await http.get(f"{agent}/v1/query/{seeded['query']}/execute")).json()
    sample = json.loads((examples / "GET_v1_query_UUID_execute.response.json").read_text())
    # The published sample nests DNS/Datacenter/Failovers inside Nodes[0] and names the node's `Meta`
    # `NodeMeta`; real answers carry the first three at the top and a node's usual `Meta`.
    node_sample = {k: v for k, v in sample["Nodes"][0].items() if k in ("Node", "Service", "Checks")}
    node_sample["Node"] = {("Meta" if k == "NodeMeta" else k): v for k, v in node_sample["Node"].items()}
    assert same_shape({"Service": "", "Nodes": [node_sample]}, executed) == []
    assert {"DNS", "Datacenter", "Failovers"} <= set(executed)


async def test_request_examples_are_accepted(reference_dir: Path, consul_sandbox: ConsulSandbox,
                                             http: httpx.AsyncClient) -> None:
    """Published request bodies the emulator must take as real Consul does (scripts stay disabled)."""
    examples = reference_dir / "consul" / "examples"
    base = consul_sandbox.url
    catalog = json.loads((examples / "PUT_v1_catalog_register.request.json").read_text())
    assert (await http.put(f"{base}/v1/catalog/register", json=catalog)).text == "true"
    entry = (await http.get(f"{base}/v1/health/service/redis")).json()[0]
    assert entry["Checks"][0]["Status"] == "passing", "catalog checks are data: nothing runs their Definition"
    session = json.loads((examples / "LEADER_ELECTION.PUT_v1_session_create.request.json").read_text())
    session.pop("Node", None)
    assert (await http.put(f"{base}/v1/session/create", json=session)).status_code == 200
    service = json.loads((examples / "PUT_v1_agent_service_register.request.json").read_text())
    refused = await http.put(f"{base}/v1/agent/service/register", json=service)
    assert refused.status_code == 400 and "Scripts are disabled" in refused.text
    query = json.loads((examples / "POST_v1_query.request.json").read_text())
    query["Session"] = ""
    assert (await http.post(f"{base}/v1/query", json=query)).status_code == 200
