"""The fault API under `/_sandbox/` (sandbox layer): kill tasks, flip health, lose and add agents,
slow down or fail API answers, freeze deployments. docs/sandbox.md shows every route.

The same operations are methods of MarathonSandbox for in-process tests. Bodies are checked by
fault_bodies: a wrong field is a 400 naming it, and nothing is applied.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

from reconciler.sandbox.marathon.core import AgentShape, MarathonCore
from reconciler.sandbox.marathon.fault_bodies import (
    AGENT_FIELDS,
    FAULT_FIELDS,
    HEALTH_FIELDS,
    NO_FIELDS,
    kill_fields,
    read_body,
)
from reconciler.sandbox.marathon.load import LoadModel
from reconciler.sandbox.marathon.routes_apps import core_of
from reconciler.sandbox.marathon.routes_load import LOADS
from reconciler.sandbox.marathon.task_faults import FAULT_STATES, TaskFaultError, apply_task_fault
from reconciler.sandbox.marathon.wire import ApiError, json_response


@dataclass
class FaultSettings:
    """Deterministic API faults: every `error_every`-th API request answers `error_status`."""

    latency_ms: int = 0
    error_every: int = 0
    error_status: int = 503
    requests_seen: int = 0

    def reset(self) -> None:
        self.latency_ms, self.error_every, self.error_status, self.requests_seen = 0, 0, 503, 0

    def next_request_fails(self) -> bool:
        self.requests_seen += 1
        return self.error_every > 0 and self.requests_seen % self.error_every == 0

    def to_json(self, frozen: bool) -> dict[str, Any]:
        body = asdict(self)
        return {
            "latencyMs": body["latency_ms"],
            "errorEvery": body["error_every"],
            "errorStatus": body["error_status"],
            "requestsSeen": body["requests_seen"],
            "freezeDeployments": frozen,
        }


FAULTS = web.AppKey("marathon_faults", FaultSettings)


async def read_faults(request: web.Request) -> web.Response:
    return json_response(request.app[FAULTS].to_json(core_of(request).state.frozen))


async def set_faults(request: web.Request) -> web.Response:
    faults = request.app[FAULTS]
    body = await read_body(request, FAULT_FIELDS)
    faults.latency_ms = body.get("latencyMs", faults.latency_ms)
    faults.error_every = body.get("errorEvery", faults.error_every)
    faults.error_status = body.get("errorStatus", faults.error_status)
    core = core_of(request)
    if "freezeDeployments" in body:
        core.state.frozen = bool(body["freezeDeployments"])
        core.scheduler.kick()
    return json_response(faults.to_json(core.state.frozen))


async def reset_faults(request: web.Request) -> web.Response:
    await read_body(request, NO_FIELDS)
    request.app[FAULTS].reset()
    core = core_of(request)
    clear_loads(request.app[LOADS], core)
    core.state.frozen = False
    core.scheduler.kick()
    return json_response(request.app[FAULTS].to_json(False))


def clear_loads(loads: LoadModel, core: MarathonCore) -> None:
    """Every task idle from now (counters keep what they counted so far)."""
    now = core.state.clock.monotonic()
    running = [(t.id, t.app_id, t.started_mono) for t in core.state.all_tasks() if t.started_mono is not None]
    for app_id in list(loads.app_loads):
        loads.set(app_id, app=True, load=None, now=now, running=[r for r in running if r[1] == app_id])
    for task_id in list(loads.task_loads):
        loads.set(task_id, app=False, load=None, now=now, running=[r for r in running if r[0] == task_id])


async def read_state(request: web.Request) -> web.Response:
    core = core_of(request)
    agents = [
        {
            "index": a.index,
            "host": a.host,
            "slaveId": a.slave_id,
            "active": a.active,
            "cpus": a.cpus,
            "mem": a.mem,
            "disk": a.disk,
            "portRange": list(a.port_range),
            "usedCpus": round(a.used_cpus, 6),
            "usedMem": a.used_mem,
        }
        for a in core.state.agents
    ]
    return json_response(
        {
            "agents": agents,
            "apps": len(core.state.apps),
            "tasks": len(core.state.all_tasks()),
            "deployments": len(core.state.deployments),
            "idle": core.idle(),
            "faults": request.app[FAULTS].to_json(core.state.frozen),
        }
    )


async def kill_task(request: web.Request) -> web.Response:
    core = core_of(request)
    task = core.state.find_task(request.match_info["task"])
    if task is None:
        raise ApiError(404, f"Task '{request.match_info['task']}' does not exist")
    body = await read_body(request, kill_fields(FAULT_STATES))
    state, message = body.get("state", "TASK_KILLED"), body.get("message", "killed through the sandbox fault API")
    try:
        apply_task_fault(core, task, state, message, body.get("reason"))
    except TaskFaultError as exc:
        raise ApiError(400, f"POST /_sandbox/tasks/{{task}}/kill: {exc}") from exc
    return json_response({"taskId": task.id, "state": state})


async def set_task_health(request: web.Request) -> web.Response:
    core = core_of(request)
    task = core.state.find_task(request.match_info["task"])
    if task is None:
        raise ApiError(404, f"Task '{request.match_info['task']}' does not exist")
    body = await read_body(request, HEALTH_FIELDS, required=("healthy",))
    await core.scheduler.set_healthy(task, body["healthy"])
    return json_response({"taskId": task.id, "healthy": task.healthy_flag})


def agent_index(request: web.Request) -> int:
    core = core_of(request)
    raw = request.match_info["index"]
    if not raw.isdigit() or int(raw) not in {a.index for a in core.state.agents}:
        raise ApiError(404, f"Agent '{raw}' does not exist; agents are {[a.index for a in core.state.agents]}")
    return int(raw)


async def lose_agent(request: web.Request) -> web.Response:
    index = agent_index(request)
    await read_body(request, NO_FIELDS)
    lost = core_of(request).lose_agent(index)
    return json_response({"unreachableTasks": lost})


async def restore_agent(request: web.Request) -> web.Response:
    index = agent_index(request)
    await read_body(request, NO_FIELDS)
    core_of(request).restore_agent(index)
    return json_response({"restored": True})


async def add_agent(request: web.Request) -> web.Response:
    core = core_of(request)
    body = await read_body(request, AGENT_FIELDS)
    template = core.state.agents[0] if core.state.agents else None
    low, high = body.get("portRange", template.port_range if template else (31000, 32000))
    shape = AgentShape(
        cpus=float(body.get("cpus", template.cpus if template else 4.0)),
        mem=float(body.get("mem", template.mem if template else 8192.0)),
        disk=float(body.get("disk", template.disk if template else 65536.0)),
        port_range=(low, high),
    )
    try:
        agent = core.add_agent(shape)
    except ValueError as exc:
        raise ApiError(409, str(exc)) from exc
    await core.announce_agent(agent)  # answered once the agent's Consul agent (if any) listens
    return json_response({"index": agent.index, "host": agent.host, "slaveId": agent.slave_id}, 201)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/_sandbox/state", read_state)
    app.router.add_get("/_sandbox/faults", read_faults)
    app.router.add_put("/_sandbox/faults", set_faults)
    app.router.add_post("/_sandbox/reset", reset_faults)
    app.router.add_post("/_sandbox/tasks/{task}/kill", kill_task)
    app.router.add_put("/_sandbox/tasks/{task}/health", set_task_health)
    app.router.add_post("/_sandbox/agents", add_agent)
    app.router.add_post("/_sandbox/agents/{index}/lose", lose_agent)
    app.router.add_post("/_sandbox/agents/{index}/restore", restore_agent)
