"""Which Consul errors read `rpc error making call: ...`, checked against hashicorp/consul's source.

An error returned by a server's RPC endpoint reaches the HTTP layer as is when the agent asked is the
server (agent/consul/server.go `Server.RPC`: an in-memory codec, `return codec.err`), and wrapped when it
is a client agent (agent/consul/client.go `Client.RPC` -> agent/pool/pool.go `ConnPool.rpc`:
`fmt.Errorf("rpc error making call: %w", err)`). Errors of the agent itself (agent/http.go parsing, the
local agent's checks) never carry the prefix.
"""

from __future__ import annotations

import uuid

import httpx

from reconciler.sandbox.consul import ConsulSandbox

PREFIX = "rpc error making call: "


async def session_ttl_refusal(http: httpx.AsyncClient, base: str) -> httpx.Response:
    # agent/consul/session_endpoint.go Apply refuses a TTL under 10 s.
    return await http.put(f"{base}/v1/session/create", json={"TTL": "5s"})


async def acquire_with_unknown_session(http: httpx.AsyncClient, base: str) -> httpx.Response:
    # agent/consul/kvs_endpoint.go preApply / state store: `invalid session "<id>"`.
    return await http.put(f"{base}/v1/kv/rpc-errors/lock", content=b"x", params={"acquire": "no-such-session"})


async def catalog_register_without_node(http: httpx.AsyncClient, base: str) -> httpx.Response:
    # agent/consul/catalog_endpoint.go Register (nodePreApply): `Must provide node`.
    return await http.put(f"{base}/v1/catalog/register", json={"Address": "127.0.0.60"})


async def update_of_unknown_query(http: httpx.AsyncClient, base: str) -> httpx.Response:
    # agent/consul/prepared_query_endpoint.go Apply: `Cannot modify non-existent prepared query: '<id>'`.
    return await http.put(f"{base}/v1/query/{uuid.UUID(int=7)}", json={"Service": {"Service": "x"}})


async def read_in_unknown_datacenter(http: httpx.AsyncClient, base: str) -> httpx.Response:
    # agent/consul/rpc.go forwardDC: structs.ErrNoDCPath, returned by the server the client asked.
    return await http.get(f"{base}/v1/catalog/services", params={"dc": "elsewhere"})


RPC_FAILURES = {
    session_ttl_refusal: "Invalid Session TTL '5000000000', must be between [10s=24h0m0s]",
    acquire_with_unknown_session: 'invalid session "no-such-session"',
    catalog_register_without_node: "Must provide node",
    update_of_unknown_query: f"Cannot modify non-existent prepared query: '{uuid.UUID(int=7)}'",
    read_in_unknown_datacenter: "No path to datacenter",
}


async def test_a_server_agent_answers_rpc_errors_as_is(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    for call, text in RPC_FAILURES.items():
        answer = await call(http, consul_sandbox.url)
        assert (answer.status_code, answer.text) == (500, text), call.__name__


async def test_a_client_agent_wraps_rpc_errors_in_its_connection_pools_prefix(
    consul_sandbox: ConsulSandbox, http: httpx.AsyncClient
) -> None:
    client = consul_sandbox.agent_url("agent-1")
    for call, text in RPC_FAILURES.items():
        answer = await call(http, client)
        assert (answer.status_code, answer.text) == (500, PREFIX + text), call.__name__


async def test_the_agents_own_errors_carry_no_prefix_on_any_agent(
    consul_sandbox: ConsulSandbox, http: httpx.AsyncClient
) -> None:
    # agent/agent_endpoint.go AgentCheckPass -> agent.updateTTLCheck: `CheckID "<id>" does not have
    # associated TTL` (the local agent's state, no RPC); agent/http.go parseWait: `Invalid wait time`.
    for base in (consul_sandbox.url, consul_sandbox.agent_url("agent-1")):
        registered = await http.put(
            f"{base}/v1/agent/check/register",
            json={"Name": "no-ttl", "TCP": "127.0.0.1:9", "Interval": "10s"},
        )
        assert registered.status_code == 200
        passed = await http.put(f"{base}/v1/agent/check/pass/no-ttl")
        assert (passed.status_code, passed.text) == (500, 'CheckID "no-ttl" does not have associated TTL')
        bad_wait = await http.get(f"{base}/v1/catalog/services", params={"index": "1", "wait": "soon"})
        assert (bad_wait.status_code, bad_wait.text) == (400, "Invalid wait time")
