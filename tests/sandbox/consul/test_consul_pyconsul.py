"""The third-party `py-consul` client against the Consul sandbox: register, health, KV, sessions, queries.

py-consul is synchronous, so each scenario runs in a worker thread while the sandbox serves on the loop.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import consul
import pytest

from reconciler.sandbox.consul import ConsulSandbox


def client(sandbox: ConsulSandbox) -> consul.Consul:
    url = urlsplit(sandbox.url)
    return consul.Consul(host=url.hostname, port=url.port)


def register_and_read_health(c: consul.Consul) -> None:
    assert c.agent.service.register("api", service_id="api-1", port=8080, tags=["integration"],
                                    check=consul.Check.ttl("30s"))
    _, entries = c.health.service("api")
    assert [e["Service"]["ID"] for e in entries] == ["api-1"]
    _, passing = c.health.service("api", passing=True)
    assert passing == [], "a new check starts critical"
    c.agent.check.ttl_pass("service:api-1", "ready")
    index, passing = c.health.service("api", passing=True, tag="integration")
    assert [e["Service"]["ID"] for e in passing] == ["api-1"]
    assert int(index) >= 1
    _, services = c.catalog.services()
    assert services["api"] == ["integration"]
    _, checks = c.health.checks("api")
    assert checks[0]["Output"] == "ready"
    assert c.agent.service.deregister("api-1")
    assert c.agent.services() == {}


def use_kv_and_sessions(c: consul.Consul) -> None:
    assert c.kv.put("app/config", "v1")
    _, entry = c.kv.get("app/config")
    assert entry["Value"] == b"v1"
    assert c.kv.put("app/config", "v2", cas=0) is False
    assert c.kv.put("app/config", "v2", cas=entry["ModifyIndex"]) is True
    _, missing = c.kv.get("app/none")
    assert missing is None
    _, keys = c.kv.get("app/", keys=True)
    assert keys == ["app/config"]
    session = c.session.create(name="leader", ttl=10, lock_delay=0, behavior="release")
    assert c.kv.put("app/leader", "me", acquire=session) is True
    other = c.session.create(name="other", lock_delay=0)
    assert c.kv.put("app/leader", "you", acquire=other) is False
    _, held = c.kv.get("app/leader")
    assert held["Session"] == session
    assert c.session.renew(session)["ID"] == session
    _, info = c.session.info(session)
    assert info["Name"] == "leader"
    assert c.session.destroy(session)
    _, released = c.kv.get("app/leader")
    assert "Session" not in released
    _, listed = c.session.list()
    assert [s["ID"] for s in listed] == [other]


def use_prepared_queries(c: consul.Consul) -> None:
    c.agent.service.register("redis", service_id="redis-1", port=6379, tags=["func-1"],
                             check=consul.Check.ttl("30s"))
    c.agent.check.ttl_pass("service:redis-1")
    created = c.query.create("redis", name="redis.func-1", tags=["func-1"], onlypassing=True)
    result = c.query.execute("redis.func-1")
    assert [n["Service"]["ID"] for n in result["Nodes"]] == ["redis-1"]
    assert result["Datacenter"] == "dc1"
    c.query.update(created["ID"], "redis", name="redis.func-1", tags=["func-2"])
    assert c.query.execute("redis.func-1")["Nodes"] == []
    # py-consul always sends a name_prefix_match Template, and agent/consul/state/prepared_query.go
    # PreparedQueryResolve refuses a template looked up by its ID.
    with pytest.raises(consul.ConsulException, match="can only be resolved up by name"):
        c.query.execute(created["ID"])
    assert [q["Name"] for q in c.query.list()] == ["redis.func-1"]
    c.query.delete(created["ID"])
    assert c.query.list() == []


async def test_py_consul_register_and_health(consul_sandbox: ConsulSandbox) -> None:
    await asyncio.to_thread(register_and_read_health, client(consul_sandbox))


async def test_py_consul_kv_and_sessions(consul_sandbox: ConsulSandbox) -> None:
    await asyncio.to_thread(use_kv_and_sessions, client(consul_sandbox))


async def test_py_consul_prepared_queries(consul_sandbox: ConsulSandbox) -> None:
    await asyncio.to_thread(use_prepared_queries, client(consul_sandbox))
