"""Secrets out of every text: reconciler.redaction, and both clients when a remote echoes the request's
credentials back in its error body (through httpx.MockTransport: the remote is hostile, not ours).
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from reconciler.consul.client import ConsulClient
from reconciler.errors import RemoteError
from reconciler.marathon import MarathonAuth, MarathonClient
from reconciler.redaction import MASK, redact, redact_url, secret_forms, split_userinfo

USER = "ops"
PASSWORD = 'pw"Zq81/never:shown'  # a quote, a slash and a colon: its JSON and URL forms differ from it
TOKEN = "tok-Xk22-never-shown-5c1d"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def leaks(text: str) -> list[str]:
    """Every form of the secrets above that `text` still holds."""
    forms = secret_forms(user=USER, password=PASSWORD, tokens=(TOKEN,))
    return [form for form in forms if form in text]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://ops:secret@marathon.test:8080/base", "http://***@marathon.test:8080/base"),
        ("https://ops@consul.test", "https://***@consul.test"),
        ("http://ops:p@ss@marathon.test", "http://***@marathon.test"),
        ("ops:secret@marathon.test", "***@marathon.test"),
        ("http://marathon.test:8080", "http://marathon.test:8080"),
    ],
)
def test_redact_url_masks_the_whole_userinfo(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_split_userinfo_decodes_and_keeps_the_rest() -> None:
    assert split_userinfo("http://ops:p%40ss%3A1@h.test:8500/x?y=1") == ("http://h.test:8500/x?y=1", "ops", "p@ss:1")
    assert split_userinfo("http://h.test:8500") == ("http://h.test:8500", None, None)


@pytest.mark.parametrize(
    "echo",
    [
        f"Authorization: Basic {BASIC}",
        f'{{"Authorization": ["Basic {BASIC}"]}}',  # Go's http.Header as JSON
        f"authorization=Bearer {TOKEN}",
        f"Bearer {TOKEN}",
        f"Authorization: token={TOKEN}",  # DC/OS ACS
        f"X-Consul-Token: {TOKEN}",
        f'{{"X-Consul-Token": "{TOKEN}"}}',
        f"password was {PASSWORD}",
        f"url-encoded: ops:{PASSWORD.replace('/', '%2F').replace(':', '%3A').replace(chr(34), '%22')}",
        json.dumps({"message": f"bad password {PASSWORD}"}),
        f"GET http://{USER}:{PASSWORD}@marathon.test/v2/apps",
    ],
)
def test_redact_masks_every_form_of_an_echoed_credential(echo: str) -> None:
    text = redact(f"upstream said: {echo} (end)", secret_forms(user=USER, password=PASSWORD, tokens=(TOKEN,)))
    assert not leaks(text), text
    assert MASK in text and text.startswith("upstream said: ") and text.endswith(" (end)")


def test_unknown_credentials_in_headers_are_masked_without_knowing_them() -> None:
    text = redact('Authorization: Basic dXNlcjpvdGhlcg== and "X-Consul-Token": ["abc-123-def"] and Bearer abcdef123')
    assert "dXNlcjpvdGhlcg" not in text and "abc-123-def" not in text and "abcdef123" not in text


def test_prose_stays_readable() -> None:
    text = 'use HTTP basic auth; WWW-Authenticate: basic realm="Mesosphere"; the token expired'
    assert redact(text) == text


def echoed_secrets(request: httpx.Request) -> str:
    """The credentials the request carried, decoded, as a remote that reads them could repeat them."""
    found = []
    authorization = request.headers.get("authorization", "")
    if authorization.startswith("Basic "):
        found.append("user:password " + base64.b64decode(authorization[6:]).decode())
    if authorization.startswith("token="):
        found.append(f"token {authorization[6:]}")
    if "x-consul-token" in request.headers:
        found.append(f"acl token {request.headers['x-consul-token']} not found")
    return "; ".join(found)


def hostile(status: int, as_json: bool) -> Callable[[httpx.Request], httpx.Response]:
    """A remote whose error body echoes every request header and the credentials in them (a
    misconfigured proxy or a chatty auth layer does this)."""

    def answer(request: httpx.Request) -> httpx.Response:
        headers = dict(request.headers.items())
        text = " ".join(f"{name}: {value}" for name, value in headers.items())
        if as_json:
            details = [{"path": "/", "errors": [json.dumps(headers), echoed_secrets(request)]}]
            return httpx.Response(status, json={"message": f"refused: {text}", "details": details})
        return httpx.Response(status, text=f"refused: {text}; {echoed_secrets(request)}")

    return answer


@pytest.mark.parametrize("status", [401, 403, 422, 500])
@pytest.mark.parametrize("as_json", [True, False])
@pytest.mark.parametrize(
    "options",
    [
        {"auth": MarathonAuth(user=USER, password=PASSWORD)},
        {"auth": MarathonAuth(token=TOKEN)},
        {"base": f"http://{USER}:{PASSWORD.replace('/', '%2F').replace(chr(34), '%22')}@marathon.test:8080"},
    ],
)
async def test_marathon_errors_never_show_echoed_credentials(
    status: int, as_json: bool, options: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    base = options.pop("base", "http://marathon.test:8080")
    client = MarathonClient(base, transport=httpx.MockTransport(hostile(status, as_json)), retries=1,
                            backoff_seconds=0.0, **options)
    async with client:
        with pytest.raises(RemoteError) as caught:
            await client.get_apps()
    error = caught.value
    assert str(status) in error.message
    for text in (str(error), repr(error), error.hint or "", *(r.getMessage() for r in caplog.records)):
        assert not leaks(text), text


@pytest.mark.parametrize("status", [400, 403, 500])
async def test_consul_errors_never_show_the_token_or_the_urls_password(
    status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return hostile(status, as_json=False)(request)

    url = f"http://{USER}:{PASSWORD.replace('/', '%2F').replace(chr(34), '%22')}@consul.test:8500"
    async with ConsulClient(url, token=TOKEN, transport=httpx.MockTransport(answer), retries=1, backoff=0.0) as consul:
        with pytest.raises(RemoteError) as caught:
            await consul.get_agent_services()
        agent = consul.for_agent("http://127.0.0.2:8500")
        with pytest.raises(RemoteError) as agent_caught:
            await agent.get_agent_services()
        assert not leaks(consul.base_url) and consul.base_url == "http://consul.test:8500"
        assert not leaks(repr(consul)) and not leaks(repr(agent))
    # The credentials went where they belong: the request headers, to this agent and to the other one.
    assert all(r.headers["Authorization"] == f"Basic {BASIC}" and r.headers["X-Consul-Token"] == TOKEN for r in seen)
    assert {r.url.host for r in seen} == {"consul.test", "127.0.0.2"}
    for text in (str(caught.value), str(agent_caught.value), *(r.getMessage() for r in caplog.records)):
        assert not leaks(text), text
    assert "refused" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("jdbc:postgresql://db/x?user=app&password=hunter2&ssl=true",
         "jdbc:postgresql://db/x?user=app&password=***&ssl=true"),
        ("postgresql://db/x?sslpassword=a%20b", "postgresql://db/x?sslpassword=***"),
        ("jdbc:sqlserver://db;user=app;password=hunter2;database=x", "jdbc:sqlserver://db;user=app;password=***;database=x"),
        ("mysql://db/x?PWD=hunter2#frag", "mysql://db/x?PWD=***#frag"),
        ("http://h.test/p?passwordless=1&mode=password", "http://h.test/p?passwordless=1&mode=password"),
        ("store at postgresql://db/x?password=***: OperationalError", "store at postgresql://db/x?password=***: "
         "OperationalError"),
        ("(postgresql://db/x?password=p:w.d)", "(postgresql://db/x?password=***)"),
    ],
)
def test_password_parameters_of_urls_are_masked(text: str, shown: str) -> None:
    assert redact(text) == shown
    assert redact_url(text) == shown
