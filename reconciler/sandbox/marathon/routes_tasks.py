"""Task and queue routes (sandbox layer): `/v2/tasks`, `/v2/tasks/delete`, app tasks, `/v2/queue`.

Killing without scale lets Marathon replace the task; with scale it lowers `instances` through a
deployment (FACTS.md §6, §9).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from aiohttp import web

from reconciler.sandbox.marathon.appdef import service_ports
from reconciler.sandbox.marathon.core import MarathonCore
from reconciler.sandbox.marathon.model import Task, TaskState
from reconciler.sandbox.marathon.negotiation import DEPRECATED, TEXT_PLAIN_DEPRECATED, TEXT_PLAIN_TASKS, prefers_text
from reconciler.sandbox.marathon.routes_apps import commit, core_of, unknown_app
from reconciler.sandbox.marathon.views import queue_json, task_json
from reconciler.sandbox.marathon.wire import ApiError, deployment_result, flag, json_response, read_json

TASK_ID = re.compile(r"^[a-z0-9_.\-]+\.(instance-)?[0-9a-f\-]+(\._app\.\d+)?$")
# core/task/Task.scala Task.Id: TaskIdWithInstanceIdAndIncarnationRegex, then TaskIdWithInstanceIdRegex.
INSTANCE_TASK_IDS = (
    re.compile(r"^(.+)\.(instance-|marathon-)([^_.]+)[._]([^.]+)\.(\d+)$"),
    re.compile(r"^(.+)\.(instance-|marathon-)([^_.]+)[._]([^.]+)$"),
)


def instance_task(core: MarathonCore, task_id: str) -> Task | None:
    """The current task of the instance a task id names (Task.Id.parse(id).instanceId): Marathon kills
    instances, so an earlier incarnation's id (`<instance>._app.1`) reaches the task running now
    (`._app.2`). Ids from before instances (no `instance-`/`marathon-` part) name no sandbox instance.
    An instance waiting to relaunch is named by its ended task (it is not active: a kill leaves it)."""
    for pattern in INSTANCE_TASK_IDS:
        found = pattern.match(task_id)
        if found:
            # The id's run spec (PathId.safePath: `/` written `_`, which no path segment may hold).
            run = core.state.runs.get("/" + found[1].replace("_", "/"))
            instance_id = f"{found[1]}.{found[2]}{found[3]}"
            tasks = run.listed_tasks() if run is not None else ()
            return next((task for task in tasks if task.instance_id == instance_id), None)
    return None
STATUS_FILTER = {"running": TaskState.RUNNING, "staging": TaskState.STAGING}


def wanted_states(request: web.Request) -> set[TaskState]:
    names = request.query.getall("status", []) + request.query.getall("status[]", [])
    return {STATUS_FILTER[name] for name in names if name in STATUS_FILTER}


SCALE_AND_WIPE = "You cannot use scale and wipe at the same time."


def wants_text(request: web.Request) -> bool:
    """`/v2/tasks` and `/v2/apps/{id}/tasks` also produce `text/plain;qs=0.1` (JSON wins when both fit);
    in 1.10 only with the deprecated `text_plain_tasks` feature, else 406 (TasksResource.indexTxt)."""
    if not prefers_text(request):
        return False
    if TEXT_PLAIN_TASKS not in request.app[DEPRECATED]:
        raise TextPlainOff
    return True


class TextPlainOff(Exception):
    """The text/plain task list was asked for while the deprecated feature is off."""


def text_plain_off() -> web.Response:
    return web.Response(status=406, text=TEXT_PLAIN_DEPRECATED, content_type="text/plain")


def refuse_scale_and_wipe(request: web.Request) -> None:
    """AppTasksResource.deleteOne/deleteMany and TasksResource.killTasks refuse the pair before anything else."""
    if flag(request, "scale") and flag(request, "wipe"):
        raise ApiError(400, SCALE_AND_WIPE)


async def list_tasks(request: web.Request) -> web.Response:
    core = core_of(request)
    try:
        text = wants_text(request)
    except TextPlainOff:
        return text_plain_off()
    if text:
        return text_response(tasks_as_text(core, sorted(core.state.apps)))
    states = wanted_states(request)
    tasks = [t for t in core.state.listed_tasks() if not states or t.state in states]
    return json_response({"tasks": [task_json(task) for task in tasks]})


def text_response(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/plain")


def tasks_as_text(core: MarathonCore, app_ids: Iterable[str]) -> str:
    """EndpointsHelper.appsToEndpointString: a line per service port of each app, `app_id<TAB>port<TAB>` then
    `host:hostPort<TAB>` for every running task; an app without service ports gets `app_id<TAB> <TAB>host `."""
    lines = []
    for app_id in app_ids:
        run = core.state.runs.get(app_id)
        running = [t for t in (run.tasks.values() if run else []) if t.state == TaskState.RUNNING]
        name = app_id.strip("/").replace("/", "_")
        ports = service_ports(core.state.apps[app_id].definition)
        if not ports:
            lines.append(f"{name}\t \t" + "".join(f"{task.host} " for task in running))
        for index, service_port in enumerate(ports):
            hosts = "".join(f"{t.host}:{t.ports[index] if index < len(t.ports) else 0}\t" for t in running)
            lines.append(f"{name}\t{service_port}\t{hosts}")
    return "".join(f"{line}\n" for line in lines)


async def list_app_tasks(request: web.Request, app_id: str) -> web.Response:
    core = core_of(request)
    try:
        text = wants_text(request)
    except TextPlainOff:
        return text_plain_off()
    if app_id not in core.state.apps:
        raise unknown_app(app_id)
    if text:
        return text_response(tasks_as_text(core, [app_id]))
    run = core.state.runs.get(app_id)
    tasks = run.listed_tasks() if run else []
    return json_response({"tasks": [task_json(task) for task in tasks]})


async def list_group_tasks(request: web.Request, group_id: str) -> web.Response:
    """`GET /v2/apps/{group}/*/tasks`: the tasks of every app below the group (AppTasksResource.indexJson,
    `GroupTasks`); an unknown group is 404 `Group '<id>' does not exist`."""
    core = core_of(request)
    if group_id not in core.state.group_ids():
        raise ApiError(404, f"Group '{group_id}' does not exist")
    prefix = group_id.rstrip("/") + "/"
    tasks = [t for app_id, run in core.state.runs.items() if app_id.startswith(prefix) for t in run.listed_tasks()]
    return json_response({"tasks": [task_json(task) for task in tasks]})


async def delete_app_tasks(request: web.Request, app_id: str, task_id: str | None) -> web.Response:
    core = core_of(request)
    refuse_scale_and_wipe(request)
    scale = flag(request, "scale")
    if app_id not in core.state.apps:
        # With scale, TaskKiller.killAndScale finds no instances of the id: PathNotFoundException.
        raise ApiError(404, f"Path '{app_id}' does not exist") if scale else unknown_app(app_id)
    run = core.state.runs.get(app_id)
    tasks = run.listed_tasks() if run else []
    if task_id is not None:
        # AppTasksResource.deleteOne findToKill: the app's instances whose id the task id's instance id is.
        current = instance_task(core, task_id)
        chosen = [t for t in tasks if current is not None and t.id == current.id]
        # AppTasksResource.deleteOne answers `unknownTask` only on the kill path; with scale an id that
        # matches no instance kills nothing and scales nothing (still a deployment result).
        if not chosen and not scale:
            raise ApiError(404, f"Task '{task_id}' does not exist")
    else:
        host = request.query.get("host", "*")
        chosen = [t for t in tasks if host in ("*", t.host)]
    if scale:
        return kill_and_scale(core, chosen, flag(request, "force"))
    bodies = [task_json(task) for task in chosen]
    kill_keeping_instances(core, chosen, wipe=flag(request, "wipe"))
    if task_id is not None:
        return json_response({"task": bodies[0]})
    return json_response({"tasks": bodies})


def kill_keeping_instances(core: MarathonCore, tasks: Iterable[Task], wipe: bool) -> None:
    """Kill without scale: each instance keeps its goal and relaunches as its next incarnation
    (`._app.2`); `wipe` expunges the instance, so a new one replaces it (TaskKiller.kill). Only active
    instances are killed: one waiting to relaunch is left as it is, or expunged with `wipe`, as is one
    whose task is being killed already."""
    for task in tasks:
        if wipe:
            core.wipe(task)
        else:
            core.scheduler.kill(task, TaskState.KILLED, "killed through the API", reschedule=True)


# Instance.isActive && !Instance.isKilling: the instances a kill-and-scale counts.
COUNTED_BY_SCALE = (TaskState.STAGING, TaskState.RUNNING, TaskState.UNREACHABLE)


def kill_and_scale(core: MarathonCore, tasks: list[Task], force: bool) -> web.Response:
    """Kill the tasks and lower each app's instances, in one deployment (TaskKiller.killAndScale).

    The kill is per instance (TasksResource.killTasks keys the ids by instance id: an id named twice
    counts once), and `instances` drops only by the instances that are active and not already being
    killed (`toKillCount = instances.count(i => i.isActive && !i.isKilling)`): a task already in
    TASK_KILLING was counted by the kill that started it, if by any.
    """
    tasks = [t for t in {t.instance_id: t for t in tasks}.values() if t.state in COUNTED_BY_SCALE]
    target = core.state.definitions()
    for task in tasks:
        defn = target.get(task.app_id)
        if defn is not None:
            target[task.app_id] = {**defn, "instances": max(0, int(defn["instances"]) - 1)}
    deployment_id, version = commit(core, target, force)
    for task in tasks:
        run = core.state.runs.get(task.app_id)
        if run is not None:
            run.launch_target = max(0, run.launch_target - 1)
        core.scheduler.kill(task, TaskState.KILLED, "killed and scaled through the API")
    return deployment_result(deployment_id, version)


async def delete_tasks(request: web.Request) -> web.Response:
    core = core_of(request)
    refuse_scale_and_wipe(request)
    body = await read_json(request, dict)
    ids = body.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ApiError(400, "Invalid JSON", details=[{"path": "/ids", "errors": ["error.expected.jsarray"]}])
    for task_id in ids:
        if not TASK_ID.match(task_id):
            raise ApiError(400, f"Invalid task id '{task_id}'. [Task id must be of the form <app>.<uuid>]")
    # TasksResource.killTasks: each id's instance (instancesBySpec.instance(instanceId)).
    tasks = [task for task in (instance_task(core, i) for i in ids) if task is not None]
    if flag(request, "scale"):
        return kill_and_scale(core, tasks, flag(request, "force"))
    bodies = [task_json(task) for task in tasks]
    kill_keeping_instances(core, tasks, wipe=flag(request, "wipe"))
    return json_response({"tasks": bodies})


async def get_queue(request: web.Request) -> web.Response:
    core = core_of(request)
    return json_response(queue_json(core.state, core.scheduler, core.views))


async def reset_delay(request: web.Request) -> web.Response:
    core = core_of(request)
    app_id = "/" + request.match_info["app"].strip("/")
    run = core.state.runs.get(app_id)
    queued = queue_json(core.state, core.scheduler, core.views)["queue"]
    if run is None or not any(entry["app"]["id"] == app_id for entry in queued):
        raise ApiError(404, f"Application {app_id} not found in tasks queue.")
    core.scheduler.reset_delay(run)
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v2/tasks", list_tasks)
    app.router.add_post("/v2/tasks/delete", delete_tasks)
    app.router.add_get("/v2/queue", get_queue)
    app.router.add_delete("/v2/queue/{app:.+}/delay", reset_delay)
