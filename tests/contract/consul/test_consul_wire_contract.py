"""Contract: Consul's published example bodies and real recorded answers parse through ConsulClient,
and the request bodies the client sends use only keys of Consul's published request examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.consul import wire
from reconciler.consul.client import ConsulClient
from reconciler.consul.translate import TaggedService, instances_of, node_services, observed_queries_of
from reconciler.core.queries import query_body, query_of
from reconciler.core.registrations import registration_of
from reconciler.core.registry import MANAGED_TAG, CheckStatus
from tests.unit.consul.consul_world import HTTP_CHECK, actual_app, desired_app, task

pytestmark = pytest.mark.reference

# FACTS.md pitfall 15: published doc samples that are not valid JSON.
MALFORMED = {
    "GET_v1_agent_checks.response.json": 'published sample misses a comma after "Timeout": "1s"',
    "GET_v1_agent_self.response.json": "published sample elides DebugConfig with '...' lines",
}


@pytest.fixture
def consul_dir(reference_dir: Path) -> Path:
    return reference_dir / "consul"


def serving(path: Path) -> ConsulClient:
    """A client whose every request is answered with the bytes of `path` (and an index header)."""
    content = path.read_bytes()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=content, headers={"X-Consul-Index": "7"})

    return ConsulClient("http://127.0.0.1:8500", transport=httpx.MockTransport(handler), retries=0)


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_doc_samples_are_left_out_for_their_reason(consul_dir: Path, name: str) -> None:
    """Not a skip (CI fails skips): the test proves the sample is still malformed, so leaving it out holds."""
    with pytest.raises(json.JSONDecodeError):
        json.loads((consul_dir / "examples" / name).read_text())


# agent ------------------------------------------------------------------------------------------


async def test_agent_services_example(consul_dir: Path) -> None:
    async with serving(consul_dir / "examples/GET_v1_agent_services.response.json") as client:
        services = await client.get_agent_services()
    redis = services["redis"]
    assert (redis.id, redis.service, redis.port, redis.address) == ("redis", "redis", 8000, "")
    assert redis.meta == {"redis_version": "4.0"} and redis.tags == []
    assert redis.weights.passing == 10 and redis.weights.warning == 1
    assert redis.tagged_addresses["wan"] == {"address": "198.51.100.53", "port": 80}


@pytest.mark.parametrize(
    ("name", "ids"),
    [
        ("GET_v1_agent_services.filter_example.filtered.response.json", ["redis3"]),
        ("GET_v1_agent_services.filter_example.unfiltered.response.json", ["redis1", "redis2", "redis3"]),
    ],
)
async def test_agent_services_filter_examples(consul_dir: Path, name: str, ids: list[str]) -> None:
    async with serving(consul_dir / "examples" / name) as client:
        services = await client.get_agent_services()
    assert sorted(services) == ids
    assert services["redis3"].tags == ["primary", "qa"] and services["redis3"].meta == {"env": "qa"}


async def test_agent_checks_recorded_netdata(consul_dir: Path) -> None:
    async with serving(consul_dir / "recorded/netdata__v1.13.2__GET_v1_agent_checks.json") as client:
        checks = await client.get_agent_checks()
    assert sorted(checks) == ["chk1", "chk2", "chk3", "mysql"]
    mysql = checks["mysql"]
    assert (mysql.status, mysql.service_id, mysql.service_name) == ("critical", "mysql0", "mysql")
    assert mysql.service_tags == ["primary", "secondary"] and mysql.definition == {}
    assert checks["chk1"].output == "TCP connect 127.0.0.1:22: Success"


@pytest.mark.parametrize(
    ("name", "node_name", "datacenter", "version"),
    [
        ("criteo__GET_v1_agent_self.json", "C02Q3L7GG8WP", "dc1", "0.9.3"),
        ("netdata__v1.13.2__GET_v1_agent_self.json", "satya-vm", "us-central", "1.13.2"),
        (
            "netdata__v1.14.3-cloud__GET_v1_agent_self.json",
            "ip-172-25-37-57",
            "consul-sandbox-cluster-0159c9d3",
            "1.14.3+ent",
        ),
        ("prometheus__GET_v1_agent_self.minimal.json", "", "test-dc", ""),
    ],
)
async def test_agent_self_recorded(consul_dir: Path, name: str, node_name: str, datacenter: str, version: str) -> None:
    async with serving(consul_dir / "recorded" / name) as client:
        agent = await client.get_agent_self()
    assert (agent.config.node_name, agent.config.datacenter, agent.config.version) == (node_name, datacenter, version)


async def test_agent_self_criteo_member_and_domain(consul_dir: Path) -> None:
    async with serving(consul_dir / "recorded/criteo__GET_v1_agent_self.json") as client:
        agent = await client.get_agent_self()
    assert agent.config.domain == "consul." and agent.config.server is True
    assert agent.member["Addr"] == "127.0.0.1"


# health -----------------------------------------------------------------------------------------


async def test_health_service_example(consul_dir: Path) -> None:
    async with serving(consul_dir / "examples/GET_v1_health_service_SERVICE.response.json") as client:
        entries, state = await client.get_health_service("redis")
    (entry,) = entries
    assert state.index == 7
    assert entry.node.node == "foobar" and entry.node.address == "10.1.10.12"
    assert entry.node.meta == {"instance_type": "t2.medium"}
    assert entry.service.tags == ["primary"] and entry.service.port == 8000
    assert [c.check_id for c in entry.checks] == ["service:redis", "serfHealth"]
    (instance,) = instances_of(entries)
    assert instance.status == CheckStatus.PASSING and instance.agent_address == "10.1.10.12"


async def test_health_service_recorded_criteo_mixed_states(consul_dir: Path) -> None:
    async with serving(consul_dir / "recorded/criteo__GET_v1_health_service_consul.json") as client:
        entries, _ = await client.get_health_service("consul")
    instances = instances_of(entries)
    assert [i.node for i in instances] == ["consul01.prod", "consul02.prod", "consul03.prod", "consul04.prod"]
    assert [i.status for i in instances] == [
        CheckStatus.PASSING,
        CheckStatus.WARNING,
        CheckStatus.PASSING,
        CheckStatus.CRITICAL,
    ]
    assert instances[0].address == "5.6.7.8"  # the service's own address
    assert instances[1].address == "10.251.1.96"  # empty service address: the node's
    assert entries[0].node.meta == {}  # "Meta": null on an old node
    assert entries[0].service.weights.passing == 42


async def test_health_service_recorded_prometheus(consul_dir: Path) -> None:
    async with serving(consul_dir / "recorded/prometheus__GET_v1_health_service_test.json") as client:
        entries, _ = await client.get_health_service("test")
    (entry,) = entries
    assert entry.service.meta == {"version": "1.0.0", "environment": "staging"}
    assert entry.checks[0].check_id == "serfHealth" and entry.checks[0].service_id == ""
    assert instances_of(entries)[0].address == "1.1.1.1"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("examples/GET_v1_health_state_STATE.response.json", [("serfHealth", "passing"), ("service:redis", "passing")]),
        ("recorded/criteo__GET_v1_health_state_critical.json", [("disk_check", "critical")]),
        ("recorded/criteo__GET_v1_health_state_warning.json", [("disk_check", "warning")]),
        ("recorded/signalfx__GET_v1_health_state_any.json", [("serfHealth", "passing")] * 4),
    ],
)
async def test_health_state(consul_dir: Path, path: str, expected: list[tuple[str, str]]) -> None:
    async with serving(consul_dir / path) as client:
        checks, state = await client.get_health_state("any")
    assert [(c.check_id, c.status) for c in checks] == expected
    assert state.index == 7


# catalog ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            "examples/GET_v1_catalog_services.response.json",
            {"consul": [], "redis": [], "postgresql": ["primary", "secondary"]},
        ),
        ("recorded/criteo__GET_v1_catalog_services.json", {"consul": ["http", "UI"]}),
        ("recorded/prometheus__GET_v1_catalog_services.json", {"test": ["tag1"], "other": ["tag2"]}),
    ],
)
async def test_catalog_services(consul_dir: Path, path: str, expected: dict[str, list[str]]) -> None:
    async with serving(consul_dir / path) as client:
        services, _ = await client.get_catalog_services()
    assert services == expected


@pytest.mark.parametrize(
    ("path", "nodes"),
    [
        ("examples/GET_v1_catalog_nodes.response.json", [("baz", "10.1.10.11"), ("t2.320", "10.1.10.12")]),
        (
            "recorded/criteo__GET_v1_catalog_nodes.json",
            [
                ("consul01.prod", "10.251.1.98"),
                ("consul02.prod", "10.251.1.96"),
                ("consul03.prod", "10.251.1.97"),
                ("consul04.prod", "10.251.1.99"),
            ],
        ),
        (
            "recorded/signalfx__GET_v1_catalog_nodes.json",
            [
                ("client-1", "10.2.6.17"),
                ("google", "www.google.com"),
                ("server-1", "10.2.5.60"),
                ("server-2", "10.2.2.84"),
                ("server-3", "10.2.1.34"),
            ],
        ),
    ],
)
async def test_catalog_nodes(consul_dir: Path, path: str, nodes: list[tuple[str, str]]) -> None:
    async with serving(consul_dir / path) as client:
        parsed, _ = await client.get_catalog_nodes()
    assert [(n.node, n.address) for n in parsed] == nodes
    assert all(isinstance(n.meta, dict) and isinstance(n.tagged_addresses, dict) for n in parsed)


@pytest.mark.parametrize(
    ("path", "tag", "node", "tagged", "services"),
    [
        (
            "examples/GET_v1_catalog_node_NODE_NAME.response.json", "v1", ("t2-node", "10.1.10.12"),
            (TaggedService("redis", "redis", "10.1.10.12", 8000, ("v1",), {"redis_version": "4.0"}),),
            ["consul", "redis"],
        ),
        ("recorded/signalfx__GET_v1_catalog_node_server-1.json", "", ("server-1", "10.2.5.60"), (), ["consul"]),
        ("recorded/signalfx__GET_v1_catalog_node_google.json", "", ("google", "www.google.com"), (), ["search"]),
        ("recorded/criteo__GET_v1_catalog_node_consul02.prod.json", "v1", ("consul02.prod", "10.251.1.96"), (), []),
    ],
)
async def test_catalog_node(
    consul_dir: Path, path: str, tag: str, node: tuple[str, str], tagged: tuple[TaggedService, ...],
    services: list[str],
) -> None:
    """Read as a cycle reads each node (its services of one tag); the same as through the node's model,
    which reads every service of the answer."""
    async with serving(consul_dir / path) as client:
        found, state = await client.get_catalog_node_services(node[0], tag)
    model = wire.CatalogNode.model_validate_json((consul_dir / path).read_bytes())
    assert found is not None and (found.node, found.address) == node and found.services == tagged
    assert found == node_services(model, tag) and state.index == 7
    assert sorted(model.services) == services and all(isinstance(s.tags, list) for s in model.services.values())


async def test_catalog_node_of_an_unknown_node_is_none(consul_dir: Path) -> None:
    async with serving(consul_dir / "recorded/criteo__GET_v1_catalog_node_does_not_exists.json") as client:
        found, _ = await client.get_catalog_node_services("does-not-exist", MANAGED_TAG)
    assert found is None


# KV and sessions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "key", "value", "modify_index", "session"),
    [
        ("examples/GET_v1_kv_KEY.response.json", "zip", b"test", 200, "adf4238a-882b-9ddc-4a9d-5b6758e4159e"),
        (
            "examples/LEADER_ELECTION.GET_v1_kv_KEY.index_1.response.json",
            "service/leader",
            b'{"Node": "hashicups-db-0"}',
            13061,
            "d21d60ad-c2d2-b32a-7432-ca4048a4a7d6",
        ),
        (
            "examples/LEADER_ELECTION.GET_v1_kv_KEY.index_13061.response.json",
            "service/leader",
            b'{"Node": "hashicups-db-1"}',
            13329,
            "d21d60ad-c2d2-b32a-7432-ca4048a4a7d6",
        ),
        (
            "recorded/criteo__GET_v1_kv_json_test.json.json",
            "json/test.json",
            b'{"toto": {"tata": "titi"}}\n',
            691548859,
            "",
        ),
        (
            "recorded/criteo__GET_v1_kv_services-data_web-preview_network-service.json",
            "services-data/web-preview/network-service",
            b'{"domain":"criteo.com","name":"preview"}',
            691548859,
            "",
        ),
    ],
)
async def test_kv_get(consul_dir: Path, path: str, key: str, value: bytes, modify_index: int, session: str) -> None:
    async with serving(consul_dir / path) as client:
        pair, _ = await client.get_kv(key)
    assert pair is not None
    assert (pair.key, pair.value, pair.modify_index, pair.session) == (key, value, modify_index, session)


@pytest.mark.parametrize(
    "path",
    ["examples/PUT_v1_kv_KEY.response.json", "examples/DELETE_v1_kv_KEY.response.json"],
)
async def test_kv_write_answers_true(consul_dir: Path, path: str) -> None:
    async with serving(consul_dir / path) as client:
        assert await client.put_kv("k", b"v") is True
        assert await client.delete_kv("k") is True


@pytest.mark.parametrize(
    ("path", "session_id"),
    [
        ("examples/PUT_v1_session_create.response.json", "adf4238a-882b-9ddc-4a9d-5b6758e4159e"),
        ("examples/LEADER_ELECTION.PUT_v1_session_create.response.json", "d21d60ad-c2d2-b32a-7432-ca4048a4a7d6"),
    ],
)
async def test_session_create_answer(consul_dir: Path, path: str, session_id: str) -> None:
    async with serving(consul_dir / path) as client:
        assert await client.put_session_create(name="reconciler") == session_id


@pytest.mark.parametrize(
    ("path", "name", "node", "modify_index"),
    [
        ("examples/PUT_v1_session_renew_UUID.response.json", "test-session", "raja-laptop-02", 1086449),
        ("examples/LEADER_ELECTION.PUT_v1_session_renew_UUID.response.json", "test", "consul-server-0", 11842),
    ],
)
async def test_session_renew_answer(consul_dir: Path, path: str, name: str, node: str, modify_index: int) -> None:
    async with serving(consul_dir / path) as client:
        session = await client.put_session_renew("x")
    assert (session.name, session.node, session.modify_index) == (name, node, modify_index)
    assert session.ttl == "30s" and session.lock_delay == 15_000_000_000 and session.node_checks == ["serfHealth"]


async def test_session_destroy_answer(consul_dir: Path) -> None:
    """The recorded answer is the JSON literal `true`; the client sends a PUT to the session's path."""
    recorded = (consul_dir / "examples/PUT_v1_session_destroy_UUID.response.json").read_bytes()
    assert json.loads(recorded) is True
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=recorded if "adf4238a" in request.url.path else b"false")

    transport = httpx.MockTransport(handler)
    async with ConsulClient("http://127.0.0.1:8500", transport=transport, retries=0) as client:
        assert await client.put_session_destroy("adf4238a-882b-9ddc-4a9d-5b6758e4159e") is True
        assert await client.put_session_destroy("other/id") is False  # whatever is not `true` is no success
    assert [(r.method, r.url.raw_path.decode()) for r in seen] == [
        ("PUT", "/v1/session/destroy/adf4238a-882b-9ddc-4a9d-5b6758e4159e"),
        ("PUT", "/v1/session/destroy/other%2Fid"),
    ]


