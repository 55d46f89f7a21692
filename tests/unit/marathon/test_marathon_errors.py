"""Error translation of the Marathon client: statuses and httpx failures -> reconciler.errors, no secrets.

Bodies here are written from the error table of FACTS.md §1 (status -> body shape per version).
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from reconciler.errors import (
    DeploymentLocked,
    OutcomeUnknown,
    RemoteError,
    RemoteRejected,
    RemoteUnavailable,
    UsageError,
)
from reconciler.marathon import MarathonAuth, MarathonClient, NotFound

PASSWORD = "pw-Zq81-never-shown"
TOKEN = "eyJ0eXAi.tok-Xk22-never-shown.sig"
LOCKED = {
    "message": "App is locked by one or more deployments. Override with the option '?force=true'. "
    "View details at '/v2/deployments/<DEPLOYMENT_ID>'.",
    "deployments": [{"id": "97c136bf-5a28-4821-9d94-480d9fbb01c8"}, {"id": "5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43"}],
}


def client_answering(response: httpx.Response | Exception, **options: Any) -> MarathonClient:
    def answer(request: httpx.Request) -> httpx.Response:
        if isinstance(response, Exception):
            raise response
        return response

    options.setdefault("auth", MarathonAuth(user="ops", password=PASSWORD))
    return MarathonClient(
        options.pop("base_url", "http://marathon.test:8080"),
        transport=httpx.MockTransport(answer),
        retries=0,
        **options,
    )


async def put_redis(client: MarathonClient) -> None:
    async with client:
        await client.put_app("/integration/redis", {"instances": 2})


async def test_409_with_deployments_is_deployment_locked_with_their_ids() -> None:
    with pytest.raises(DeploymentLocked) as caught:
        await put_redis(client_answering(httpx.Response(409, json=LOCKED)))
    error = caught.value
    assert error.deployment_ids == ("97c136bf-5a28-4821-9d94-480d9fbb01c8", "5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43")
    assert error.status == 409
    assert "App is locked by one or more deployments" in error.message
    assert error.message.startswith("PUT /v2/apps/integration/redis: ")
    assert isinstance(error.__cause__, httpx.HTTPStatusError)


async def test_409_for_an_existing_id_is_rejected_but_not_locked() -> None:
    body = {"message": "An app with id [/integration/redis] already exists."}
    client = client_answering(httpx.Response(409, json=body))
    with pytest.raises(RemoteRejected) as caught:
        async with client:
            await client.post_apps({"id": "/integration/redis"})
    assert not isinstance(caught.value, DeploymentLocked)
    assert "already exists" in caught.value.message and caught.value.hint and "PUT" in caught.value.hint


async def test_404_is_not_found_with_marathons_message() -> None:
    client = client_answering(httpx.Response(404, json={"message": "App '/integration/redis' does not exist"}))
    with pytest.raises(NotFound) as caught:
        async with client:
            await client.get_app("/integration/redis")
    assert isinstance(caught.value, RemoteRejected) and caught.value.status == 404
    assert "GET /v2/apps/integration/redis" in caught.value.message
    assert "App '/integration/redis' does not exist" in caught.value.message


async def test_422_keeps_message_and_every_detail() -> None:
    body = {
        "message": "Object is not valid",
        "details": [
            {"path": "/upgradeStrategy/minimumHealthCapacity", "errors": ["is greater than 1"]},
            {"path": "/apps(0)/id", "errors": ["must be unique", "is not a valid path"]},
        ],
    }
    with pytest.raises(RemoteRejected) as caught:
        await put_redis(client_answering(httpx.Response(422, json=body)))
    message = caught.value.message
    assert caught.value.status == 422
    assert "Object is not valid" in message
    assert "/upgradeStrategy/minimumHealthCapacity: is greater than 1" in message
    assert "/apps(0)/id: must be unique, is not a valid path" in message


async def test_422_details_of_marathon_0x() -> None:
    body = {
        "message": "Object is not valid",
        "details": [{"attribute": "id", "error": "path contains invalid characters"}],
    }
    with pytest.raises(RemoteRejected, match="id: path contains invalid characters"):
        await put_redis(client_answering(httpx.Response(422, json=body)))


async def test_400_with_details_as_plain_text() -> None:
    body = {"message": "Invalid JSON", "details": "Unexpected end-of-input at line 1"}
    with pytest.raises(RemoteRejected, match="Invalid JSON \\(Unexpected end-of-input at line 1\\)") as caught:
        await put_redis(client_answering(httpx.Response(400, json=body)))
    assert caught.value.status == 400


async def test_401_from_jetty_basic_auth_is_rejected_without_html() -> None:
    page = "<html><body><h2>HTTP ERROR 401</h2><p>Problem accessing /v2/apps. Reason: Unauthorized</p></body></html>"
    response = httpx.Response(401, text=page, headers={"WWW-Authenticate": 'basic realm="Mesosphere"'})
    with pytest.raises(RemoteRejected) as caught:
        await put_redis(client_answering(response))
    assert caught.value.status == 401
    assert "<html>" not in caught.value.message and "Unauthorized" in caught.value.message
    assert caught.value.hint and "credentials" in caught.value.hint


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_is_unavailable(status: int) -> None:
    body = {"message": "Could not determine the current leader"}
    with pytest.raises(RemoteUnavailable, match="Could not determine the current leader") as caught:
        await put_redis(client_answering(httpx.Response(status, json=body)))
    assert caught.value.status == status


async def test_connect_error_is_unavailable_and_chained() -> None:
    failure = httpx.ConnectError("[Errno 111] Connection refused")
    with pytest.raises(RemoteUnavailable, match="cannot reach Marathon") as caught:
        await put_redis(client_answering(failure))
    assert caught.value.__cause__ is failure
    assert "http://marathon.test:8080" in caught.value.message


async def test_timeout_before_sending_is_unavailable() -> None:
    with pytest.raises(RemoteUnavailable, match="no answer in time") as caught:
        await put_redis(client_answering(httpx.ConnectTimeout("timed out")))
    assert not isinstance(caught.value, OutcomeUnknown)
    assert caught.value.hint and "timeout" in caught.value.hint


@pytest.mark.parametrize(
    "failure",
    [
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadTimeout("timed out"),
        httpx.ReadError("connection reset by peer"),
        httpx.WriteTimeout("timed out"),
    ],
)
async def test_a_write_whose_connection_drops_after_sending_has_an_unknown_outcome(failure: httpx.HTTPError) -> None:
    received: list[tuple[str, bytes]] = []

    def drop_after_receiving(request: httpx.Request) -> httpx.Response:
        received.append((request.url.path, request.read()))  # the request reached the server whole...
        raise failure  # ...and the connection dropped before the answer

    client = MarathonClient("http://marathon.test:8080", transport=httpx.MockTransport(drop_after_receiving))
    with pytest.raises(OutcomeUnknown, match="may or may not have applied it") as caught:
        await put_redis(client)
    assert received == [("/v2/apps/integration/redis", b'{"instances":2}')]
    assert caught.value.__cause__ is failure and "observe" in (caught.value.hint or "")


async def test_a_read_whose_connection_drops_is_unavailable_and_retried_not_unknown() -> None:
    calls = []

    def drop(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    client = MarathonClient("http://marathon.test:8080", transport=httpx.MockTransport(drop), retries=1,
                            sleep=_no_sleep)
    with pytest.raises(RemoteUnavailable) as caught:
        async with client:
            await client.get_deployments()
    assert not isinstance(caught.value, OutcomeUnknown) and len(calls) == 2


async def test_a_failed_read_logs_one_line_per_attempt_whatever_failed(caplog: pytest.LogCaptureFixture) -> None:
    """A retried read says so once per attempt (the retry WARNING, which names the error), whether
    Marathon answered 503 or the connection failed; the request line of a failure is DEBUG, as a
    success's is. It used to add an INFO line per dropped connection, two lines per attempt."""
    caplog.set_level(logging.INFO, logger="reconciler.marathon")
    for failure in (httpx.Response(503, text="busy"), httpx.ConnectError("Connection refused")):
        caplog.clear()

        def answer(request: httpx.Request, failure: httpx.Response | Exception = failure) -> httpx.Response:
            if isinstance(failure, Exception):
                raise failure
            return failure

        client = MarathonClient("http://marathon.test:8080", transport=httpx.MockTransport(answer), retries=2,
                                sleep=_no_sleep)
        with pytest.raises(RemoteUnavailable):
            async with client:
                await client.get_deployments()
        lines = [(r.levelname, r.getMessage().split(" ")[0]) for r in caplog.records]
        assert lines == [("WARNING", "retry"), ("WARNING", "retry")], (failure, lines)


