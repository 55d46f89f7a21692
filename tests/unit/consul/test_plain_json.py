"""Catalog nodes and prepared queries read straight from their JSON (consul/plain.py, consul/translate.py):
what pydantic's models give for a plain answer, pydantic's reading (and error) for anything else, and
instances whose checks all pass built as the check-by-check aggregation builds them."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from reconciler.consul import plain, wire
from reconciler.consul.client import ConsulClient
from reconciler.consul.translate import (
    CheckState,
    instance_from,
    instances_of_services,
    node_services,
    node_services_of_json,
    observed_queries_of,
    observed_queries_of_json,
)
from reconciler.core.registry import MANAGED_TAG, CheckStatus
from reconciler.errors import RemoteUnavailable

NODE: dict[str, Any] = {
    "Node": {"ID": "1f", "Node": "agent-1", "Address": "10.0.0.1", "Datacenter": "dc1",
             "TaggedAddresses": {"lan": "10.0.0.1"}, "Meta": {"consul-network-segment": ""},
             "CreateIndex": 4, "ModifyIndex": 4},
    "Services": {
        "e_web.t1": {"ID": "e_web.t1", "Service": "web", "Tags": ["e", MANAGED_TAG], "Address": "10.0.0.7",
                     "TaggedAddresses": {}, "Meta": {"marathon-task-id": "e_web.t1", "environment": "e"},
                     "Port": 31001, "Weights": {"Passing": 1, "Warning": 1}, "EnableTagOverride": False,
                     "CreateIndex": 9, "ModifyIndex": 9},
        "e_web.t2": {"ID": "e_web.t2", "Service": "web", "Tags": [MANAGED_TAG, "e"], "Address": "", "Port": 31002,
                     "Meta": None},  # the node's address; fields left out: defaults
        "consul": {"ID": "consul", "Service": "consul", "Tags": None, "Port": 8300},  # not ours
        "other": {"ID": "other", "Service": "db", "Tags": ["e"], "Kind": "", "Namespace": "", "Datacenter": ""},
    },
}

QUERIES: list[dict[str, Any]] = [
    {"ID": "q1", "Name": "web.e", "Session": "", "Token": "", "DNS": {"TTL": ""},
     "Service": {"Service": "web", "Failover": {"NearestN": 0, "Datacenters": None}, "IgnoreCheckIDs": None,
                 "OnlyPassing": True, "Near": "", "Tags": ["e", MANAGED_TAG], "NodeMeta": None, "ServiceMeta": None,
                 "Connect": {"Enabled": False}},
     "RaftIndex": {"CreateIndex": 30, "ModifyIndex": 30}},
    {"ID": "q2", "Name": "", "Service": {"Service": "web"}},  # unnamed: never ours
    {"ID": "q3", "Name": "db.e", "Session": None, "Service": {"Service": "db", "Tags": None, "Near": None,
                                                            "NodeMeta": {"rack": "r1"}}},
]


def by_pydantic(body: dict[str, Any]) -> Any:
    return node_services(wire.CatalogNode.model_validate(body), MANAGED_TAG)


def test_a_plain_node_gives_the_services_its_model_gives() -> None:
    found = node_services_of_json(copy.deepcopy(NODE), MANAGED_TAG)
    assert found == by_pydantic(NODE)
    assert found is not None and [s.service_id for s in found.services] == ["e_web.t1", "e_web.t2"]
    assert found.services[1].address == "10.0.0.1" and found.services[1].meta == {}


def test_a_node_without_services_is_plain() -> None:
    body = {"Node": {"Node": "n"}, "Services": None}
    assert node_services_of_json(body, MANAGED_TAG) == by_pydantic(body)


def changed_service(**fields: Any) -> dict[str, Any]:
    body = copy.deepcopy(NODE)
    body["Services"]["e_web.t1"].update(fields)
    return body


def changed_node(**fields: Any) -> dict[str, Any]:
    body = copy.deepcopy(NODE)
    body["Node"].update(fields)
    return body


@pytest.mark.parametrize(
    "body",
    [
        changed_service(Port="31001"),  # pydantic converts it: its reading rules
        changed_service(Tags=["e", 1]),
        changed_service(Meta={"environment": 1}),
        changed_service(Weights=None),  # pydantic refuses it
        changed_service(Weights={"Passing": "1"}),
        changed_service(EnableTagOverride="true"),
        changed_service(port=1),  # a field name pydantic reads too (populate_by_name)
        changed_service(ID=None),
        changed_node(NodeMeta={"a": "b"}),  # another alias of the node's meta
        changed_node(Node=None),
        changed_node(CreateIndex=True),
        {"Node": {"Node": "n"}, "Services": {"x": "not an object"}},
        {"Services": {}},
        ["not", "an", "object"],
    ],
)
def test_a_node_not_plain_is_left_to_pydantic(body: Any) -> None:
    assert node_services_of_json(body, MANAGED_TAG) is None


def test_plain_queries_give_what_their_models_give() -> None:
    found = observed_queries_of_json(copy.deepcopy(QUERIES))
    assert found == observed_queries_of(wire.PreparedQuery.model_validate(q) for q in QUERIES)
    assert found is not None and list(found) == ["web.e", "db.e"] and found["web.e"].managed


@pytest.mark.parametrize(
    "query",
    [
        {"Name": "x.e", "Service": {"Service": "x"}},  # no ID: pydantic refuses it
        {"ID": "q", "Name": "x.e", "Service": {"Service": "x", "OnlyPassing": "true"}},
        {"ID": "q", "Name": "x.e", "Service": {"Service": "x", "Failover": {"NearestN": "1"}}},
        {"ID": "q", "Name": "x.e", "Service": {"Service": "x", "Tags": [None]}},
        {"ID": "q", "Name": "x.e", "Service": {"Service": "x"}, "DNS": {"TTL": 5}},
        {"ID": "q", "Name": "x.e", "Service": {"Service": "x"}, "RaftIndex": None},
        {"ID": "q", "Name": "x.e", "Service": None},
        {"ID": "q", "name": "x.e", "Service": {"Service": "x"}},
    ],
)
def test_queries_not_plain_are_left_to_pydantic(query: dict[str, Any]) -> None:
    assert observed_queries_of_json([*copy.deepcopy(QUERIES), query]) is None


@pytest.mark.parametrize(
    "model",
    [wire.HealthCheck, wire.AgentService, wire.Node, wire.CatalogNode, wire.PreparedQuery, wire.QueryService],
)
def test_a_shape_covers_every_field_of_its_model(model: type[BaseModel]) -> None:
    with pytest.raises(TypeError, match=model.__name__):
        plain.shape(model, {"Unknown": plain.TEXT})


def client_answering(routes: dict[str, Any]) -> ConsulClient:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=routes[request.url.path], headers={"X-Consul-Index": "9"})

    return ConsulClient("http://127.0.0.1:8500", transport=httpx.MockTransport(answer), backoff=0.0)


async def test_the_client_reads_a_convertible_node_and_queries_as_pydantic_does() -> None:
    node = changed_service(Port="31001")
    queries = [*QUERIES, {"ID": "q9", "Name": "x.e", "Service": {"Service": "x", "OnlyPassing": "true"}}]
    async with client_answering({"/v1/catalog/node/agent-1": node, "/v1/query": queries}) as client:
        found, state = await client.get_catalog_node_services("agent-1", MANAGED_TAG)
        observed = await client.get_observed_queries()
    assert found == by_pydantic(node) and found is not None and found.services[0].port == 31001 and state.index == 9
    assert observed["x.e"].only_passing is True and observed["web.e"] == observed_queries_of_json(QUERIES)["web.e"]


async def test_the_client_refuses_a_malformed_node_as_before() -> None:
    async with client_answering({"/v1/catalog/node/agent-1": changed_service(ID=None)}) as client:
        with pytest.raises(RemoteUnavailable, match=r"/v1/catalog/node/agent-1 answered 200 with a body of an "
                                                     r"unexpected shape .*: Services/e_web\.t1/ID: Input should be a"):
            await client.get_catalog_node_services("agent-1", MANAGED_TAG)


def state(node: str, service_id: str, status: str, output: str = "", check_id: str = "") -> CheckState:
    return CheckState(node, service_id, check_id or (f"service:{service_id}" if service_id else "serfHealth"),
                      status, output)


@pytest.mark.parametrize(
    "checks",
    [
        [],
        [state("agent-1", "", "passing"), state("agent-1", "e_web.t1", "passing")],
        [state("agent-1", "", "critical", "agent gone"), state("agent-1", "e_web.t1", "passing")],
        [state("agent-1", "e_web.t2", "warning", "slow"), state("agent-1", "e_web.t2", "critical", "refused")],
        [state("agent-1", "e_web.t1", "passing", check_id="_service_maintenance:e_web.t1")],
        [state("agent-1", "", "passing", check_id="_node_maintenance")],
        [state("agent-1", "e_web.t1", "bogus")],
        [state("agent-2", "", "critical", "another node")],
    ],
)
def test_instances_are_those_of_the_check_by_check_aggregation(checks: list[CheckState]) -> None:
    model = wire.CatalogNode.model_validate(NODE)
    tagged = [s for s in model.services.values() if MANAGED_TAG in s.tags]
    expected = tuple(
        instance_from(model.node, s, [c for c in checks if c.node == "agent-1" and c.service_id in ("", s.id)])
        for s in tagged
    )
    found = instances_of_services([by_pydantic(NODE)], checks)
    assert found == expected
    assert {i.status for i in found} <= {*CheckStatus, None}
