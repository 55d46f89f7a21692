"""Prepared-query writes (engine layer) against httpx.MockTransport: Consul's answers for an unknown
query, a write whose answer is lost, and a tied query delete whose app was not deleted.

Real Consul answers `PUT` or `DELETE /v1/query/<id>` of an unknown id with 500 `Cannot modify
non-existent prepared query: '<id>'` (agent/consul/prepared_query_endpoint.go, `Apply`), not 404;
both answers are handled by re-reading the queries, then deciding.
"""

from __future__ import annotations

import json

import httpx
import pytest

from reconciler.consul.client import ConsulClient
from reconciler.core.model import Action, ActionKind, Outcome, Plan
from reconciler.engine.consul_execute import execute_consul

QUERY = {"Name": "web.shop", "Service": {"Service": "web", "Tags": ["shop", "managed-by-reconciler"],
                                          "OnlyPassing": True}}
MISSING = {
    500: "Cannot modify non-existent prepared query: 'q-1'",  # real Consul
    404: "Query not found",  # what a 404 answer would be (older sandboxes, proxies)
}


def listed(queries: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{"ID": q["ID"], "Name": q["Name"], "Service": QUERY["Service"]} for q in queries]


class FakeConsul:
    """Answers the query endpoints from a list; unknown ids get `missing_status` with Consul's text."""

    def __init__(self, queries: list[dict[str, object]], missing_status: int) -> None:
        self.queries = queries
        self.missing_status = missing_status
        self.seen: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(f"{request.method} {request.url.path}")
        if request.url.path == "/v1/query" and request.method == "GET":
            return httpx.Response(200, json=listed(self.queries))
        if request.url.path == "/v1/query" and request.method == "POST":
            created = {"ID": f"q-new-{len(self.queries)}", **json.loads(request.content)}
            self.queries.append(created)
            return httpx.Response(200, json={"ID": created["ID"]})
        query_id = request.url.path.rsplit("/", 1)[-1]
        if not any(q["ID"] == query_id for q in self.queries):
            return httpx.Response(self.missing_status, text=MISSING[self.missing_status].replace("q-1", query_id))
        if request.method == "DELETE":
            self.queries = [q for q in self.queries if q["ID"] != query_id]
        return httpx.Response(200, json=True)


def action(kind: ActionKind, **extra: object) -> Action:
    body = {"ID": "q-1", **QUERY, **extra} if kind == ActionKind.QUERY_UPDATE else {"ID": "q-1", "Name": "web.shop",
                                                                                     **extra}
    return Action(kind=kind, target="web.shop", reason="r", env="shop", body=body)


async def run(fake: FakeConsul, *actions: Action) -> tuple[Action, ...]:
    async with ConsulClient("http://127.0.0.1:8500", transport=httpx.MockTransport(fake)) as consul:
        return (await execute_consul(Plan(actions=actions), consul)).actions


@pytest.mark.parametrize("status", [500, 404])
async def test_deleting_a_query_that_is_gone_is_checked_by_a_re_read_and_succeeds(status: int) -> None:
    fake = FakeConsul([], status)
    (done,) = await run(fake, action(ActionKind.QUERY_DELETE))
    assert done.outcome == Outcome.SUCCEEDED and "already gone" in done.detail
    assert fake.seen == ["DELETE /v1/query/q-1", "GET /v1/query"]


@pytest.mark.parametrize("status", [500, 404])
async def test_updating_a_query_that_is_gone_creates_it_again(status: int) -> None:
    fake = FakeConsul([], status)
    (done,) = await run(fake, action(ActionKind.QUERY_UPDATE))
    assert done.outcome == Outcome.SUCCEEDED and "created again" in done.detail
    assert [q["Name"] for q in fake.queries] == ["web.shop"]


async def test_updating_a_query_whose_name_was_taken_meanwhile_fails_without_a_duplicate() -> None:
    fake = FakeConsul([{"ID": "q-other", "Name": "web.shop"}], 500)
    (done,) = await run(fake, action(ActionKind.QUERY_UPDATE))
    assert done.outcome == Outcome.FAILED and "replaced while it was being updated" in done.detail
    assert len(fake.queries) == 1


async def test_a_500_for_a_query_that_exists_is_a_failure_not_already_gone() -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=listed([{"ID": "q-1", "Name": "web.shop"}]))
        return httpx.Response(500, text="rpc error making call: leadership lost while committing log")

    async with ConsulClient("http://127.0.0.1:8500", transport=httpx.MockTransport(broken)) as consul:
        (done,) = (await execute_consul(Plan(actions=(action(ActionKind.QUERY_DELETE),)), consul)).actions
    assert done.outcome == Outcome.FAILED and "leadership lost" in done.detail


async def test_a_query_write_whose_connection_drops_after_sending_has_an_unknown_outcome() -> None:
    def drop(request: httpx.Request) -> httpx.Response:
        request.read()
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    async with ConsulClient("http://127.0.0.1:8500", transport=httpx.MockTransport(drop)) as consul:
        (done,) = (await execute_consul(Plan(actions=(action(ActionKind.QUERY_DELETE),)), consul)).actions
    assert done.outcome == Outcome.UNKNOWN and "may or may not have applied it" in done.detail


async def test_a_tied_query_delete_is_skipped_when_its_app_delete_did_not_succeed() -> None:
    fake = FakeConsul([{"ID": "q-1", "Name": "web.shop"}], 500)
    app_delete = Action(kind=ActionKind.DELETE, target="/shop/web", reason="prune", env="shop",
                        outcome=Outcome.FAILED, detail="Marathon answered 503")
    done = await run(fake, app_delete, action(ActionKind.QUERY_DELETE, Follows=["/shop/web"]))
    assert done[1].outcome == Outcome.SKIPPED and "/shop/web did not succeed" in done[1].detail
    assert fake.seen == [] and len(fake.queries) == 1