async def _no_sleep(_seconds: float) -> None:
    return None


async def test_an_answer_that_is_not_marathons_is_a_remote_error() -> None:
    client = client_answering(httpx.Response(200, text="<html>proxy login</html>"))
    with pytest.raises(RemoteError, match="unreadable answer \\(200\\): not JSON"):
        async with client:
            await client.get_deployments()


async def test_an_answer_of_the_wrong_shape_names_the_field() -> None:
    client = client_answering(httpx.Response(200, json={"apps": [{"instances": 2}]}))
    with pytest.raises(RemoteError, match="apps/0/id: Field required"):
        async with client:
            await client.get_apps()


@pytest.mark.parametrize(
    ("body", "call", "found"),
    [
        ({"app": {"id": "/e/a", "instances": "two"}}, lambda client: client.get_app("/e/a"), "app/instances: "),
        ({"leader": 5}, lambda client: client.get_leader(), "leader: Input should be a valid string"),
        ({"task": [{"id": 7}]}, lambda client: client.delete_app_task("/e/a", "t1"), "task/0/id: "),
    ],
)
async def test_a_wrapped_answer_of_the_wrong_shape_names_the_field_from_the_answers_top(
    body: object, call: Any, found: str
) -> None:
    client = client_answering(httpx.Response(200, json=body))
    with pytest.raises(RemoteError, match=r"unreadable answer \(200\): ") as caught:
        async with client:
            await call(client)
    assert found in str(caught.value) and "): :" not in str(caught.value)


