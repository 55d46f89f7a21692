"""Unit tests of ConsulClient against httpx.MockTransport: paths, params, headers, blocking, errors."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from reconciler.consul import wire
from reconciler.consul.blocking import BlockingState
from reconciler.consul.client import ConsulClient
from reconciler.consul.errors import ConsulNotFound
from reconciler.errors import OutcomeUnknown, RemoteRejected, RemoteUnavailable

TOKEN = "s3cr3t-token-value"
Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that answers from a script and keeps every request it saw."""

    def __init__(self, *responses: httpx.Response | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def client_of(recorder: Recorder, **kwargs: object) -> ConsulClient:
    options: dict[str, object] = {"token": TOKEN, "backoff": 0.0, **kwargs}
    return ConsulClient("http://127.0.0.1:8500", transport=httpx.MockTransport(recorder), **options)  # type: ignore[arg-type]


def ok(body: object, index: int | None = None) -> httpx.Response:
    headers = {"X-Consul-Index": str(index)} if index is not None else {}
    return httpx.Response(200, json=body, headers=headers)


async def test_register_sends_body_token_header_and_replace_flag() -> None:
    recorder = Recorder(ok(None))
    registration = wire.ServiceRegistration(
        id="web.1", name="web", tags=["integration"], address="127.0.0.2", port=31000, meta={"environment": "x"}
    )
    async with client_of(recorder) as client:
        await client.put_agent_service_register(registration)
    request = recorder.requests[0]
    assert request.method == "PUT"
    assert request.url.path == "/v1/agent/service/register"
    assert request.url.params["replace-existing-checks"] == "true"
    assert request.headers["X-Consul-Token"] == TOKEN
    body = json.loads(request.content)
    assert body["ID"] == "web.1" and body["Name"] == "web" and body["Port"] == 31000
    assert "Check" not in body and "Weights" not in body


async def test_register_without_replace_flag() -> None:
    recorder = Recorder(ok(None))
    async with client_of(recorder) as client:
        await client.put_agent_service_register(
            wire.ServiceRegistration(id="a", name="a"), replace_existing_checks=False
        )
    assert "replace-existing-checks" not in recorder.requests[0].url.params


async def test_no_token_sends_no_header() -> None:
    recorder = Recorder(ok({}))
    async with client_of(recorder, token=None) as client:
        await client.get_agent_services()
    assert "X-Consul-Token" not in recorder.requests[0].headers


async def test_deregister_unknown_id_raises_not_found_with_consul_text() -> None:
    text = 'Unknown service ID "web.9". Ensure that the service ID is passed, not the service name.'
    recorder = Recorder(httpx.Response(404, text=text))
    async with client_of(recorder) as client:
        with pytest.raises(ConsulNotFound) as caught:
            await client.put_agent_service_deregister("web/9")
    assert recorder.requests[0].url.raw_path == b"/v1/agent/service/deregister/web%2F9"
    assert caught.value.status == 404
    assert 'Unknown service ID "web.9"' in str(caught.value)
    assert isinstance(caught.value, RemoteRejected)


async def test_4xx_is_rejected_and_not_retried() -> None:
    recorder = Recorder(httpx.Response(400, text="Invalid wait time"))
    async with client_of(recorder) as client:
        with pytest.raises(RemoteRejected) as caught:
            await client.get_agent_services()
    assert len(recorder.requests) == 1
    assert "Invalid wait time" in str(caught.value)
    assert not isinstance(caught.value, ConsulNotFound)


async def test_5xx_read_is_retried_then_succeeds() -> None:
    recorder = Recorder(
        httpx.Response(500, text="No cluster leader"), ok({"redis": {"ID": "redis", "Service": "redis"}})
    )
    async with client_of(recorder, retries=3) as client:
        services = await client.get_agent_services()
    assert len(recorder.requests) == 2
    assert services["redis"].service == "redis"


async def test_read_gives_up_after_retries_with_unavailable() -> None:
    recorder = Recorder(httpx.ConnectError("connection refused"))
    async with client_of(recorder, retries=2) as client:
        with pytest.raises(RemoteUnavailable) as caught:
            await client.get_catalog_nodes()
    assert len(recorder.requests) == 3
    assert "/v1/catalog/nodes" in str(caught.value)


async def test_timeout_is_unavailable() -> None:
    recorder = Recorder(httpx.ReadTimeout("read timed out"))
    async with client_of(recorder, retries=0) as client:
        with pytest.raises(RemoteUnavailable, match="timed out"):
            await client.get_agent_self()


async def test_writes_are_not_retried() -> None:
    recorder = Recorder(httpx.Response(503, text="rpc error making call: EOF"))
    async with client_of(recorder, retries=3) as client:
        with pytest.raises(RemoteUnavailable) as caught:
            await client.put_agent_service_register(wire.ServiceRegistration(id="a", name="a"))
    assert len(recorder.requests) == 1
    assert caught.value.status == 503


async def test_token_never_appears_in_errors_or_reprs() -> None:
    recorder = Recorder(httpx.Response(403, text=f"ACL not found for token {TOKEN}"))
    async with client_of(recorder) as client:
        with pytest.raises(RemoteRejected) as caught:
            await client.get_agent_checks()
        assert TOKEN not in repr(client) and TOKEN not in repr(client._http)
    assert TOKEN not in str(caught.value)
    assert "***" in str(caught.value)
    assert caught.value.hint and "ACL" in caught.value.hint


async def test_connect_error_message_redacts_token() -> None:
    recorder = Recorder(httpx.ConnectError(f"refused while sending {TOKEN}"))
    async with client_of(recorder, retries=0) as client:
        with pytest.raises(RemoteUnavailable) as caught:
            await client.get_agent_self()
    assert TOKEN not in str(caught.value)


async def test_blocking_read_sends_index_and_wait_and_returns_next_state() -> None:
    recorder = Recorder(ok([], index=42))
    async with client_of(recorder) as client:
        entries, state = await client.get_health_service(
            "web", passing=True, tag="integration", block=BlockingState(index=7, wait="30s")
        )
    params = recorder.requests[0].url.params
    assert params["index"] == "7" and params["wait"] == "30s"
    assert params["passing"] == "true" and params["tag"] == "integration"
    assert entries == [] and state == BlockingState(index=42, wait="30s")


async def test_first_blocking_read_does_not_block() -> None:
    recorder = Recorder(ok({"consul": []}, index=5))
    async with client_of(recorder) as client:
        services, state = await client.get_catalog_services(block=BlockingState())
    assert "index" not in recorder.requests[0].url.params
    assert services == {"consul": []}
    assert state.index == 5


async def test_index_going_backwards_resets_to_zero() -> None:
    recorder = Recorder(ok([], index=3))
    async with client_of(recorder) as client:
        _, state = await client.get_health_state("critical", block=BlockingState(index=100))
    assert recorder.requests[0].url.path == "/v1/health/state/critical"
    assert state.index == 0


async def test_index_zero_answer_is_clamped_to_one() -> None:
    recorder = Recorder(ok([], index=0))
    async with client_of(recorder) as client:
        _, state = await client.get_health_state(block=BlockingState())
    assert state.index == 1


async def test_blocking_timeout_covers_wait_plus_jitter() -> None:
    seen: list[object] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"]["read"])
        return ok([], index=9)

    async with ConsulClient("http://127.0.0.1:8500", timeout=10.0, transport=httpx.MockTransport(handler)) as client:
        await client.get_health_state(block=BlockingState(index=8, wait="160s"))
    assert seen == [10.0 + 160.0 + 10.0]


async def test_get_kv_missing_key_is_none_with_index() -> None:
    recorder = Recorder(httpx.Response(404, headers={"X-Consul-Index": "12"}))
    async with client_of(recorder) as client:
        pair, state = await client.get_kv("service/reconciler/leader", block=BlockingState())
    assert recorder.requests[0].url.path == "/v1/kv/service/reconciler/leader"
    assert pair is None and state.index == 12


async def test_get_kv_decodes_value() -> None:
    body = [{"Key": "k", "Value": "dGVzdA==", "Flags": 0, "CreateIndex": 1, "ModifyIndex": 2, "LockIndex": 0}]
    recorder = Recorder(ok(body, index=2))
    async with client_of(recorder) as client:
        pair, _ = await client.get_kv("k")
    assert pair is not None and pair.value == b"test" and pair.modify_index == 2 and pair.session == ""


async def test_put_kv_sends_raw_bytes_and_conditions() -> None:
    recorder = Recorder(ok(False))
    async with client_of(recorder) as client:
        done = await client.put_kv("leader", b"\x00raw", acquire="sess-1")
    request = recorder.requests[0]
    assert done is False
    assert request.content == b"\x00raw"
    assert dict(request.url.params) == {"acquire": "sess-1"}


async def test_delete_kv_recurse_and_cas() -> None:
    recorder = Recorder(ok(True))
    async with client_of(recorder) as client:
        assert await client.delete_kv("prefix", recurse=True) is True
        assert await client.delete_kv("key", cas=4) is True
    assert recorder.requests[0].method == "DELETE"
    assert dict(recorder.requests[0].url.params) == {"recurse": "true"}
    assert dict(recorder.requests[1].url.params) == {"cas": "4"}


async def test_session_create_renew_destroy() -> None:
    renewed = [
        {
            "ID": "abc",
            "Name": "leader",
            "TTL": "30s",
            "LockDelay": 15000000000,
            "Behavior": "release",
            "NodeChecks": ["serfHealth"],
            "ServiceChecks": None,
            "CreateIndex": 1,
            "ModifyIndex": 1,
        }
    ]
    recorder = Recorder(ok({"ID": "abc"}), ok(renewed), ok(True))
    async with client_of(recorder) as client:
        session_id = await client.put_session_create(name="leader", ttl="20s", node_checks=[])
        session = await client.put_session_renew(session_id)
        assert await client.put_session_destroy(session_id) is True
    create, renew, destroy = recorder.requests
    assert json.loads(create.content) == {
        "Name": "leader",
        "TTL": "20s",
        "Behavior": "release",
        "LockDelay": "15s",
        "Checks": [],
    }
    assert renew.url.path == "/v1/session/renew/abc" and renew.method == "PUT"
    assert destroy.url.path == "/v1/session/destroy/abc"
    assert session.ttl == "30s" and session.lock_delay == 15000000000 and session.node_checks == ["serfHealth"]


async def test_session_renew_of_expired_session_is_not_found() -> None:
    recorder = Recorder(httpx.Response(404, text="Session id 'abc' not found"))
    async with client_of(recorder) as client:
        with pytest.raises(ConsulNotFound, match="Session id 'abc' not found"):
            await client.put_session_renew("abc")


async def test_prepared_query_lifecycle() -> None:
    listed = [
        {
            "ID": "q1",
            "Name": "redis.func-1",
            "Token": "<hidden>",
            "Service": {"Service": "redis", "OnlyPassing": True, "Tags": ["integration"]},
            "RaftIndex": {"CreateIndex": 3, "ModifyIndex": 4},
        }
    ]
    recorder = Recorder(ok({"ID": "q1"}), ok(listed), ok(None), ok(None))
    definition = wire.PreparedQueryDefinition(
        name="redis.func-1", service=wire.QueryService(service="redis", only_passing=True, tags=["integration"])
    )
    async with client_of(recorder) as client:
        assert await client.post_query(definition) == "q1"
        queries = await client.get_queries()
        await client.put_query("q1", definition)
        await client.delete_query("q1")
    post, get, put, delete = recorder.requests
    assert post.method == "POST" and post.url.path == "/v1/query"
    assert json.loads(post.content) == {
        "Name": "redis.func-1",
        "Service": {"Service": "redis", "OnlyPassing": True, "Tags": ["integration"]},
    }
    assert get.url.path == "/v1/query"
    assert put.method == "PUT" and put.url.path == "/v1/query/q1"
    assert delete.method == "DELETE" and delete.url.path == "/v1/query/q1"
    assert queries[0].service.tags == ["integration"] and queries[0].raft_index.modify_index == 4


async def test_query_execute_by_name_with_dots() -> None:
    body = {"Service": "redis", "Nodes": [], "DNS": {"TTL": ""}, "Datacenter": "dc1", "Failovers": 0}
    recorder = Recorder(ok(body))
    async with client_of(recorder) as client:
        result = await client.get_query_execute("redis.func-1")
    assert recorder.requests[0].url.path == "/v1/query/redis.func-1/execute"
    assert result.nodes == [] and result.datacenter == "dc1"


async def test_unexpected_shape_is_unavailable_naming_the_path() -> None:
    recorder = Recorder(ok([1, 2, 3]))
    async with client_of(recorder) as client:
        with pytest.raises(RemoteUnavailable, match="/v1/agent/services"):
            await client.get_agent_services()


async def test_non_json_body_is_unavailable() -> None:
    recorder = Recorder(httpx.Response(200, text="<html>proxy</html>"))
    async with client_of(recorder, retries=0) as client:
        with pytest.raises(RemoteUnavailable, match="not JSON"):
            await client.get_agent_self()


async def test_on_request_sees_every_attempt() -> None:
    calls: list[tuple[str, str]] = []
    recorder = Recorder(httpx.Response(502, text="bad gateway"), ok({}))
    async with client_of(recorder, on_request=lambda m, p: calls.append((m, p))) as client:
        await client.get_agent_checks()
    assert calls == [("GET", "/v1/agent/checks"), ("GET", "/v1/agent/checks")]


async def test_for_agent_keeps_settings_and_is_closed_with_parent() -> None:
    recorder = Recorder(ok(None))
    client = client_of(recorder)
    other = client.for_agent("http://127.0.0.2:8500/")
    assert client.for_agent("http://127.0.0.2:8500") is other
    assert client.for_agent("http://127.0.0.1:8500") is client
    await other.put_agent_service_deregister("web.1")
    assert recorder.requests[0].url.host == "127.0.0.2"
    assert recorder.requests[0].headers["X-Consul-Token"] == TOKEN
    await client.aclose()
    assert other._http._client.is_closed


@pytest.mark.parametrize(
    ("status", "text"),
    [
        # real Consul: an RPC error (agent/consul/prepared_query_endpoint.go, Apply) answered as 500
        (500, "Cannot modify non-existent prepared query: 'q-9'"),
        (404, "Query not found"),
    ],
)
async def test_a_write_to_an_unknown_prepared_query_is_not_found_with_either_answer(status: int, text: str) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, text=text))
    async with ConsulClient("http://127.0.0.1:8500", transport=transport) as consul:
        with pytest.raises(ConsulNotFound) as caught:
            await consul.delete_query("q-9")
    assert caught.value.status == status and text in caught.value.message


