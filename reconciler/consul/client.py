"""The async Consul client (layer 3 adapter): one method per endpoint the reconciler uses.

Methods mirror the remote endpoint (`put_agent_service_register` is `PUT /v1/agent/service/register`)
and return wire models. Blocking reads take and return a BlockingState. Registration goes through the
agent on the task's host: `for_agent` gives a client for another agent with the same settings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter, ValidationError

from reconciler.answer_size import API_ANSWER_BYTES
from reconciler.consul import wire
from reconciler.consul.blocking import BlockingState, blocking_request
from reconciler.consul.errors import shape_error
from reconciler.consul.http import Answer, ConsulHttp, body_of, require_object
from reconciler.consul.translate import (
    CheckState,
    NodeServices,
    WatchedCheck,
    check_states,
    check_states_of_json,
    node_services,
    node_services_of_json,
    observed_queries_of,
    observed_queries_of_json,
    watched_checks,
    watched_checks_of_json,
)
from reconciler.core.registry import ObservedQuery
from reconciler.errors import RemoteUnavailable
from reconciler.gc_pause import decoded_off_loop

_SERVICES = TypeAdapter(dict[str, wire.AgentService])
_CHECKS = TypeAdapter(dict[str, wire.HealthCheck])
_ENTRIES = TypeAdapter(list[wire.ServiceEntry])
_CHECK_LIST = TypeAdapter(list[wire.HealthCheck])
_CATALOG = TypeAdapter(dict[str, list[str]])
_NODES = TypeAdapter(list[wire.Node])
_CATALOG_NODE = TypeAdapter(wire.CatalogNode)
_KV = TypeAdapter(list[wire.KVPair])
_SESSIONS = TypeAdapter(list[wire.Session])
_QUERIES = TypeAdapter(list[wire.PreparedQuery])
_T = TypeVar("_T")


def _segment(value: str) -> str:
    """A path segment, URL-encoded (names may hold characters that are unsafe in a URL)."""
    return quote(value, safe="")


def _key_path(key: str) -> str:
    return "/v1/kv/" + quote(key.lstrip("/"), safe="/")


def _list(body: Any) -> Any:
    """An answer that should be a list, `null` (an empty list in some versions) as `[]`."""
    return [] if body is None else body


class ConsulClient:
    """Talks to one Consul agent's HTTP API; close it with `aclose()` or use `async with`."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
        on_request: Callable[[str, str], None] | None = None,
        backoff: float = 0.2,
        basic_auth: tuple[str, str | None] | None = None,
        user_agent: str | None = None,
        answer_bytes: int = API_ANSWER_BYTES,
    ) -> None:
        self._settings: dict[str, Any] = {
            "answer_bytes": answer_bytes,
            "user_agent": user_agent,
            "token": token,
            "timeout": timeout,
            "retries": retries,
            "transport": transport,
            "on_request": on_request,
            "backoff": backoff,
            "basic_auth": basic_auth,
        }
        self._http = ConsulHttp(base_url, **self._settings)
        # Agents of other hosts get the same basic auth as this one (the URL's userinfo, split off).
        self._settings["basic_auth"] = self._http.basic_auth
        self._agents: dict[str, ConsulClient] = {}
        # The last /v1/query answer and its translation: an unchanged list is not validated again, and
        # only the translation is kept (the models of 10,000 queries were 35 MB).
        self._queries: tuple[bytes, Mapping[str, ObservedQuery]] | None = None

    def __repr__(self) -> str:
        return f"ConsulClient({self._http.base_url!r})"

    @property
    def base_url(self) -> str:
        return self._http.base_url

    def identify(self, user_agent: str) -> None:
        """The User-Agent of every later request, this agent's and the other agents' clients alike."""
        self._settings["user_agent"] = user_agent
        self._http.identify(user_agent)
        for agent in self._agents.values():
            agent.identify(user_agent)

    def for_agent(self, base_url: str) -> ConsulClient:
        """A client of the agent at `base_url` with the same settings; closed with this one."""
        key = base_url.rstrip("/")
        if key == self.base_url:
            return self
        if key not in self._agents:
            self._agents[key] = ConsulClient(key, **self._settings)
        return self._agents[key]

    async def aclose(self) -> None:
        for agent in self._agents.values():
            await agent.aclose()
        self._agents.clear()
        await self._http.aclose()

    async def __aenter__(self) -> ConsulClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # agent -------------------------------------------------------------------------------------

    async def put_agent_service_register(
        self, registration: wire.ServiceRegistration, *, replace_existing_checks: bool = True
    ) -> None:
        params = {"replace-existing-checks": "true"} if replace_existing_checks else None
        await self._http.send("PUT", "/v1/agent/service/register", params=params, json_body=registration.to_body())

    async def put_agent_service_deregister(self, service_id: str) -> None:
        """Removes the instance and its checks; an unknown id raises ConsulNotFound."""
        await self._http.send("PUT", f"/v1/agent/service/deregister/{_segment(service_id)}")

    async def get_agent_services(self) -> dict[str, wire.AgentService]:
        answer = await self._http.send("GET", "/v1/agent/services")
        return await self._validated(_SERVICES, answer, "/v1/agent/services")

    async def get_agent_checks(self) -> dict[str, wire.HealthCheck]:
        answer = await self._http.send("GET", "/v1/agent/checks")
        return await self._validated(_CHECKS, answer, "/v1/agent/checks")

    async def get_agent_self(self) -> wire.AgentSelf:
        answer = await self._http.send("GET", "/v1/agent/self")
        return self._parse(TypeAdapter(wire.AgentSelf), answer, "/v1/agent/self")

    # health and catalog (blocking) -------------------------------------------------------------

    async def get_health_service(
        self, name: str, *, passing: bool = False, tag: str | None = None, block: BlockingState | None = None
    ) -> tuple[list[wire.ServiceEntry], BlockingState]:
        params = {"passing": "true"} if passing else {}
        if tag is not None:
            params["tag"] = tag
        path = f"/v1/health/service/{_segment(name)}"
        answer, state = await self._blocking_get(path, params, block)
        return await self._validated(_ENTRIES, answer, path), state

    async def get_health_state(
        self, state: str = "any", *, block: BlockingState | None = None
    ) -> tuple[list[wire.HealthCheck], BlockingState]:
        path = f"/v1/health/state/{_segment(state)}"
        answer, next_state = await self._blocking_get(path, {}, block)
        return await self._validated(_CHECK_LIST, answer, path), next_state

    async def get_watched_checks(
        self, tag: str, *, block: BlockingState | None = None
    ) -> tuple[tuple[WatchedCheck, ...] | None, BlockingState]:
        """`get_health_state("any")` reduced to what the controller's health watch compares: node checks and
        the checks of services tagged `tag`, read straight from the JSON (an answer not plainly of
        `wire.HealthCheck`s is validated as they are, and fails as they do). None, nothing decoded, when
        the answer's index is the one blocked on: the read timed out with no check changed."""
        path = "/v1/health/state/any"

        async def read(answer: Answer) -> tuple[WatchedCheck, ...] | None:
            if block is not None and block.index > 0 and answer.index == block.index:
                return None
            return await self._decoded(answer, path, lambda body: self._watched(body, answer, path, tag))

        return await self._blocking_read(path, block, read)

    def _watched(self, body: Any, answer: Answer, path: str, tag: str) -> tuple[WatchedCheck, ...]:
        checks = watched_checks_of_json(body, tag)
        if checks is None:
            models: list[wire.HealthCheck] = self._parse(_CHECK_LIST, replace(answer, body=body), path)
            checks = watched_checks(models, tag)
        return checks

    async def get_check_states_since(
        self, index: int, state: str = "any"
    ) -> tuple[tuple[CheckState, ...] | None, BlockingState]:
        """`GET /v1/health/state/<state>` without blocking, as each check's CheckState; None (nothing
        decoded) when its X-Consul-Index is still `index`, i.e. no check changed since the answer read
        at `index`. The states are read straight from the JSON; an answer that is not plainly of the
        expected shape is validated as `wire.HealthCheck`s (and fails as they do)."""
        path = f"/v1/health/state/{_segment(state)}"

        async def read(answer: Answer) -> tuple[CheckState, ...] | None:
            if index > 0 and answer.index == index:
                return None
            return await self._decoded(answer, path, lambda body: self._check_states(body, answer, path))

        answer, states = await self._http.get(path, read)
        return states, BlockingState().advance(answer.index)

    def _check_states(self, body: Any, answer: Answer, path: str) -> tuple[CheckState, ...]:
        states = check_states_of_json(body)
        if states is None:
            checks: list[wire.HealthCheck] = self._parse(_CHECK_LIST, replace(answer, body=body), path)
            states = check_states(checks)
        return states

    async def get_catalog_services(
        self, *, block: BlockingState | None = None
    ) -> tuple[dict[str, list[str]], BlockingState]:
        answer, state = await self._blocking_get("/v1/catalog/services", {}, block)
        body = {} if answer.body is None else answer.body
        if isinstance(body, dict):  # a service without tags may read `null`
            body = {name: [] if tags is None else tags for name, tags in body.items()}
        return await self._validated(_CATALOG, replace(answer, body=body), "/v1/catalog/services"), state

    async def get_catalog_services_index(self) -> int | None:
        """`GET /v1/catalog/services` for its X-Consul-Index alone: the body (every service with its tags)
        is not decoded, only seen to open and close as a JSON object."""
        path = "/v1/catalog/services"

        async def read(answer: Answer) -> None:
            require_object("GET", path, answer)

        answer, _ = await self._http.get(path, read)
        return answer.index

    async def get_catalog_nodes(self, *, block: BlockingState | None = None) -> tuple[list[wire.Node], BlockingState]:
        answer, state = await self._blocking_get("/v1/catalog/nodes", {}, block)
        return await self._validated(_NODES, answer, "/v1/catalog/nodes"), state

    async def get_catalog_node_services(self, node: str, tag: str) -> tuple[NodeServices | None, BlockingState]:
        """`GET /v1/catalog/node/<node>` (the node with its services: Consul 0.9+ has this form) as the
        services that carry `tag`, read straight from the JSON when it is plainly a catalog node
        (consul/plain.py), else through its model (and failing as it does); None when the node is gone
        (Consul answers `null`)."""
        path = f"/v1/catalog/node/{_segment(node)}"

        async def read(answer: Answer) -> NodeServices | None:
            return await self._decoded(answer, path, lambda body: self._node_services(body, answer, path, tag))

        answer, found = await self._http.get(path, read)
        return found, BlockingState().advance(answer.index)

    def _node_services(self, body: Any, answer: Answer, path: str, tag: str) -> NodeServices | None:
        if body is None:
            return None
        found = node_services_of_json(body, tag)
        if found is None:
            found = node_services(self._parse(_CATALOG_NODE, replace(answer, body=body), path), tag)
        return found

    # KV and sessions ---------------------------------------------------------------------------

    async def get_kv(self, key: str, *, block: BlockingState | None = None) -> tuple[wire.KVPair | None, BlockingState]:
        """The pair at `key`, or None when it does not exist (Consul's 404 with an empty body)."""
        path = _key_path(key)
        answer, state = await self._blocking_get(path, {}, block, allow_404=True)
        if answer.status == 404 or answer.body is None or answer.body == []:
            return None, state
        return self._parse(_KV, answer, path)[0], state

    async def put_kv(
        self, key: str, value: bytes, *, cas: int | None = None, acquire: str | None = None, release: str | None = None
    ) -> bool:
        """Writes `value`; False when a `cas`, `acquire` or `release` condition did not hold."""
        conditions = (("cas", cas), ("acquire", acquire), ("release", release))
        params = {name: str(v) for name, v in conditions if v is not None}
        answer = await self._http.send("PUT", _key_path(key), params=params, content=value)
        return answer.body is True

    async def delete_kv(self, key: str, *, recurse: bool = False, cas: int | None = None) -> bool:
        params = {"recurse": "true"} if recurse else {}
        if cas is not None:
            params["cas"] = str(cas)
        answer = await self._http.send("DELETE", _key_path(key), params=params)
        return answer.body is True

    async def put_session_create(
        self,
        *,
        name: str,
        ttl: str = "15s",
        behavior: str = "release",
        lock_delay: str = "15s",
        node_checks: list[str] | None = None,
    ) -> str:
        """Creates a session and returns its id; `node_checks=None` keeps Consul's default (serfHealth)."""
        body = wire.SessionCreate(name=name, ttl=ttl, behavior=behavior, lock_delay=lock_delay, checks=node_checks)
        answer = await self._http.send("PUT", "/v1/session/create", json_body=body.to_body())
        return self._parse(TypeAdapter(wire.CreatedID), answer, "/v1/session/create", "PUT").id

    async def put_session_renew(self, session_id: str) -> wire.Session:
        """Renews the session (honour the returned TTL); ConsulNotFound when it has expired."""
        path = f"/v1/session/renew/{_segment(session_id)}"
        sessions = self._parse(_SESSIONS, await self._http.send("PUT", path), path, "PUT")
        if not sessions:
            raise RemoteUnavailable(f"Consul PUT {path} answered an empty list", hint="retry the renewal")
        return sessions[0]

    async def put_session_destroy(self, session_id: str) -> bool:
        """Consul's answer: `true` once the session is gone (its locks released or deleted)."""
        answer = await self._http.send("PUT", f"/v1/session/destroy/{_segment(session_id)}")
        return answer.body is True

    # prepared queries --------------------------------------------------------------------------

    async def get_queries(self) -> list[wire.PreparedQuery]:
        """Every prepared query."""
        answer = await self._http.send("GET", "/v1/query")
        return await self._validated(_QUERIES, replace(answer, body=_list(answer.body)), "/v1/query")

    async def get_observed_queries(self) -> Mapping[str, ObservedQuery]:
        """The named prepared queries as ObservedQuery by name (a read-only mapping); an answer byte for
        byte the previous one is not decoded again and gives back the same mapping. Consul's index on
        this list moves only with prepared-query writes (`PreparedQuery.List` runs in `blockingQuery`
        on the queries table), but this read does not block: the answer holds the whole list anyway,
        and its bytes tell whether anything changed."""
        kept = self._queries

        async def read(answer: Answer) -> Mapping[str, ObservedQuery]:
            if kept is not None and answer.content == kept[0]:
                return kept[1]
            found = await self._decoded(answer, "/v1/query", lambda body: self._observed_queries(body, answer))
            return MappingProxyType(found)

        answer, observed = await self._http.get("/v1/query", read)
        self._queries = (answer.content, observed)
        return observed

    def _observed_queries(self, body: Any, answer: Answer) -> dict[str, ObservedQuery]:
        found = observed_queries_of_json(_list(body))
        if found is None:
            queries: list[wire.PreparedQuery] = self._parse(_QUERIES, replace(answer, body=_list(body)), "/v1/query")
            found = observed_queries_of(queries)
        return found

    async def post_query(self, q: wire.PreparedQueryDefinition) -> str:
        answer = await self._http.send("POST", "/v1/query", json_body=q.to_body())
        return self._parse(TypeAdapter(wire.CreatedID), answer, "/v1/query", "POST").id

    async def put_query(self, query_id: str, q: wire.PreparedQueryDefinition) -> None:
        await self._http.send("PUT", f"/v1/query/{_segment(query_id)}", json_body=q.to_body())

    async def delete_query(self, query_id: str) -> None:
        await self._http.send("DELETE", f"/v1/query/{_segment(query_id)}")

    async def get_query_execute(self, name_or_id: str) -> wire.QueryExecuteResult:
        path = f"/v1/query/{_segment(name_or_id)}/execute"
        return self._parse(TypeAdapter(wire.QueryExecuteResult), await self._http.send("GET", path), path)

    # shared ------------------------------------------------------------------------------------

    async def _blocking_get(
        self, path: str, params: dict[str, str], block: BlockingState | None, *, allow_404: bool = False
    ) -> tuple[Answer, BlockingState]:
        """A GET, blocking on `block` (if any) and decoded; the answer and the state to block on next."""
        state = block or BlockingState()
        params, extra_wait = blocking_request(params, block)
        answer = await self._http.send("GET", path, params=params, extra_wait=extra_wait, allow_404=allow_404)
        return answer, state.advance(answer.index)

    async def _blocking_read(
        self, path: str, block: BlockingState | None, read: Callable[[Answer], Awaitable[_T]]
    ) -> tuple[_T, BlockingState]:
        """A GET, blocking on `block` (if any), whose undecoded answer `read` makes into what it gives back
        (ConsulHttp.get), with the state to block on next."""
        params, extra_wait = blocking_request({}, block)
        answer, found = await self._http.get(path, read, params=params, extra_wait=extra_wait)
        return found, (block or BlockingState()).advance(answer.index)

    @staticmethod
    async def _decoded(answer: Answer, path: str, decode: Callable[[Any], _T]) -> _T:
        """`decode(the JSON)` of an undecoded answer (ConsulHttp.get): in a worker thread when the answer is
        large (gc_pause.decoded_off_loop), so `decode` reads what it is given and changes nothing."""
        return await decoded_off_loop(len(answer.content), lambda: decode(body_of("GET", path, answer)))

    async def _validated(self, adapter: TypeAdapter[_T], answer: Answer, path: str) -> _T:
        """`_parse`, in a worker thread when the answer is large (at 10,000 checks, validating the health
        watch's answer is most of a second)."""
        return await decoded_off_loop(len(answer.content), lambda: self._parse(adapter, answer, path))

    def _parse(self, adapter: TypeAdapter[_T], answer: Answer, path: str, method: str = "GET") -> _T:
        try:
            return adapter.validate_python(answer.body)
        except ValidationError as exc:
            raise shape_error(method, path, answer.status, exc) from exc