# prepared queries -------------------------------------------------------------------------------


async def test_query_list_example(consul_dir: Path) -> None:
    async with serving(consul_dir / "examples/GET_v1_query.response.json") as client:
        (query,) = await client.get_queries()
    assert query.id == "8f246b77-f3e1-ff88-5b48-8ec93abf3e05" and query.name == "my-query"
    assert query.service.tags == ["primary", "!experimental"] and query.service.only_passing is False
    assert query.service.failover is not None and query.service.failover.datacenters == ["dc1", "dc2"]
    assert query.raft_index.modify_index == 42 and query.dns is not None and query.dns.ttl == "10s"
    assert "<hidden>" not in repr(query)  # the Token field stays out of reprs
    observed = observed_queries_of([query])["my-query"]
    assert observed.managed is False and observed.tags == ("primary", "!experimental")


@pytest.mark.parametrize(
    ("path", "query_id"),
    [
        ("examples/POST_v1_query.response.json", "8f246b77-f3e1-ff88-5b48-8ec93abf3e05"),
        ("examples/POST_v1_query.compact.response.json", "014af5ff-29e6-e972-dcf8-6ee602137127"),
    ],
)
async def test_query_create_answer(consul_dir: Path, path: str, query_id: str) -> None:
    definition = wire.PreparedQueryDefinition(service=wire.QueryService(service="redis"))
    async with serving(consul_dir / path) as client:
        assert await client.post_query(definition) == query_id


