"""Everything one emulated Consul datacenter holds, shared by all listeners (sandbox layer).

The HTTP apps of every agent, the DNS server and the check runner all read and write this one
object; `web.AppKey`s give each HTTP app the state and the name of the node its agent runs on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from reconciler.sandbox.consul.catalog import Catalog, Check
from reconciler.sandbox.consul.checks import CheckRunner
from reconciler.sandbox.consul.encoded import CheckTexts, NamesText, QueryTexts
from reconciler.sandbox.consul.events import EventLog
from reconciler.sandbox.consul.http_wire import ConsulHTTPError
from reconciler.sandbox.consul.kv import KVStore
from reconciler.sandbox.consul.queries import QueryStore
from reconciler.sandbox.consul.raft import RaftIndex
from reconciler.sandbox.consul.sessions import SessionStore
from reconciler.sandbox.write_log import WriteLog

VERSION = "1.18.2"


@dataclass
class ConsulState:
    datacenter: str
    domain: str
    server_node: str
    raft: RaftIndex
    catalog: Catalog
    kv: KVStore
    sessions: SessionStore
    queries: QueryStore
    checks: CheckRunner
    check_texts: CheckTexts
    events: EventLog = field(default_factory=EventLog)
    query_texts: QueryTexts = field(default_factory=QueryTexts)
    names_text: NamesText = field(default_factory=NamesText)
    # Node name -> its network coordinate, and the coordinates table's index.
    coordinates: dict[str, dict[str, Any]] = field(default_factory=dict)
    coordinate_index: int = 1
    writes: WriteLog = field(default_factory=WriteLog)  # every write received, any agent (tests' introspection)

    @classmethod
    def build(cls, datacenter: str, domain: str, server_node: str, check_scale: float,
              session_scale: float) -> ConsulState:
        raft = RaftIndex()
        catalog = Catalog(raft)
        kv = KVStore(raft)
        sessions = SessionStore(catalog, kv, session_scale)
        queries = QueryStore(catalog)
        sessions.invalidation_listeners.append(queries.drop_session)
        return cls(datacenter, domain, server_node, raft, catalog, kv, sessions, queries,
                   CheckRunner(catalog, check_scale), CheckTexts(catalog))

    def agent_check(self, node: str, check_id: str) -> Check:
        """A check of `node`'s agent, or Consul's 404 text for an unknown id."""
        check = self.catalog.checks.get((node, check_id))
        if check is None or not check.runs_on_agent:
            raise ConsulHTTPError(
                404, f'Unknown check ID "{check_id}". Ensure that the check ID is passed, not the check name.')
        return check


STATE_KEY = web.AppKey("consul_state", ConsulState)
NODE_KEY = web.AppKey("consul_node", str)


def state_of(request: web.Request) -> ConsulState:
    return request.app[STATE_KEY]


def node_of(request: web.Request) -> str:
    return request.app[NODE_KEY]
