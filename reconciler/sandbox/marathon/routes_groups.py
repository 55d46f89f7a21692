"""`/v2/groups` routes (sandbox layer): the group tree, create, replace, scaleBy, delete, dryRun.

A group body's `apps` (and `groups`) list becomes the exact set of that group's direct apps
(subgroups); omitted lists leave them untouched (FACTS.md §4).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aiohttp import web

from reconciler.sandbox.marathon.appdef import normalise, resolve_id
from reconciler.sandbox.marathon.clock import version_key
from reconciler.sandbox.marathon.core import MarathonCore
from reconciler.sandbox.marathon.model import JsonDict
from reconciler.sandbox.marathon.routes_apps import check_tree, commit, core_of, parent_group
from reconciler.sandbox.marathon.views import COMPACT, Embeds, stored_app_json
from reconciler.sandbox.marathon.wire import (
    ApiError,
    deployment_result,
    flag,
    json_response,
    read_json,
    text_json_response,
    validate_app,
    validate_group,
)


def parent_of(path: str) -> str:
    return "/" + "/".join(path.strip("/").split("/")[:-1])


def unknown_group(group_id: str) -> ApiError:
    return ApiError(404, f"Group '{group_id}' does not exist")


@dataclass(frozen=True)
class GroupTree:
    """A root as the group endpoints show it: the current one, or a kept version of it."""

    app_ids: list[str]
    group_ids: set[str]
    groups: Mapping[str, JsonDict]
    version: str  # the version of the root and of every group it holds implicitly
    app_text: Callable[[str], str]


def current_tree(core: MarathonCore, embeds: Embeds) -> GroupTree:
    state = core.state
    return GroupTree(
        list(state.apps), state.group_ids(), state.groups, state.root_version, lambda a: core.views.app_text(a, embeds)
    )


def kept_tree(core: MarathonCore, version: str) -> GroupTree | None:
    """The root kept at `version` (None when not kept); 422 when `version` is no timestamp. Its apps
    carry no runtime fields: GroupInfoService.selectGroupVersion embeds none."""
    try:
        key = version_key(version)
    except ValueError as exc:
        raise ApiError(422, str(exc)) from exc
    kept = core.state.root_history.get(key)
    if kept is None:
        return None
    return GroupTree(
        list(kept.apps),
        set(kept.group_ids),
        kept.groups,
        key,
        lambda a: json.dumps(stored_app_json(kept.apps[a]), separators=COMPACT),
    )


def group_text(tree: GroupTree, group_id: str) -> str:
    apps = [tree.app_text(a) for a in tree.app_ids if parent_of(a) == group_id]
    children = [group_text(tree, g) for g in sorted(tree.group_ids) if g != "/" and parent_of(g) == group_id]
    stored = tree.groups.get(group_id, {})
    head = {
        "id": group_id,
        "dependencies": stored.get("dependencies", []),
        "version": stored.get("version", tree.version),
    }
    prefix = json.dumps(head, separators=COMPACT)[:-1]
    return f'{prefix},"apps":[{",".join(apps)}],"groups":[{",".join(children)}],"pods":[]}}'


# GroupsResource's path matchers (Jersey cannot match ids with slashes), tried in this order.
LIST_VERSIONS = re.compile(r"^(?:(?P<group>.+)/)?versions$")
GET_VERSION = re.compile(r"^(?:(?P<group>.+)/)?versions/(?P<version>.+)$")


async def get_group(request: web.Request) -> web.Response:
    core = core_of(request)
    tail = request.match_info.get("tail", "").strip("/")
    listing, getting = LIST_VERSIONS.match(tail), GET_VERSION.match(tail)
    if listing:
        return group_versions(core, resolve_id(listing["group"] or "/"))
    if getting:
        return group_version(core, resolve_id(getting["group"] or "/"), getting["version"])
    group_id = resolve_id(tail)
    if group_id not in core.state.group_ids():
        raise unknown_group(group_id)
    embeds = Embeds.parse([e for e in request.query.getall("embed", []) if e.startswith("group.apps.")])
    return text_json_response(group_text(current_tree(core, embeds), group_id))


def group_version(core: MarathonCore, group_id: str, version: str) -> web.Response:
    """The group as the root kept at `version` held it; 404 when that root is not kept or did not
    hold the group (GroupsResource.groupVersionResponse answers unknownGroup for both)."""
    tree = kept_tree(core, version)
    if tree is None or group_id not in tree.group_ids:
        raise unknown_group(group_id)
    return text_json_response(group_text(tree, group_id))


def group_versions(core: MarathonCore, group_id: str) -> web.Response:
    """The kept root versions that hold the group, newest first (GroupManagerImpl.versions keeps a root
    version only where `group(id)` is defined); 404 when the group does not exist now (GroupsResource)."""
    if group_id not in core.state.group_ids():
        raise unknown_group(group_id)
    history = core.state.root_history
    return json_response([v for v in reversed(history) if group_id in history[v].group_ids])


def apply_group(
    target: dict[str, JsonDict], groups: dict[str, JsonDict], group_id: str, body: JsonDict,
    features: frozenset[str] = frozenset(),
) -> None:
    """Fold one group body into the target apps and explicit groups, recursively for nested groups."""
    if isinstance(body.get("apps"), list):
        for app_id in [a for a in target if parent_of(a) == group_id]:
            del target[app_id]
        for index, app in enumerate(body["apps"]):
            if not isinstance(app, dict) or not isinstance(app.get("id"), str):
                raise ApiError(
                    422,
                    "Object is not valid",
                    details=[{"path": f"/apps({index})/id", "errors": ["error.path.missing"]}],
                )
            app_id = resolve_id(app["id"], group_id)
            if parent_of(app_id) != group_id and not app_id.startswith(group_id.rstrip("/") + "/"):
                raise ApiError(
                    422,
                    "Object is not valid",
                    details=[{"path": f"/apps({index})/id", "errors": [f"Identifier is not child of '{group_id}'"]}],
                )
            validate_app({**app, "id": app_id}, features=features)
            target[app_id] = normalise(app, app_id)
    if isinstance(body.get("groups"), list):
        listed = {resolve_id(str(g.get("id", "")), group_id) for g in body["groups"] if isinstance(g, dict)}
        prefix = group_id.rstrip("/") + "/"
        for app_id in [a for a in target if a.startswith(prefix) and parent_of(a) != group_id]:
            child = prefix + app_id[len(prefix) :].split("/")[0]
            if child not in listed:
                del target[app_id]
        for child_body in body["groups"]:
            child_id = resolve_id(str(child_body.get("id", "")), group_id)
            groups[child_id] = group_entry(child_id, child_body)
            apply_group(target, groups, child_id, child_body, features)


def group_entry(group_id: str, body: JsonDict) -> JsonDict:
    """The explicit group a body describes; the writer stamps it with the change's version."""
    return {"dependencies": [resolve_id(str(d), parent_of(group_id)) for d in body.get("dependencies") or []]}


