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
import logging
from dataclasses import replace
from enum import StrEnum
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
from reconciler.engine.planning import CONSUL_KINDS
from reconciler.engine.ports import ConsulPort
from reconciler.errors import RemoteError

log = logging.getLogger("reconciler.engine")

# Writes to different agents run side by side, but never more than this many at once.
MAX_CONCURRENT_WRITES = 16


class AgentRouting(StrEnum):
    """Where registrations go: the agent on the task's host, or the one configured agent."""

    HOST = "host"
    SINGLE = "single"


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
    if action.kind == ActionKind.QUERY_UPDATE:
        await consul.put_query(query_id_of(action), query_definition_of(action))
        return "query updated"
    try:
        await consul.delete_query(query_id_of(action))
    except ConsulNotFound:
        return "query already gone"
    return "query deleted"


async def _run_one(consul: ConsulPort, action: Action, routing: AgentRouting, limit: asyncio.Semaphore) -> Action:
    async with limit:
        try:
            detail = await send_consul_action(consul, action, routing)
        except RemoteError as exc:
            return replace(action, outcome=Outcome.FAILED, detail=str(exc))
    return replace(action, outcome=Outcome.SUCCEEDED, detail=detail)


async def execute_consul(plan: Plan, consul: ConsulPort, routing: AgentRouting = AgentRouting.HOST) -> Plan:
    """Sends the plan's planned Consul actions; deregistrations before registrations, queries last.

    Returns the plan with every Consul action's outcome (the other actions unchanged).
    """
    limit = asyncio.Semaphore(MAX_CONCURRENT_WRITES)
    done = dict(enumerate(plan.actions))
    for kinds in ((ActionKind.DEREGISTER,), (ActionKind.REGISTER,), tuple(CONSUL_KINDS - {ActionKind.REGISTER,
                                                                                           ActionKind.DEREGISTER})):
        wave = [(i, a) for i, a in done.items() if a.kind in kinds and a.outcome == Outcome.PLANNED]
        results = await asyncio.gather(*(_run_one(consul, a, routing, limit) for _, a in wave))
        for (i, _), result in zip(wave, results, strict=True):
            done[i] = result
    return replace(plan, actions=tuple(done[i] for i in range(len(plan.actions))))