@pytest.mark.parametrize(
    ("body", "call", "found"),
    [
        ({"message": "no app here"}, lambda client: client.get_app("/e/a"), "no 'app' in it"),
        ({"tasks": []}, lambda client: client.delete_app_task("/e/a", "t1"), "no 'task' in it"),
    ],
)
async def test_json_of_the_wrong_shape_is_not_called_not_json(body: object, call: Any, found: str) -> None:
    client = client_answering(httpx.Response(200, json=body))
    with pytest.raises(RemoteError, match=r"unreadable answer \(200\): ") as caught:
        async with client:
            await call(client)
    assert found in str(caught.value) and "not JSON" not in str(caught.value)


@pytest.mark.parametrize("url", ["marathon.test:8080", "ftp://marathon.test", f"ops:{PASSWORD}@marathon.test"])
def test_bad_url_is_a_usage_error_without_credentials(url: str) -> None:
    with pytest.raises(UsageError, match="invalid Marathon URL") as caught:
        MarathonClient(url)
    secret_free(caught.value)


def secret_free(*texts: object) -> None:
    for text in texts:
        assert PASSWORD not in str(text) and TOKEN not in str(text), text


async def test_secrets_never_appear_in_errors_reprs_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[RemoteError | UsageError] = []
    for secret, options in (
        (PASSWORD, {"auth": MarathonAuth(user="ops", password=PASSWORD)}),
        (TOKEN, {"auth": MarathonAuth(token=TOKEN)}),
        (PASSWORD, {"auth": None, "base_url": f"http://ops:{PASSWORD}@marathon.test:8080"}),
    ):
        # Marathon's message (or a library's) may echo the secret back: the client must still not show it.
        echo = httpx.Response(422, json={"message": f"bad {secret}", "details": [{"path": "/env", "errors": [secret]}]})
        for failure in (echo, httpx.Response(401, text="Unauthorized"), httpx.ConnectError(f"refused {secret}")):
            client = client_answering(failure, **options)
            secret_free(repr(client), str(client))
            with pytest.raises((RemoteError, UsageError)) as caught:
                await put_redis(client)
            errors.append(caught.value)
    assert len(errors) == 9
    for error in errors:
        secret_free(error, error.message, error.hint, repr(error))
    secret_free(*(record.getMessage() for record in caplog.records))
    secret_free(repr(MarathonAuth(user="ops", password=PASSWORD, token=TOKEN)), str(MarathonAuth(token=TOKEN)))


async def test_error_messages_name_the_url_without_userinfo() -> None:
    client = client_answering(httpx.Response(503), auth=None, base_url=f"http://ops:{PASSWORD}@marathon.test:8080")
    with pytest.raises(RemoteUnavailable) as caught:
        await put_redis(client)
    assert "(Marathon at http://marathon.test:8080)" in caught.value.message
    assert "ops:" not in caught.value.message
