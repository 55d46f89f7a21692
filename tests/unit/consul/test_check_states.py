"""Check states (and the health watch's checks) read straight from `/v1/health/state/any`'s JSON
(consul/translate.py, consul/client.py): what pydantic's models give for a plain answer, pydantic's
reading (and error) for anything else, and an instance whose own and node checks did not change not
aggregated again."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from reconciler.consul import client as consul_client
from reconciler.consul import wire
from reconciler.consul.blocking import BlockingState
from reconciler.consul.client import ConsulClient
from reconciler.consul.translate import (
    check_states,
    check_states_of_json,
    watched_checks,
    watched_checks_of_json,
    with_statuses,
)
from reconciler.core.registry import MANAGED_TAG, CheckStatus
from reconciler.errors import RemoteUnavailable
from tests.unit.consul.test_consul_translate import built, catalog_node, check

PLAIN: list[dict[str, Any]] = [
    {"Node": "n1", "CheckID": "serfHealth", "Name": "Serf Health Status", "Status": "passing", "Notes": "",
     "Output": "Agent alive and reachable", "ServiceID": "", "ServiceName": "", "ServiceTags": [], "Type": "",
     "Definition": {}, "CreateIndex": 5, "ModifyIndex": 5, "Interval": "", "ExposedPort": 0},
    {"Node": "n1", "CheckID": "service:web.1", "Status": "critical", "Output": "dial tcp: refused",
     "ServiceID": "web.1", "ServiceTags": ["prod", MANAGED_TAG], "Definition": None, "CreateIndex": 7},
    {"CheckID": "service:api.1", "Status": "warning", "ServiceTags": None},  # fields left out: defaults
    {"Node": "n2", "CheckID": "service:db.1", "Status": "passing", "ServiceID": "db.1", "ServiceTags": ["prod"]},
]


def states_by_pydantic(body: Any) -> Any:
    return check_states(wire.HealthCheck.model_validate(item) for item in body)


def test_a_plain_answer_gives_the_states_its_models_give() -> None:
    assert check_states_of_json(PLAIN) == states_by_pydantic(PLAIN)
    assert check_states_of_json(PLAIN)[0].output == ""  # a passing check keeps no output


NOT_PLAIN = [
        {"Node": "n1", "Status": "passing"},  # no CheckID: pydantic refuses it
        {"CheckID": "c", "Status": 1},  # a number for text
        {"CheckID": "c", "Status": "passing", "ServiceTags": ["a", 2]},
        {"CheckID": "c", "Status": "passing", "Definition": []},
        {"CheckID": "c", "Status": "passing", "ModifyIndex": "12"},  # pydantic converts it: its reading rules
        {"CheckID": "c", "Status": "passing", "CreateIndex": True},
        {"check_id": "c", "Status": "passing"},  # a field name pydantic reads too (populate_by_name)
        "not an object",
]


@pytest.mark.parametrize("item", NOT_PLAIN)
def test_anything_not_plain_is_left_to_pydantic(item: Any) -> None:
    assert check_states_of_json([*PLAIN, item]) is None
    assert check_states_of_json({"CheckID": "c"}) is None


def watched_by_pydantic(body: Any) -> Any:
    return watched_checks((wire.HealthCheck.model_validate(item) for item in body), MANAGED_TAG)


def test_the_watch_keeps_of_a_plain_answer_what_its_models_give() -> None:
    watched = watched_checks_of_json(PLAIN, MANAGED_TAG)
    assert watched == watched_by_pydantic(PLAIN)
    # the checks of no service (node checks) and our service's; the one of a service not ours is left out
    assert watched is not None and [(c.node, c.check_id, c.status) for c in watched] == [
        ("n1", "serfHealth", "passing"), ("n1", "service:web.1", "critical"), ("", "service:api.1", "warning")]


@pytest.mark.parametrize("item", NOT_PLAIN)
def test_the_watch_leaves_anything_not_plain_to_pydantic(item: Any) -> None:
    assert watched_checks_of_json([*PLAIN, item], MANAGED_TAG) is None


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
        with pytest.raises(RemoteUnavailable, match=r"GET /v1/health/state/any answered 200 with a body of an "
                                                     r"unexpected shape \(1 problem\(s\)\): 4/CheckID: Field required"):
            await client.get_check_states_since(0)


async def test_an_unchanged_index_decodes_nothing() -> None:
    async with client_answering(PLAIN) as client:
        states, _ = await client.get_check_states_since(9)
    assert states is None


async def test_the_watch_reads_a_plain_answer_through_the_plain_path(monkeypatch: pytest.MonkeyPatch) -> None:
    plain_reads: list[Any] = []

    def plain_read(body: Any, tag: str) -> Any:
        plain_reads.append(watched_checks_of_json(body, tag))
        return plain_reads[-1]

    monkeypatch.setattr(consul_client, "watched_checks_of_json", plain_read)
    async with client_answering(PLAIN) as client:
        watched, state = await client.get_watched_checks(MANAGED_TAG, block=BlockingState(index=3))
    assert plain_reads == [watched] and watched == watched_by_pydantic(PLAIN) and state.index == 9


async def test_the_watch_reads_a_convertible_answer_as_pydantic_does() -> None:
    body = [*PLAIN, {"Node": "n3", "CheckID": "c", "Status": "passing", "ModifyIndex": "12"}]
    async with client_answering(body) as client:
        watched, _ = await client.get_watched_checks(MANAGED_TAG, block=BlockingState())
    assert watched == watched_by_pydantic(body) and watched is not None and watched[-1].node == "n3"


async def test_the_watch_refuses_a_malformed_answer_word_for_word_as_the_models_do() -> None:
    body = [*PLAIN, {"Node": "n1", "Status": "passing"}]
    async with client_answering(body) as client:
        with pytest.raises(RemoteUnavailable) as by_models:
            await client.get_health_state("any")
        with pytest.raises(RemoteUnavailable) as by_watch:
            await client.get_watched_checks(MANAGED_TAG, block=BlockingState())
    assert str(by_watch.value) == str(by_models.value) and "CheckID" in str(by_watch.value)


async def test_a_watch_read_that_timed_out_decodes_nothing() -> None:
    async with client_answering(PLAIN) as client:
        timed_out, state = await client.get_watched_checks(MANAGED_TAG, block=BlockingState(index=9, wait="1s"))
        moved, _ = await client.get_watched_checks(MANAGED_TAG, block=BlockingState(index=8, wait="1s"))
    assert timed_out is None and state.index == 9 and moved == watched_by_pydantic(PLAIN)


def test_an_instance_whose_checks_stand_is_not_aggregated_again_and_a_change_is_seen() -> None:
    nodes = [catalog_node("n1", "10.0.0.1", 2)]
    before = check_states([check("n1", sid, "passing", "ok") for sid in ("", "n1-s0", "n1-s1")])
    first = built(nodes, before)
    after = check_states([check("n1", "", "passing"), check("n1", "n1-s0", "critical", "refused"),
                          check("n1", "n1-s1", "passing")])
    updated = with_statuses(first, after, before)
    assert updated == built(nodes, after)
    by_id = {i.service_id: i for i in updated}
    assert by_id["n1-s0"].status == CheckStatus.CRITICAL and by_id["n1-s0"].output == "refused"
    assert by_id["n1-s1"] is next(i for i in first if i.service_id == "n1-s1")
    node_down = check_states([check("n1", "", "critical", "agent gone"), *after[1:]])
    assert all(i.status == CheckStatus.CRITICAL for i in with_statuses(updated, node_down, after))
