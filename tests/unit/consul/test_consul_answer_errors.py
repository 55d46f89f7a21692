"""Unit tests of ConsulClient's errors for a success status with an unreadable body: the call and where in
the answer, never the refused value; a body that is not JSON is retried, JSON of the wrong shape is not."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from reconciler.consul.blocking import BlockingState
from reconciler.consul.client import ConsulClient
from reconciler.consul.errors import NotJson, UnexpectedShape
from reconciler.errors import RemoteUnavailable

Read = Callable[[ConsulClient], Awaitable[Any]]
SERVICES = "GET /v1/catalog/services answered 200 with a body of an unexpected shape .*: "
QUERIES = "GET /v1/query answered 200 with a body of an unexpected shape .*: "


def answering(*bodies: bytes) -> tuple[ConsulClient, list[httpx.Request]]:
    """A client whose requests are answered 200 with `bodies` in turn (the last one from then on)."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=bodies[min(len(seen), len(bodies)) - 1], headers={"X-Consul-Index": "5"})

    transport = httpx.MockTransport(answer)
    return ConsulClient("http://127.0.0.1:8500", transport=transport, retries=2, backoff=0.0), seen


@pytest.mark.parametrize(
    ("read", "body", "where"),
    [
        pytest.param(lambda c: c.get_catalog_services(), b'["web"]', SERVICES + "the answer: ", id="services, a list"),
        pytest.param(lambda c: c.get_catalog_services(), b"[]", SERVICES + "the answer: ", id="services, empty list"),
        pytest.param(lambda c: c.get_catalog_services(), b'{"web": "prod"}', SERVICES + "web: .*list", id="tags, text"),
        pytest.param(lambda c: c.get_queries(), b"{}", QUERIES + "the answer: .*list", id="queries"),
        pytest.param(lambda c: c.get_observed_queries(), b"{}", QUERIES + "the answer: .*list", id="observed queries"),
        pytest.param(lambda c: c.get_kv("a/b"), b"{}", "GET /v1/kv/a/b answered 200 .*: the answer: .*list", id="kv"),
        pytest.param(
            lambda c: c.get_agent_services(), b'{"web.1": {"ID": "web.1", "Service": "web", "Port": "s3cr3t"}}',
            r"GET /v1/agent/services answered 200 .*\(1 problem\(s\)\): web\.1/Port: Input should be a valid integer",
            id="a service's port",
        ),
    ],
)
async def test_a_body_of_the_wrong_shape_names_the_call_and_the_field_once(read: Read, body: bytes, where: str) -> None:
    client, seen = answering(body)
    async with client:
        with pytest.raises(UnexpectedShape, match=where) as refused:
            await read(client)
    assert len(seen) == 1  # Consul would answer the same again: not retried
    assert "s3cr3t" not in str(refused.value)


async def test_every_problem_up_to_five_is_named() -> None:
    checks = b"[" + b",".join(b'{"Node": "n%d"}' % n for n in range(7)) + b"]"
    client, _ = answering(checks)
    async with client:
        with pytest.raises(UnexpectedShape) as refused:
            await client.get_health_state()
    message = str(refused.value)
    assert "(14 problem(s))" in message and message.count("Field required") == 5
    assert "0/CheckID: Field required; 0/Status: Field required; 1/CheckID" in message


async def test_a_write_answered_in_the_wrong_shape_names_its_method() -> None:
    client, _ = answering(b'{"Id": "x"}')
    async with client:
        with pytest.raises(UnexpectedShape, match=r"Consul PUT /v1/session/create answered 200 .*: ID: Field required"):
            await client.put_session_create(name="reconciler")


async def test_a_body_that_is_not_json_is_retried_then_named() -> None:
    client, seen = answering(b"<html>", b"<html>", b'{"web": []}')
    async with client:
        assert await client.get_catalog_services() == ({"web": []}, BlockingState(index=5))
    client, seen = answering(b"<html>")
    async with client:
        with pytest.raises(NotJson, match=r"Consul GET /v1/catalog/services answered 200 with a body that is not JSON"):
            await client.get_catalog_services()
    assert len(seen) == 3 and issubclass(NotJson, RemoteUnavailable)
