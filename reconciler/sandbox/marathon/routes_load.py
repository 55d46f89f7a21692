"""The fault API's load routes (sandbox layer): `PUT /_sandbox/load` sets an app's or a task's simulated
CPU, memory and request rate, constant or as a profile over time; `GET /_sandbox/load` shows them.

Bodies are checked like every fault body (fault_bodies): a wrong field is a 400 naming it, profile
steps by index, and nothing is applied. The docker runtime reports its containers' real usage, so it
refuses a simulated load (409).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from reconciler.sandbox.marathon.fault_bodies import TEXT, FaultBodyError, Field, amount, read_body
from reconciler.sandbox.marathon.load import Load, LoadModel, LoadStep
from reconciler.sandbox.marathon.model import Task
from reconciler.sandbox.marathon.routes_apps import core_of
from reconciler.sandbox.marathon.wire import ApiError, json_response

LOADS = web.AppKey("marathon_loads", LoadModel)
SIMULATED = web.AppKey("marathon_simulated_load", bool)
MAX_STEPS = 100
VALUE_FIELDS: Mapping[str, Field] = {
    "cpu": amount("a number of cores >= 0"),
    "mem": amount("a number of MiB >= 0"),
    "requests": amount("a number of requests per second >= 0"),
}
STEP_FIELDS: Mapping[str, Field] = {"after": amount("a number of seconds >= 0"), **VALUE_FIELDS}
LOAD_FIELDS: Mapping[str, Field] = {
    "app": TEXT,
    "task": TEXT,
    **VALUE_FIELDS,
    "profile": Field(f"a list of 1 to {MAX_STEPS} steps {{after, cpu, mem, requests}}", lambda v: isinstance(v, list)),
}


def steps_of(body: Mapping[str, Any], where: str) -> tuple[LoadStep, ...]:
    """The load a checked body sets: its values from now, or its profile (a field left out of a step
    keeps the previous step's value). An empty body of values is idle."""
    if ("app" in body) == ("task" in body):
        raise FaultBodyError(f"{where}: give exactly one of app (an app id) or task (a task id)")
    values = [name for name in VALUE_FIELDS if name in body]
    if "profile" not in body:
        return (LoadStep(0.0, **{name: float(body[name]) for name in values}),)
    if values:
        raise FaultBodyError(f"{where}: {', '.join(values)} and profile cannot go together; put them in profile steps")
    profile = body["profile"]
    if not 1 <= len(profile) <= MAX_STEPS:
        raise FaultBodyError(f"{where}: profile must be {LOAD_FIELDS['profile'].allows}, not {len(profile)} steps")
    steps: list[LoadStep] = []
    for index, raw in enumerate(profile):
        steps.append(_step(raw, steps[-1] if steps else None, f"{where}: profile[{index}]"))
    return tuple(steps)


def _step(raw: object, previous: LoadStep | None, where: str) -> LoadStep:
    if not isinstance(raw, dict):
        raise FaultBodyError(f"{where} must be an object {{after, cpu, mem, requests}}, not {json.dumps(raw)}")
    for name, value in raw.items():
        if name not in STEP_FIELDS:
            raise FaultBodyError(f"{where}: unknown field {name!r}; a step takes {', '.join(STEP_FIELDS)}")
        if not STEP_FIELDS[name].holds(value):
            raise FaultBodyError(f"{where}.{name} must be {STEP_FIELDS[name].allows}, not {json.dumps(value)}")
    if "after" not in raw:
        raise FaultBodyError(f"{where}.after is required: {STEP_FIELDS['after'].allows}")
    if previous is not None and raw["after"] <= previous.after:
        raise FaultBodyError(f"{where}.after must be later than the step before ({previous.after})")
    base = previous or LoadStep(0.0)
    return LoadStep(
        float(raw["after"]),
        float(raw.get("cpu", base.cpu)),
        float(raw.get("mem", base.mem)),
        float(raw.get("requests", base.requests)),
    )


def _concerned(request: web.Request, body: Mapping[str, Any]) -> tuple[str, list[Task]]:
    state = core_of(request).state
    if "task" in body:
        task = state.find_task(body["task"])
        if task is None:
            raise ApiError(404, f"Task '{body['task']}' does not exist")
        return task.id, [task]
    run = state.runs.get("/" + str(body["app"]).strip("/"))
    if run is None:
        raise ApiError(404, f"App '{body['app']}' does not exist")
    return run.app_id, list(run.tasks.values())


async def set_load(request: web.Request) -> web.Response:
    body = await read_body(request, LOAD_FIELDS)
    try:
        steps = steps_of(body, "PUT /_sandbox/load")
    except FaultBodyError as exc:
        raise ApiError(400, str(exc)) from exc
    if not request.app[SIMULATED]:
        raise ApiError(409, "the docker runtime reports its containers' real usage; give the app a cmd that loads it")
    key, tasks = _concerned(request, body)
    clock = core_of(request).state.clock
    now = clock.monotonic()
    running = [(t.id, t.app_id, t.started_mono) for t in tasks if t.started_mono is not None]
    idle = all(step == LoadStep(step.after) for step in steps)
    load = None if idle and "profile" not in body else Load(steps, since=now)
    request.app[LOADS].set(key, app="app" in body, load=load, now=now, running=running)
    return json_response({"app" if "app" in body else "task": key, "profile": [s.to_json() for s in steps]})


async def read_loads(request: web.Request) -> web.Response:
    return json_response(request.app[LOADS].to_json())


def add_routes(app: web.Application) -> None:
    app.router.add_get("/_sandbox/load", read_loads)
    app.router.add_put("/_sandbox/load", set_load)