async def test_query_execute_example(consul_dir: Path) -> None:
    async with serving(consul_dir / "examples/GET_v1_query_UUID_execute.response.json") as client:
        result = await client.get_query_execute("my-query")
    assert result.service == "redis"
    (entry,) = result.nodes
    assert entry.node.node == "foobar" and entry.node.meta == {"instance_type": "m3.large"}  # `NodeMeta` here
    assert entry.service.tags == [] and entry.service.port == 8000  # "Tags": null
    assert instances_of(result.nodes)[0].status == CheckStatus.PASSING


# request bodies ---------------------------------------------------------------------------------


def keys_of(body: dict[str, Any]) -> set[str]:
    return set(body)


def test_registration_body_uses_published_keys(consul_dir: Path) -> None:
    example = json.loads((consul_dir / "examples/PUT_v1_agent_service_register.request.json").read_text())
    check_example = json.loads((consul_dir / "examples/PUT_v1_agent_check_register.request.json").read_text())
    wanted = desired_app("integration", "redis", healthChecks=[HTTP_CHECK])
    t = task(wanted.app_id, 1)
    body = registration_of(actual_app(wanted, [t]), t, "integration", "redis", wanted.heal)
    registration = wire.ServiceRegistration.model_validate(body).to_body()
    assert registration == body  # the wire model keeps every key the core planned
    assert keys_of(registration) <= keys_of(example)
    check_keys = keys_of(example["Check"]) | keys_of(check_example) | {"Status"}  # Status: FACTS §1 check fields
    assert keys_of(registration["Check"]) <= check_keys
    assert {"ID", "Name", "Tags", "Address", "Port", "Meta", "Check"} <= keys_of(registration)


