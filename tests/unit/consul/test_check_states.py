"""Check states read straight from `/v1/health/state/any`'s JSON (consul/translate.py, consul/client.py):
the same states pydantic's models give for a plain answer, pydantic's reading (and error) for anything
else, and an instance whose own and node checks did not change not aggregated again."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from reconciler.consul import wire
from reconciler.consul.client import ConsulClient
from reconciler.consul.translate import check_states, check_states_of_json, instances_of_nodes, with_statuses
from reconciler.core.registry import MANAGED_TAG, CheckStatus
from reconciler.errors import RemoteUnavailable
from tests.unit.consul.test_consul_translate import catalog_node, check

PLAIN: list[dict[str, Any]] = [
    {"Node": "n1", "CheckID": "serfHealth", "Name": "Serf Health Status", "Status": "passing", "Notes": "",
     "Output": "Agent alive and reachable", "ServiceID": "", "ServiceName": "", "ServiceTags": [], "Type": "",
     "Definition": {}, "CreateIndex": 5, "ModifyIndex": 5, "Interval": "", "ExposedPort": 0},
    {"Node": "n1", "CheckID": "service:web.1", "Status": "critical", "Output": "dial tcp: refused",
     "ServiceID": "web.1", "ServiceTags": ["prod", MANAGED_TAG], "Definition": None, "CreateIndex": 7},
    {"CheckID": "service:api.1", "Status": "warning", "ServiceTags": None},  # fields left out: defaults
]


def states_by_pydantic(body: Any) -> Any:
    return check_states(wire.HealthCheck.model_validate(item) for item in body)


def test_a_plain_answer_gives_the_states_its_models_give() -> None:
    assert check_states_of_json(PLAIN) == states_by_pydantic(PLAIN)
    assert check_states_of_json(PLAIN)[0].output == ""  # a passing check keeps no output


@pytest.mark.parametrize(
    "item",
    [
        {"Node": "n1", "Status": "passing"},  # no CheckID: pydantic refuses it
        {"CheckID": "c", "Status": 1},  # a number for text
        {"CheckID": "c", "Status": "passing", "ServiceTags": ["a", 2]},
        {"CheckID": "c", "Status": "passing", "Definition": []},
        {"CheckID": "c", "Status": "passing", "ModifyIndex": "12"},  # pydantic converts it: its reading rules
        {"CheckID": "c", "Status": "passing", "CreateIndex": True},
        {"check_id": "c", "Status": "passing"},  # a field name pydantic reads too (populate_by_name)
        "not an object",
    ],
)
def test_anything_not_plain_is_left_to_pydantic(item: Any) -> None:
    assert check_states_of_json([*PLAIN, item]) is None
    assert check_states_of_json({"CheckID": "c"}) is None


def client_answering(body: Any) -> ConsulClient:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body, headers={"X-Consul-Index": "9"})

    return ConsulClient("http://127.0.0.1:8500", transport=httpx.MockTransport(answer), backoff=0.0)


async def test_the_client_reads_a_convertible_answer_as_pydantic_does() -> None:
    body = [*PLAIN, {"CheckID": "c", "Status": "passing", "ModifyIndex": "12"}]
    async with client_answering(body) as client:
        states, state = await client.get_check_states_since(0)
    assert states == states_by_pydantic(body) and state.index == 9


async def test_the_client_refuses_a_malformed_answer_as_before() -> None:
    async with client_answering([*PLAIN, {"Node": "n1", "Status": "passing"}]) as client:
        with pytest.raises(RemoteUnavailable, match=r"/v1/health/state/any answered a body of an unexpected shape.*"
                                                     r"CheckID"):
            await client.get_check_states_since(0)


async def test_an_unchanged_index_decodes_nothing() -> None:
    async with client_answering(PLAIN) as client:
        states, _ = await client.get_check_states_since(9)
    assert states is None


def test_an_instance_whose_checks_stand_is_not_aggregated_again_and_a_change_is_seen() -> None:
    nodes = [catalog_node("n1", "10.0.0.1", 2)]
    before = check_states([check("n1", sid, "passing", "ok") for sid in ("", "n1-s0", "n1-s1")])
    first = instances_of_nodes(nodes, before, tag=MANAGED_TAG)
    after = check_states([check("n1", "", "passing"), check("n1", "n1-s0", "critical", "refused"),
                          check("n1", "n1-s1", "passing")])
    updated = with_statuses(first, after, before)
    assert updated == instances_of_nodes(nodes, after, tag=MANAGED_TAG)
    by_id = {i.service_id: i for i in updated}
    assert by_id["n1-s0"].status == CheckStatus.CRITICAL and by_id["n1-s0"].output == "refused"
    assert by_id["n1-s1"] is next(i for i in first if i.service_id == "n1-s1")
    node_down = check_states([check("n1", "", "critical", "agent gone"), *after[1:]])
    assert all(i.status == CheckStatus.CRITICAL for i in with_statuses(updated, node_down, after))
