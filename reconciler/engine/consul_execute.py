"""Execute a plan's Consul actions (engine layer): registrations, deregistrations, prepared queries.

REGISTER goes to the agent on the task's host and DEREGISTER to the agent of the node that holds the
instance (as marathon-consul does), both on the configured agent's port; with AgentRouting.SINGLE
everything goes to the configured agent, except a deregistration it does not know (404): only the
agent holding the instance can remove it, so that one is asked next. Queries always go to the
configured agent. Every action comes back with an outcome; nothing raises for a remote failure of one
action.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from reconciler.consul.errors import ConsulNotFound
from reconciler.consul.translate import (
    agent_host_of,
    deregistration_of,
    query_definition_of,
    query_id_of,
    registration_of,
)
from reconciler.core.model import Action, ActionKind, Outcome, Plan
from reconciler.core.queries import FOLLOWS_KEY
from reconciler.engine.execute import NOT_LEADER, fenced
from reconciler.engine.planning import CONSUL_KINDS
from reconciler.engine.ports import ConsulPort
from reconciler.engine.routing import AgentRouting
from reconciler.errors import OutcomeUnknown, RemoteError, RemoteRejected

log = logging.getLogger("reconciler.engine")

# Writes to different agents run side by side, but never more than this many at once,
MAX_CONCURRENT_WRITES = 16
# nor more than this many to one agent: a slow agent holds few of the shared slots, and each agent's
# connection pool stays small (httpcore looks at every pooled connection on each request, which made
# a quarter of the client's CPU of 5,000 registrations and query creates sent 16 at a time).
MAX_WRITES_PER_AGENT = 4


def agent_url(consul: ConsulPort, host: str) -> str:
    """The URL of the agent on `host`: the configured agent's scheme and port, that host."""
    parts = urlsplit(consul.base_url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def agent_of(consul: ConsulPort, action: Action, routing: AgentRouting) -> ConsulPort:
    if routing == AgentRouting.SINGLE:
        return consul
    return consul.for_agent(agent_url(consul, agent_host_of(action)))


async def send_consul_action(consul: ConsulPort, action: Action, routing: AgentRouting) -> str:
    """Sends one action; returns what happened, raises RemoteError when Consul refused or failed."""
    if action.kind == ActionKind.REGISTER:
        agent = agent_of(consul, action, routing)
        await agent.put_agent_service_register(registration_of(action))
        return f"registered through {agent.base_url}"
    if action.kind == ActionKind.DEREGISTER:
        agent = agent_of(consul, action, routing)
        try:
            await agent.put_agent_service_deregister(deregistration_of(action))
        except ConsulNotFound:
            holder = agent_of(consul, action, AgentRouting.HOST)
            if holder.base_url == agent.base_url:
                return f"already gone from {agent.base_url}"
            # Only the agent holding an instance can remove it (a registration made in host mode,
            # seen from single mode): ask that one, and fail if it cannot be reached.
            try:
                await holder.put_agent_service_deregister(deregistration_of(action))
            except ConsulNotFound:
                return f"already gone from {holder.base_url}"
            return f"deregistered through {holder.base_url}, the agent holding it"
        return f"deregistered through {agent.base_url}"
    if action.kind == ActionKind.QUERY_CREATE:
        return f"query {await consul.post_query(query_definition_of(action))} created"
    return await _change_query(consul, action)


async def _change_query(consul: ConsulPort, action: Action) -> str:
    """QUERY_UPDATE or QUERY_DELETE; an answer saying the query does not exist is checked by a re-read.

    Real Consul answers a write to an unknown query id with 500 (older sandboxes and proxies: 404), and
    a 500 may mean other things too: only a fresh list of queries tells whether the id is gone.
    """
    query_id = query_id_of(action)
    try:
        if action.kind == ActionKind.QUERY_UPDATE:
            await consul.put_query(query_id, query_definition_of(action))
            return "query updated"
        await consul.delete_query(query_id)
        return "query deleted"
    except RemoteError as exc:
        if not isinstance(exc, ConsulNotFound) and exc.status != 500:
            raise
        if any(q.id == query_id for q in await consul.get_queries()):
            raise  # it exists: the refusal was about something else
        if action.kind == ActionKind.QUERY_DELETE:
            return "query already gone (a re-read shows no query of that id)"
        return await _recreate(consul, action)


async def _recreate(consul: ConsulPort, action: Action) -> str:
    """The query to update was deleted meanwhile: create it again unless its name is taken by now."""
    definition = query_definition_of(action)
    if any(q.name == definition.name for q in await consul.get_queries()):
        raise RemoteRejected(
            f"prepared query {definition.name} was replaced while it was being updated",
            hint="the next plan reads the new query and decides again",
        )
    return f"query {await consul.post_query(definition)} created again (it was gone)"


@dataclass
class _Slots:
    """The bounds on writes in flight: all of them, and those to each agent."""

    total: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_CONCURRENT_WRITES))
    agents: dict[str, asyncio.Semaphore] = field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def hold(self, agent: str) -> AsyncIterator[None]:
        # The agent's slot first: a write waiting for a busy agent holds none of the shared slots.
        async with self.agents.setdefault(agent, asyncio.Semaphore(MAX_WRITES_PER_AGENT)), self.total:
            yield