@pytest.mark.parametrize(
    "name", ["PUT_v1_session_create.request.json", "LEADER_ELECTION.PUT_v1_session_create.request.json"]
)
async def test_session_create_body_uses_published_keys(consul_dir: Path, name: str) -> None:
    example = json.loads((consul_dir / "examples" / name).read_text())
    full = json.loads((consul_dir / "examples/PUT_v1_session_create.request.json").read_text())
    sent: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json={"ID": "s"})

    async with ConsulClient("http://127.0.0.1:8500", transport=httpx.MockTransport(handler)) as client:
        await client.put_session_create(name=example["Name"], node_checks=["serfHealth"])
    assert keys_of(sent[0]) <= keys_of(full)
    assert sent[0]["Name"] == example["Name"]


def test_prepared_query_body_uses_published_keys(consul_dir: Path) -> None:
    example = json.loads((consul_dir / "examples/POST_v1_query.request.json").read_text())
    body = query_body(query_of("redis", "func-1", "integration"))
    definition = wire.PreparedQueryDefinition.model_validate(body).to_body()
    assert definition == body
    assert keys_of(definition) <= keys_of(example)
    assert keys_of(definition["Service"]) <= keys_of(example["Service"])
    assert "Token" not in definition


@pytest.mark.parametrize(
    "name",
    ["GET_v1_catalog_services.with_headers.response.http", "GET_v1_catalog_services.acl_filtered.response.http"],
)
async def test_catalog_services_transcripts_with_headers(consul_dir: Path, name: str) -> None:
    """A transcript without `X-Consul-Index` still parses; the blocking state then stays at 0."""
    head, _, body = (consul_dir / "examples" / name).read_text().partition("\n\n")
    status = int(head.splitlines()[0].split()[1])
    headers = [tuple(line.split(": ", 1)) for line in head.splitlines()[1:] if ": " in line]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body.encode(), headers=headers)

    async with ConsulClient("http://127.0.0.1:8500", transport=httpx.MockTransport(handler)) as client:
        services, state = await client.get_catalog_services()
    assert services == {"redis": [], "postgresql": ["primary", "secondary"]}
    assert state.index == 0


