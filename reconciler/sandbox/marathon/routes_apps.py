"""`/v2/apps` routes (sandbox layer): list, create, update, patch, delete, restart, versions.

Ids come from everything after `/v2/apps/`; `/restart`, `/tasks` and `/versions` suffixes are
routed first, like AppsResource (FACTS.md §2, §3).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from aiohttp import web

from reconciler.sandbox.marathon.appdef import RUNTIME_FIELDS, merge_partial, normalise, resolve_id
from reconciler.sandbox.marathon.core import MarathonCore
from reconciler.sandbox.marathon.label_selector import matches_selector
from reconciler.sandbox.marathon.model import JsonDict
from reconciler.sandbox.marathon.views import Embeds, stored_app_json
from reconciler.sandbox.marathon.wire import (
    LOCKED_MESSAGE,
    ApiError,
    bad_json,
    deployment_result,
    flag,
    json_response,
    read_json,
    text_json_response,
    validate_app,
    validate_app_update,
)
from reconciler.sandbox.marathon.writes import AppLocked, TooManyDeployments

CORE = web.AppKey("marathon_core", MarathonCore)
ROLLBACK_ONLY = "The 'version' field may only be combined with the 'id' field."


def core_of(request: web.Request) -> MarathonCore:
    return request.app[CORE]


def parent_group(path_id: str) -> str:
    """The group one level up (`/` for top-level ids and for the root itself)."""
    return path_id.rstrip("/").rsplit("/", 1)[0] or "/"


def unknown_app(app_id: str) -> ApiError:
    return ApiError(404, f"App '{app_id}' does not exist")


def commit(
    core: MarathonCore,
    target: dict[str, JsonDict],
    force: bool,
    restarts: frozenset[str] = frozenset(),
    group_id: str = "/",
    groups: dict[str, JsonDict] | None = None,
) -> tuple[str, str]:
    try:
        result = core.writer.commit(target, force=force, restarts=restarts, group_id=group_id, groups=groups)
    except TooManyDeployments as exc:
        raise ApiError(403, str(exc)) from exc
    except AppLocked as exc:
        raise ApiError(409, LOCKED_MESSAGE, deployments=[{"id": d} for d in exc.deployment_ids]) from exc
    except ValueError as exc:
        raise ApiError(422, str(exc)) from exc
    return result


def refuse_over_capacity(core: MarathonCore) -> None:
    """403 while Marathon runs its maximum number of deployments (GroupManagerImpl.checkMaxRunningDeployments)."""
    try:
        core.writer.check_capacity()
    except TooManyDeployments as exc:
        raise ApiError(403, str(exc)) from exc


def announce(core: MarathonCore, request: web.Request, app_id: str) -> None:
    """`api_post_event` for an app created or updated through the API; the definition carries its
    version and versionInfo, as the recorded async-worker event shows."""
    stored = core.state.apps.get(app_id)
    if stored is None or not core.state.bus.listening:
        return
    core.state.bus.publish(
        "api_post_event",
        {"clientIp": request.remote or "", "uri": request.path, "appDefinition": stored_app_json(stored)},
    )


def check_tree(core: MarathonCore, target: dict[str, JsonDict], groups_after: Iterable[str] | None = None) -> None:
    """An app may not share its id with a group, nor sit below another app (Group.scala); `groups_after`
    are the explicit groups the change leaves (the stored ones when it touches none)."""
    groups = {g for g in (core.state.groups if groups_after is None else groups_after) if g != "/"}
    # Each id is looked up in sets built once: checked against every app and group, a write of one app
    # among 10,000 took seconds (it runs for every app of the target, on every write).
    above_groups = {parent for g in groups for parent in _parents(g)}
    for app_id in target:
        if app_id in groups or app_id in above_groups or any(parent in target for parent in _parents(app_id)):
            raise ApiError(
                422,
                "Object is not valid",
                details=[
                    {
                        "path": "/",
                        "errors": ["Groups and Applications may not have the same identifier."],
                    }
                ],
            )


def _parents(path: str) -> list[str]:
    """`/a`, `/a/b` for `/a/b/c`: the groups above an id."""
    parts = path.strip("/").split("/")
    return ["/" + "/".join(parts[:depth]) for depth in range(1, len(parts))]


async def list_apps(request: web.Request) -> web.Response:
    core = core_of(request)
    embeds = Embeds.parse(request.query.getall("embed", []))
    ids = [app_id for app_id in core.state.apps if selected(core, app_id, request)]
    body = ",".join(core.views.app_text(app_id, embeds) for app_id in ids)
    return text_json_response(f'{{"apps":[{body}]}}')


def selected(core: MarathonCore, app_id: str, request: web.Request) -> bool:
    defn = core.state.apps[app_id].definition
    id_filter = request.query.get("id")
    if id_filter and id_filter.lower() not in app_id.lower():
        return False
    cmd_filter = request.query.get("cmd")
    if cmd_filter and cmd_filter.lower() not in str(defn.get("cmd") or "").lower():
        return False
    selector = request.query.get("label")
    return not selector or matches_selector(selector, defn.get("labels") or {})


async def create_app(request: web.Request) -> web.Response:
    core = core_of(request)
    body = await read_json(request, dict)
    validate_app(body, features=core.features)
    if not isinstance(body.get("id"), str) or not body["id"].strip("/"):
        raise ApiError(422, "Object is not valid", details=[{"path": "/id", "errors": ["error.path.missing"]}])
    app_id = resolve_id(body["id"])
    if app_id in core.state.apps:
        raise ApiError(409, f"An app with id [{app_id}] already exists.")
    target = core.state.definitions()
    target[app_id] = normalise(body, app_id)
    check_tree(core, target)
    deployment_id, _ = commit(core, target, flag(request, "force"), group_id=parent_group(app_id))
    announce(core, request, app_id)
    app = core.views.app_json(app_id, Embeds())
    location = str(request.url.with_path(f"/v2/apps{app_id}").with_query(None))
    headers = {"Location": location, "Marathon-Deployment-Id": deployment_id}
    return json_response(app, 201, headers)


SUFFIXES = [
    ("restart", re.compile(r"^(?P<app>.+)/restart$")),
    ("tasks", re.compile(r"^(?P<app>.+)/tasks(?:/(?P<task>[^/]+))?$")),
    ("versions", re.compile(r"^(?P<app>.+)/versions(?:/(?P<version>[^/]+))?$")),
    ("group", re.compile(r"^(?P<app>.*)/\*$")),
]


def route_of(tail: str) -> tuple[str, dict[str, str]]:
    for name, pattern in SUFFIXES:
        found = pattern.match("/" + tail.strip("/") if name != "group" else "/" + tail.lstrip("/"))
        if found:
            return name, {k: v for k, v in found.groupdict().items() if v is not None}
    return "app", {"app": "/" + tail.strip("/")}


async def get_app(request: web.Request) -> web.Response:
    from reconciler.sandbox.marathon.routes_tasks import list_app_tasks, list_group_tasks

    core = core_of(request)
    name, parts = route_of(request.match_info["tail"])
    raw = parts.get("app", "/")
    embeds = Embeds.parse(request.query.getall("embed", []), single=True)
    if name == "tasks" and (raw == "/*" or raw.endswith("/*")):
        return await list_group_tasks(request, resolve_id(raw[:-1]))
    app_id = resolve_id(raw)
    if name == "tasks":
        return await list_app_tasks(request, app_id)
    if name == "versions":
        return versions(core, app_id, parts.get("version"))
    if name == "group":
        return group_apps(core, app_id, embeds)
    if name != "app" or app_id not in core.state.apps:
        raise unknown_app(app_id)
    return text_json_response('{"app":' + core.views.app_text(app_id, embeds) + "}")


def group_apps(core: MarathonCore, group_id: str, embeds: Embeds) -> web.Response:
    """`GET /v2/apps/{group}/*`: the group's apps (transitively) with the single-app embeds, or 404 for an
    unknown group (AppsResource.show, `ListApps`)."""
    if group_id not in core.state.group_ids():
        raise ApiError(404, f"Group '{group_id}' does not exist")
    prefix = group_id.rstrip("/") + "/"
    ids = [i for i in sorted(core.state.apps) if i.startswith(prefix)]
    return text_json_response('{"*":[' + ",".join(core.views.app_text(i, embeds) for i in ids) + "]}")


def versions(core: MarathonCore, app_id: str, version: str | None) -> web.Response:
    history = core.state.app_history.get(app_id)
    if history is None:
        raise unknown_app(app_id)
    if version is None:
        return json_response({"versions": sorted(history, reverse=True)})
    stored = history.get(version)
    if stored is None:
        raise ApiError(404, f"App '{app_id}' does not exist in version {version}")
    return json_response(stored_app_json(stored))


def updated_definition(core: MarathonCore, app_id: str, body: JsonDict, partial: bool) -> JsonDict:
    """The full definition a PUT/PATCH body asks for (rollback, partial merge or replacement).

    Only a partial update of an existing app reads `version` (a rollback); a complete replacement or a
    new app is read as a raml.App whose `version` the AppUpdate conversion drops (AppsResource
    canonicalAppUpdateFromJson, AppConversion.appToUpdate: "purposefully ignore version")."""
    existing = core.state.apps.get(app_id)
    if existing and partial and "version" in body:
        return rolled_back(core, app_id, body)
    if existing and partial:
        validate_app_update(body)
        merged = merge_partial(existing.definition, body)
    else:
        merged = {key: value for key, value in body.items() if key != "version"}
    validate_app({**merged, "id": app_id}, features=core.features)
    return normalise(merged, app_id)


def rolled_back(core: MarathonCore, app_id: str, body: JsonDict) -> JsonDict:
    if set(body) - {"id", "version"}:
        raise ApiError(422, "Object is not valid", details=[{"path": "/", "errors": [ROLLBACK_ONLY]}])
    stored = core.state.app_history.get(app_id, {}).get(str(body["version"]))
    if stored is None:
        # AppHelpers.rollback throws AppNotFoundException(appId): the message names no version.
        raise unknown_app(app_id)
    return dict(stored.definition)


async def put_app(request: web.Request) -> web.Response:
    core = core_of(request)
    name, parts = route_of(request.match_info["tail"])
    if name != "app":
        raise ApiError(405, "Method not allowed")
    app_id = resolve_id(parts["app"])
    body = await read_json(request, dict)
    body.pop("id", None)
    created = app_id not in core.state.apps
    target = core.state.definitions()
    target[app_id] = updated_definition(core, app_id, body, flag(request, "partialUpdate", True))
    check_tree(core, target)
    deployment_id, version = commit(core, target, flag(request, "force"), group_id=parent_group(app_id))
    announce(core, request, app_id)
    if not created:
        return deployment_result(deployment_id, version)
    # Response.created(new URI(appId.toString)) (AppsResource.update): JAX-RS resolves the relative URI
    # against the application's base URI, so the Location is the bare app path, not /v2/apps/<id>.
    return deployment_result(deployment_id, version, 201, str(request.url.with_path(app_id).with_query(None)))


async def patch_app(request: web.Request) -> web.Response:
    core = core_of(request)
    app_id = resolve_id(request.match_info["tail"])
    body = await read_json(request, dict)
    body.pop("id", None)
    if app_id not in core.state.apps:
        raise unknown_app(app_id)
    target = core.state.definitions()
    target[app_id] = updated_definition(core, app_id, body, True)
    deployment_id, version = commit(core, target, flag(request, "force"), group_id=parent_group(app_id))
    announce(core, request, app_id)
    return deployment_result(deployment_id, version)


async def put_apps(request: web.Request, patch: bool = False) -> web.Response:
    core = core_of(request)
    bodies = await read_json(request, list)
    target = core.state.definitions()
    partial = patch or flag(request, "partialUpdate", True)
    for index, body in enumerate(bodies):
        check_bulk_id(body, index, partial)
        app_id = resolve_id(body["id"])
        if patch and app_id not in core.state.apps:
            raise unknown_app(app_id)
        target[app_id] = updated_definition(core, app_id, {k: v for k, v in body.items() if k != "id"}, partial)
    check_tree(core, target)
    deployment_id, version = commit(core, target, flag(request, "force"))
    return deployment_result(deployment_id, version)


def check_bulk_id(body: object, index: int, partial: bool) -> None:
    """An element of a bulk body needs an object with a string `id`. A partial update reads each element as
    an AppUpdate (id optional) and then `require`s the id, an IllegalArgumentException (422 with only a
    message); a full replacement reads a raml.App, whose missing id is a JsResultException (422 Invalid
    JSON) (AppsResource.canonicalAppUpdatesFromJson, MarathonExceptionMapper)."""
    if not isinstance(body, dict):
        raise bad_json(f"({index})", "error.expected.jsobject")
    if "id" in body and not isinstance(body["id"], str):
        raise bad_json(f"({index})/id", "error.expected.jsstring")
    if "id" not in body:
        if partial:
            raise ApiError(422, "requirement failed: App Update must have app id set")
        raise bad_json(f"({index})/id", "error.path.missing")


async def patch_apps(request: web.Request) -> web.Response:
    return await put_apps(request, patch=True)


async def delete_app(request: web.Request) -> web.Response:
    from reconciler.sandbox.marathon.routes_tasks import delete_app_tasks

    core = core_of(request)
    name, parts = route_of(request.match_info["tail"])
    app_id = resolve_id(parts.get("app", "/"))
    if name == "tasks":
        return await delete_app_tasks(request, app_id, parts.get("task"))
    if name != "app" or app_id not in core.state.apps:
        raise unknown_app(app_id)
    target = core.state.definitions()
    del target[app_id]
    deployment_id, version = commit(core, target, flag(request, "force", True), group_id=parent_group(app_id))
    core.views.forget(app_id)
    return deployment_result(deployment_id, version)


async def post_app(request: web.Request) -> web.Response:
    core = core_of(request)
    name, parts = route_of(request.match_info["tail"])
    app_id = resolve_id(parts.get("app", "/"))
    if name != "restart":
        raise ApiError(405, "Method not allowed")
    if app_id not in core.state.apps:
        raise unknown_app(app_id)
    restarts = frozenset({app_id})
    deployment_id, version = commit(
        core, core.state.definitions(), flag(request, "force"), restarts, group_id=parent_group(app_id)
    )
    return deployment_result(deployment_id, version)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v2/apps", list_apps)
    # Jersey matches a path with or without a trailing slash; Prometheus' marathon_sd_configs asks
    # for `/v2/apps/?embed=apps.tasks` (discovery/marathon/marathon.go appListPath).
    app.router.add_get("/v2/apps/", list_apps)
    app.router.add_post("/v2/apps", create_app)
    app.router.add_put("/v2/apps", put_apps)
    app.router.add_patch("/v2/apps", patch_apps)
    app.router.add_get("/v2/apps/{tail:.+}", get_app)
    app.router.add_put("/v2/apps/{tail:.+}", put_app)
    app.router.add_patch("/v2/apps/{tail:.+}", patch_app)
    app.router.add_delete("/v2/apps/{tail:.+}", delete_app)
    app.router.add_post("/v2/apps/{tail:.+}", post_app)


__all__ = ["CORE", "RUNTIME_FIELDS", "add_routes", "core_of"]