def first_agent(consul: ConsulPort, action: Action, routing: AgentRouting) -> str:
    """The agent an action is sent to first (a deregistration may ask the holding agent next)."""
    if action.kind in (ActionKind.REGISTER, ActionKind.DEREGISTER):
        return agent_of(consul, action, routing).base_url
    return consul.base_url


async def _run_one(
    consul: ConsulPort, action: Action, routing: AgentRouting, slots: _Slots, may_write: Callable[[], bool] | None,
) -> Action:
    async with slots.hold(first_agent(consul, action, routing)):
        if fenced(may_write):  # asked when the write would go out, not when the wave began
            return replace(action, outcome=Outcome.SKIPPED, detail=NOT_LEADER)
        try:
            detail = await send_consul_action(consul, action, routing)
        except OutcomeUnknown as exc:
            return replace(action, outcome=Outcome.UNKNOWN, detail=str(exc))
        except RemoteError as exc:
            return replace(action, outcome=Outcome.FAILED, detail=str(exc))
    return replace(action, outcome=Outcome.SUCCEEDED, detail=detail)


def without_deleted_apps(action: Action, deleted: dict[str, Action]) -> Action | None:
    """A tied query delete whose app delete did not succeed is skipped: the query stays with the app."""
    follows = (action.body or {}).get(FOLLOWS_KEY) if action.kind == ActionKind.QUERY_DELETE else None
    unfinished = [app for app in follows or () if app in deleted and deleted[app].outcome != Outcome.SUCCEEDED]
    if not unfinished:
        return None
    return replace(action, outcome=Outcome.SKIPPED, detail=f"not sent: the delete of {', '.join(unfinished)} did not "
                   "succeed, and the query stays as long as its app runs")


async def execute_consul(
    plan: Plan, consul: ConsulPort, routing: AgentRouting = AgentRouting.HOST, *,
    may_write: Callable[[], bool] | None = None,
) -> Plan:
    """Sends the plan's planned Consul actions; deregistrations before registrations, queries last.

    Returns the plan with every Consul action's outcome (the other actions unchanged); `may_write` is
    the leader's fence, asked before each action (False: skipped, not the leader).
    """
    slots = _Slots()
    done = dict(enumerate(plan.actions))
    deleted = {a.target: a for a in plan.actions if a.kind == ActionKind.DELETE}
    for i, action in done.items():
        skipped = without_deleted_apps(action, deleted) if action.outcome == Outcome.PLANNED else None
        done[i] = skipped or action
    for kinds in ((ActionKind.DEREGISTER,), (ActionKind.REGISTER,), tuple(CONSUL_KINDS - {ActionKind.REGISTER,
                                                                                           ActionKind.DEREGISTER})):
        wave = [(i, a) for i, a in done.items() if a.kind in kinds and a.outcome == Outcome.PLANNED]
        results = await asyncio.gather(*(_run_one(consul, a, routing, slots, may_write) for _, a in wave))
        for (i, _), result in zip(wave, results, strict=True):
            done[i] = result
    return replace(plan, actions=tuple(done[i] for i in range(len(plan.actions))))
