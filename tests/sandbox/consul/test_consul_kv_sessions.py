"""KV and sessions of the Consul sandbox over real HTTP: values, listings, CAS, locks, lock-delay, expiry."""

from __future__ import annotations

import base64

import httpx

from reconciler.sandbox.consul import ConsulSandbox
from tests.sandbox.consul.fixtures import SandboxFactory, eventually


async def test_put_get_raw_and_missing(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    kv = f"{consul_sandbox.url}/v1/kv"
    put = await http.put(f"{kv}/app/config", content=b"hello", params={"flags": "42"})
    assert (put.status_code, put.text) == (200, "true")
    entries = (await http.get(f"{kv}/app/config")).json()
    assert len(entries) == 1
    assert base64.b64decode(entries[0]["Value"]) == b"hello"
    assert entries[0]["Flags"] == 42 and entries[0]["LockIndex"] == 0 and "Session" not in entries[0]
    raw = await http.get(f"{kv}/app/config", params={"raw": ""})
    assert (raw.content, raw.headers["content-type"].split(";")[0]) == (b"hello", "text/plain")
    missing = await http.get(f"{kv}/app/nope")
    assert (missing.status_code, missing.content) == (404, b"")
    assert int(missing.headers["X-Consul-Index"]) >= 1
    assert (await http.get(f"{kv}/")).text == "Missing key name"
    # agent/kvs_endpoint.go KVSPut returns the strconv error itself: the HTTP layer answers 500.
    bad = await http.put(f"{kv}/x", params={"flags": "-1"})
    assert (bad.status_code, bad.text) == (500, 'strconv.ParseUint: parsing "-1": invalid syntax')


async def test_recurse_keys_and_separator(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    kv = f"{consul_sandbox.url}/v1/kv"
    for key in ("web/bar", "web/foo", "web/subdir/a", "web/subdir/b", "other"):
        await http.put(f"{kv}/{key}", content=key.encode())
    listed = (await http.get(f"{kv}/web/", params={"recurse": ""})).json()
    assert [e["Key"] for e in listed] == ["web/bar", "web/foo", "web/subdir/a", "web/subdir/b"]
    keys = (await http.get(f"{kv}/web/", params={"keys": "", "separator": "/"})).json()
    assert keys == ["web/bar", "web/foo", "web/subdir/"]
    assert len((await http.get(f"{kv}/", params={"keys": ""})).json()) == 5
    assert (await http.get(f"{kv}/nothing/", params={"keys": ""})).status_code == 404
    assert (await http.get(f"{kv}/nothing/", params={"recurse": ""})).status_code == 404
    deleted = await http.delete(f"{kv}/web", params={"recurse": ""})
    assert deleted.text == "true"
    assert (await http.get(f"{kv}/", params={"keys": ""})).json() == ["other"]


async def test_cas_and_delete_cas(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    kv = f"{consul_sandbox.url}/v1/kv"
    assert (await http.put(f"{kv}/k", content=b"1", params={"cas": "0"})).text == "true"
    assert (await http.put(f"{kv}/k", content=b"2", params={"cas": "0"})).text == "false"
    index = (await http.get(f"{kv}/k")).json()[0]["ModifyIndex"]
    assert (await http.put(f"{kv}/k", content=b"3", params={"cas": str(index + 100)})).text == "false"
    assert (await http.put(f"{kv}/k", content=b"4", params={"cas": str(index)})).text == "true"
    new_index = (await http.get(f"{kv}/k")).json()[0]["ModifyIndex"]
    assert new_index > index
    assert (await http.delete(f"{kv}/k", params={"cas": str(index)})).text == "false"
    assert (await http.delete(f"{kv}/k", params={"cas": str(new_index)})).text == "true"
    conflict = await http.put(f"{kv}/k", params={"cas": "0", "acquire": "x"})
    assert conflict.status_code == 400 and conflict.text.startswith("Conflicting flags")
    assert (await http.delete(f"{kv}/k", params={"cas": "1", "recurse": ""})).status_code == 400


async def create_session(http: httpx.AsyncClient, base: str, body: dict[str, object]) -> str:
    response = await http.put(f"{base}/v1/session/create", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["ID"])


async def test_session_create_validation_and_defaults(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    base = consul_sandbox.url
    sid = await create_session(http, base, {"Name": "lock", "TTL": "30s", "LockDelay": 5})
    info = (await http.get(f"{base}/v1/session/info/{sid}")).json()[0]
    assert info["NodeChecks"] == ["serfHealth"] and info["Behavior"] == "release"
    assert info["LockDelay"] == 5_000_000_000 and info["TTL"] == "30s" and info["Node"] == "consul-server"
    default = await create_session(http, base, {})
    assert (await http.get(f"{base}/v1/session/info/{default}")).json()[0]["LockDelay"] == 15_000_000_000
    no_checks = await create_session(http, base, {"NodeChecks": []})
    assert (await http.get(f"{base}/v1/session/info/{no_checks}")).json()[0]["NodeChecks"] == []
    for bad in ({"TTL": "5s"}, {"TTL": "86401s"}, {"LockDelay": "61s"}, {"Behavior": "explode"},
                {"Node": "nope"}, {"NodeChecks": ["missing"]}):
        response = await http.put(f"{base}/v1/session/create", json=bad)
        assert response.status_code >= 400, bad
        assert not response.headers["content-type"].startswith("application/json")
    assert (await http.get(f"{base}/v1/session/info/nope")).json() == []
    assert len((await http.get(f"{base}/v1/session/list")).json()) == 3
    assert len((await http.get(f"{base}/v1/session/node/consul-server")).json()) == 3
    renewed = await http.put(f"{base}/v1/session/renew/{sid}")
    assert renewed.json()[0]["ID"] == sid
    unknown = await http.put(f"{base}/v1/session/renew/nope")
    assert (unknown.status_code, unknown.text) == (404, "Session id 'nope' not found")
    assert (await http.put(f"{base}/v1/session/destroy/{sid}")).text == "true"
    assert (await http.put(f"{base}/v1/session/destroy/{sid}")).text == "true"


async def test_acquire_release_and_lock_delay(consul_sandbox_factory: SandboxFactory, http: httpx.AsyncClient) -> None:
    sandbox = await consul_sandbox_factory(session_time_scale=1.0)
    base, kv = sandbox.url, f"{sandbox.url}/v1/kv/service/api/leader"
    first = await create_session(http, base, {"LockDelay": "0s"})
    second = await create_session(http, base, {})
    assert (await http.put(kv, content=b"me", params={"acquire": first})).text == "true"
    assert (await http.put(kv, content=b"me", params={"acquire": first})).text == "true"
    entry = (await http.get(kv)).json()[0]
    assert (entry["Session"], entry["LockIndex"]) == (first, 1)
    assert (await http.put(kv, content=b"you", params={"acquire": second})).text == "false"
    assert (await http.put(kv, content=b"x", params={"release": second})).text == "false"
    invalid = await http.put(kv, content=b"x", params={"acquire": "not-a-session"})
    # The server agent calls KVS.Apply in memory: the error as is (test_consul_rpc_errors.py has a client's).
    assert (invalid.status_code, invalid.text) == (500, 'invalid session "not-a-session"')
    assert (await http.put(kv, content=b"", params={"release": first})).text == "true"
    entry = (await http.get(kv)).json()[0]
    assert "Session" not in entry and entry["LockIndex"] == 1
    assert (await http.put(kv, content=b"you", params={"acquire": second})).text == "true"
    assert (await http.get(kv)).json()[0]["LockIndex"] == 2
    # Destroying the holder starts the 15 s lock-delay: nobody may take the key meanwhile.
    await http.put(f"{base}/v1/session/destroy/{second}")
    assert "Session" not in (await http.get(kv)).json()[0]
    assert (await http.put(kv, content=b"me", params={"acquire": first})).text == "false"


async def test_session_ttl_expiry_releases_lock(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    base, kv = consul_sandbox.url, f"{consul_sandbox.url}/v1/kv/leader"
    sid = await create_session(http, base, {"TTL": "10s", "LockDelay": "1s"})
    assert (await http.put(kv, content=b"me", params={"acquire": sid})).text == "true"
    # TTL 10 s at scale 0.01 expires after ~0.1 s.
    entry = await eventually(lambda: _entry(http, kv), lambda e: "Session" not in e, timeout=5)
    assert entry["LockIndex"] == 1
    assert (await http.get(f"{base}/v1/session/info/{sid}")).json() == []
    assert (await http.put(f"{base}/v1/session/renew/{sid}")).status_code == 404


async def test_delete_behavior_and_critical_check_invalidates(consul_sandbox: ConsulSandbox,
                                                              http: httpx.AsyncClient) -> None:
    base = consul_sandbox.url
    await http.put(f"{base}/v1/agent/check/register", json={"Name": "alive", "TTL": "60s", "Status": "passing"})
    sid = await create_session(http, base, {"Behavior": "delete", "NodeChecks": ["serfHealth", "alive"]})
    assert (await http.put(f"{base}/v1/kv/ephemeral", content=b"x", params={"acquire": sid})).text == "true"
    await http.put(f"{base}/v1/agent/check/fail/alive")
    assert (await http.get(f"{base}/v1/session/info/{sid}")).json() == []
    assert (await http.get(f"{base}/v1/kv/ephemeral")).status_code == 404


async def _entry(http: httpx.AsyncClient, url: str) -> dict[str, object]:
    return dict((await http.get(url)).json()[0])