def scaled_target(core: MarathonCore, group_id: str, factor: float) -> dict[str, JsonDict]:
    target = core.state.definitions()
    prefix = group_id.rstrip("/") + "/"
    for app_id, defn in target.items():
        if app_id.startswith(prefix):
            target[app_id] = {**defn, "instances": math.ceil(int(defn["instances"]) * factor)}
    return target


def group_target(core: MarathonCore, group_id: str, body: JsonDict) -> tuple[dict[str, JsonDict], dict[str, JsonDict]]:
    """The root's apps and explicit groups after this group body: a rollback (`version` wins), a
    scaleBy, or a new tree. Computed on copies: the state changes only when the writer commits."""
    groups = dict(core.state.groups)
    if "version" in body:
        return rolled_back(core, group_id, str(body["version"])), groups
    if "scaleBy" in body and not ({"apps", "groups"} & set(body)):
        return scaled_target(core, group_id, float(body["scaleBy"])), groups
    target = core.state.definitions()
    apply_group(target, groups, group_id, body, core.features)
    if group_id != "/":
        groups[group_id] = group_entry(group_id, body)
    return target, groups


def rolled_back(core: MarathonCore, group_id: str, version: str) -> dict[str, JsonDict]:
    """The group's apps as they were at `version`; apps outside the group stay as they are."""
    snapshot = core.state.root_history.get(version)
    if snapshot is None:
        raise ApiError(404, f"Group '{group_id}' does not exist in version {version}")
    prefix = group_id.rstrip("/") + "/"
    target = {a: d for a, d in core.state.definitions().items() if not a.startswith(prefix)}
    target.update({a: d for a, d in snapshot.definitions().items() if a.startswith(prefix)})
    return target


async def write_group(request: web.Request, creating: bool) -> web.Response:
    core = core_of(request)
    path_id = resolve_id(request.match_info.get("tail", ""))
    body = await read_json(request, dict)
    group_id = resolve_id(str(body["id"]), path_id) if creating and isinstance(body.get("id"), str) else path_id
    validate_group(body, group_id, core.features)
    if creating:
        refuse_existing(core, group_id)
    target, groups = group_target(core, group_id, body)
    check_tree(core, target, groups)
    if flag(request, "dryRun"):
        steps = core.writer.plan(target)
        return json_response({"steps": [{"actions": [a.to_json() for a in step]} for step in steps]})
    # GroupsResource.updateOrCreate names the parent of the URL's group in group_change_success.
    deployment_id, version = commit(core, target, flag(request, "force"), group_id=parent_group(path_id), groups=groups)
    location = str(request.url.with_path(f"/v2/groups{group_id}").with_query(None)) if creating else None
    return deployment_result(deployment_id, version, 201 if creating else 200, location)


def refuse_existing(core: MarathonCore, group_id: str) -> None:
    """POST only creates: 409 when the group, or an app with that path, exists (GroupsResource.createWithPath)."""
    if group_id in core.state.group_ids():
        raise ApiError(409, f"Group {group_id} is already created. Use PUT to change this group.")
    if group_id in core.state.apps:
        raise ApiError(409, f"An app with the path {group_id} already exists.")


async def post_group(request: web.Request) -> web.Response:
    return await write_group(request, creating=True)


async def put_group(request: web.Request) -> web.Response:
    return await write_group(request, creating=False)


async def delete_group(request: web.Request) -> web.Response:
    core = core_of(request)
    group_id = resolve_id(request.match_info.get("tail", ""))
    if group_id not in core.state.group_ids():
        raise unknown_group(group_id)
    prefix = group_id.rstrip("/") + "/"
    target = {a: d for a, d in core.state.definitions().items() if not a.startswith(prefix)}
    groups = {g: meta for g, meta in core.state.groups.items() if g != group_id and not g.startswith(prefix)}
    deployment_id, version = commit(
        core, target, flag(request, "force"), group_id=parent_group(group_id), groups=groups
    )
    return deployment_result(deployment_id, version)


def add_routes(app: web.Application) -> None:
    for path in ("/v2/groups", "/v2/groups/", "/v2/groups/{tail:.+}"):
        app.router.add_get(path, get_group)
        app.router.add_post(path, post_group)
        app.router.add_put(path, put_group)
        app.router.add_delete(path, delete_group)