async def test_any_other_500_stays_unavailable() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(500, text="No cluster leader"))
    async with ConsulClient("http://127.0.0.1:8500", transport=transport) as consul:
        with pytest.raises(RemoteUnavailable) as caught:
            await consul.delete_query("q-9")
    assert not isinstance(caught.value, ConsulNotFound)


async def test_a_consul_write_dropped_after_sending_is_of_unknown_outcome_and_a_read_is_retried() -> None:
    calls: list[str] = []

    def drop(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        raise httpx.ReadTimeout("timed out")

    async with ConsulClient("http://127.0.0.1:8500", transport=httpx.MockTransport(drop), retries=1,
                            backoff=0.0) as consul:
        with pytest.raises(OutcomeUnknown, match="may or may not have applied it"):
            await consul.put_agent_service_deregister("web.1")
        with pytest.raises(RemoteUnavailable) as read:
            await consul.get_queries()
    assert not isinstance(read.value, OutcomeUnknown)
    assert calls == ["PUT", "GET", "GET"]  # the write once, the read retried


async def test_an_unchanged_query_list_gives_the_same_translation_and_a_changed_one_is_read_anew() -> None:
    def listed(only_passing: object, tags: list[str]) -> list[dict[str, object]]:
        service = {"Service": "redis", "OnlyPassing": only_passing, "Tags": tags}
        return [{"ID": "q1", "Name": "redis.int", "Service": service}]

    answers = [listed(True, ["int"]), listed(True, ["int"]), listed(True, ["int", "x"]), listed(False, ["int"])]
    recorder = Recorder(*(ok(body) for body in answers))
    async with client_of(recorder) as client:
        first, again, tagged, failing = [await client.get_observed_queries() for _ in answers]
    assert again is first  # decoded and translated once
    assert tagged["redis.int"].tags == ("int", "x")
    assert failing["redis.int"].only_passing is False and len(recorder.requests) == 4


async def test_a_query_list_byte_for_byte_unchanged_is_not_decoded_again_whatever_its_index() -> None:
    body = [{"ID": "q1", "Name": "redis.int", "Service": {"Service": "redis", "OnlyPassing": True, "Tags": ["int"]}}]
    recorder = Recorder(ok(body, index=7), ok(body, index=9), ok([], index=9))
    async with client_of(recorder) as client:
        first, again, emptied = [await client.get_observed_queries() for _ in range(3)]
    assert again is first  # the index moved (an unrelated write), the bytes did not: nothing decoded
    assert emptied == {}


async def test_a_query_list_whose_null_became_nan_is_read_anew_not_taken_for_the_previous_one() -> None:
    """The list is kept by its bytes, not by a serialisation of its parse that writes NaN as `null` (as the
    Marathon app memo's fingerprint does): the standard parser's NaN is read, and refused as a token."""
    body = b'[{"ID": "q1", "Name": "redis.int", "Token": null, "Service": {"Service": "redis"}}]'
    recorder = Recorder(httpx.Response(200, content=body), httpx.Response(200, content=body.replace(b"null", b"NaN")))
    async with client_of(recorder) as client:
        assert list(await client.get_observed_queries()) == ["redis.int"]
        with pytest.raises(RemoteUnavailable, match=r"GET /v1/query answered 200 with a body of an unexpected shape"
                                                     r" .*0/Token"):
            await client.get_observed_queries()


async def test_the_translation_handed_to_every_cycle_cannot_be_changed_by_one() -> None:
    body = [{"ID": "q1", "Name": "redis.int", "Service": {"Service": "redis", "OnlyPassing": True, "Tags": ["int"]}},
            {"ID": "q2", "Service": {"Service": "unnamed"}}]
    async with client_of(Recorder(ok(body))) as client:
        translated = await client.get_observed_queries()
    assert list(translated) == ["redis.int"]  # an unnamed query is never ours
    with pytest.raises(TypeError):
        translated["redis.int"] = translated["redis.int"]  # type: ignore[index]


async def test_the_catalog_services_index_is_read_without_decoding_the_services() -> None:
    not_json = httpx.Response(200, content=b"{not json}", headers={"X-Consul-Index": "42"})
    async with client_of(Recorder(not_json)) as client:
        assert await client.get_catalog_services_index() == 42