# Response bodies of the endpoints ConsulClient reads, and the test that covers each.
READ_RESPONSES = {
    "examples": (
        "GET_v1_agent_services.",
        "GET_v1_agent_checks.",
        "GET_v1_agent_self.",
        "GET_v1_health_service_SERVICE.",
        "GET_v1_health_state_STATE.",
        "GET_v1_catalog_services.",
        "GET_v1_catalog_nodes.",
        "GET_v1_kv_KEY.response",
        "LEADER_ELECTION.GET_v1_kv_KEY.",
        "PUT_v1_kv_KEY.response",
        "DELETE_v1_kv_KEY.response",
        "PUT_v1_session_create.response",
        "LEADER_ELECTION.PUT_v1_session_create.response",
        "PUT_v1_session_renew_UUID.response",
        "LEADER_ELECTION.PUT_v1_session_renew_UUID.response",
        "PUT_v1_session_destroy_UUID.response",
        "GET_v1_query.response",
        "POST_v1_query.",
        "GET_v1_query_UUID_execute.",
    ),
    "recorded": (
        "agent_self",
        "agent_checks",
        "_GET_v1_health_service",
        "_GET_v1_health_state",
        "catalog_services",
        "catalog_nodes",
        "_GET_v1_kv_json",
        "_GET_v1_kv_services",
    ),
}


def test_every_response_of_a_read_endpoint_is_covered(consul_dir: Path) -> None:
    source = Path(__file__).read_text()
    for folder, patterns in READ_RESPONSES.items():
        names = sorted(
            p.name
            for p in (consul_dir / folder).iterdir()
            if any(pattern in p.name for pattern in patterns) and ".request." not in p.name
        )
        assert names, folder
        missing = [name for name in names if name not in source and name not in MALFORMED]
        assert missing == [], f"response bodies without a contract test in {folder}: {missing}"
