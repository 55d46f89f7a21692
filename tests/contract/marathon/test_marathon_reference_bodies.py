"""Every Marathon body in ../shared/reference/marathon parses through the wire models and translates to
the core vocabulary without losing what the core needs (ids, instances, labels, tasks with host, ports,
state and health, deployments). The files span Marathon 0.7 to 1.10; values asserted are read off them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.model import ActualApp, TaskState
from reconciler.marathon import wire
from reconciler.marathon.sse import decode_lines, to_event
from reconciler.marathon.translate import to_actual, to_actual_app, to_actual_deployment

pytestmark = pytest.mark.reference


def read(reference_dir: Path, name: str) -> Any:
    return json.loads((reference_dir / "marathon" / name).read_text())


def apps_of(body: Any) -> list[wire.App]:
    # marathon-bigip-ctlr's harness stripped the {"apps": ...} wrapper from its captures.
    return [wire.App.model_validate(a) for a in (body["apps"] if isinstance(body, dict) else body)]


def events_of(text: str) -> list[wire.Event]:
    events = [to_event(frame) for frame in decode_lines(text.splitlines())]
    assert None not in events
    return [e for e in events if e is not None]


def parse_sse(reference_dir: Path, name: str) -> Any:
    return events_of((reference_dir / "marathon" / name).read_text())


def parse_task_wrapper(body: Any) -> wire.Task:
    task = body["task"]
    return wire.Task.model_validate(task[0] if isinstance(task, list) else task)


PARSERS: dict[str, Callable[[Any], Any]] = {
    "apps": lambda body: [to_actual_app(a) for a in apps_of(body)],
    "app": lambda body: to_actual_app(wire.App.model_validate(body["app"])),
    "definition": lambda body: to_actual_app(wire.App.model_validate(body)),
    "definitions": lambda body: [to_actual_app(wire.App.model_validate(b)) for b in body],
    "tasks": lambda body: wire.TaskList.model_validate(body).tasks,
    "task": parse_task_wrapper,
    "deployments": lambda body: [to_actual_deployment(wire.Deployment.model_validate(d)) for d in body],
    "deployment-result": wire.DeploymentResult.model_validate,
    "steps": lambda body: [
        wire.DeploymentStep.model_validate({"actions": s} if isinstance(s, list) else s) for s in body["steps"]
    ],
    "event": wire.Event.model_validate,
    "info": wire.Info.model_validate,
    "queue": lambda body: wire.QueueList.model_validate(body).queue,
    "group": wire.Group.model_validate,
}

# Every file under recorded/ and examples/, with how it is read (or why it is not a Marathon body here).
KINDS = {
    "recorded/async-worker__sse_multi-event-blanklines-in-between.txt": "sse",
    "recorded/async-worker__sse_single-event.txt": "sse",
    "recorded/marathon-bigip-ctlr__marathon_app_scaled.json": "apps",
    "recorded/marathon-bigip-ctlr__marathon_one_app_in_subdir.json": "apps",
    "recorded/marathon-bigip-ctlr__marathon_one_app_two_health_checks.json": "apps",
    "recorded/marathon-bigip-ctlr__marathon_one_app_zero_instances.json": "apps",
    "recorded/marathon-bigip-ctlr__marathon_two_apps_v152.json": "apps",
    "recorded/marathon-consul__app.json": "app",
    "recorded/marathon-consul__apps.json": "apps",
    "recorded/marathon-consul__event_deployment_info.json": "event",
    "recorded/marathon-consul__event_deployment_step_success.json": "event",
    "recorded/marathon-consul__event_deployment_step_success_with_groups.json": "event",
    "recorded/marathon-consul__tasks-marathon-1.9.json": "tasks",
    "recorded/marathon-consul__tasks.json": "tasks",
    "recorded/marathon-lb__marathon15_apps.json": "apps",
    "recorded/marathon-lb__zdd_app_blue.json": "apps",
    "recorded/marathon-lb__zdd_app_blue_marathon1.5.json": "apps",
    "recorded/marathon-lb__zdd_apps.json": "apps",
    "examples/articles-master/requests/app-simple.json": "definition",
    "examples/benchmark-real-group/155_100.json": "group",
    **{
        f"examples/app-definitions-v0.15.7/{n}.json": "definition"
        for n in ("Docker", "Play", "PythonSimpleHTTPServer", "Rails", "Tomcat-Docker", "Tomcat", "bridge", "labels")
    },
    "examples/app-definitions-v0.15.7/Group.json": "group",
    "examples/v2-docs-master/app-check-http-example.json": "definition",
    "examples/v2-docs-master/app_patch.json": "definition",
    "examples/v2-docs-master/apps_patch.json": "definitions",
    "examples/v2-docs-master/deployment_steps.json": "steps",
    **{
        f"examples/v2-docs-{version}/{name}": kind
        for version in ("master", "v1.3.14", "v0.15.7")
        for name, kind in (
            ("app.json", "definition"),
            ("app_list.json", "apps"),
            ("app_task.json", "task"),
            ("app_tasks.json", "tasks"),
            ("apps_create.json", "definitions"),
            ("deployments.json", "deployments"),
            ("deployments_result.json", "deployment-result"),
            ("events.txt", "sse"),
            ("group.json", "group"),
            ("info.json", "info"),
            ("queue.json", "queue"),
            ("tasks.json", "tasks"),
        )
    },
}
NOT_BODIES = {
    "recorded/SOURCE.txt": "provenance notes",
    "examples/SOURCE.txt": "provenance notes",
    "recorded/go-marathon__methods.yml": "served call by call in test_marathon_go_client_methods",
    "examples/articles-master/responses/app-representation.json": "empty in the source repository",
    "examples/v2-docs-master/pod.json": "a pod definition; the reconciler manages apps only",
}


def reference_files(reference_dir: Path) -> set[str]:
    root = reference_dir / "marathon"
    return {
        str(path.relative_to(root))
        for folder in ("recorded", "examples")
        for path in (root / folder).rglob("*")
        if path.is_file()
    }


def test_every_reference_file_is_read_or_set_aside(reference_dir: Path) -> None:
    assert reference_files(reference_dir) == set(KINDS) | set(NOT_BODIES)
    assert (
        reference_dir / "marathon" / "examples/articles-master/responses/app-representation.json"
    ).stat().st_size == 0


def _app_fields(app: ActualApp) -> tuple[Any, ...]:
    return (app.app_id, app.instances, sorted(t.task_id for t in app.tasks), dict(app.labels))


def _raw_app_fields(raw: dict[str, Any]) -> tuple[Any, ...]:
    task_ids = sorted(t["id"] for t in raw.get("tasks") or [])
    return (raw["id"], raw.get("instances", 1), task_ids, raw.get("labels") or {})


def _raw_steps(body: Any) -> list[list[tuple[str, str | None]]]:
    steps = [s if isinstance(s, list) else s.get("actions", []) for s in body["steps"]]
    return [[(a.get("action", a.get("type")), a.get("app")) for a in step] for step in steps]


def _raw_task(task: dict[str, Any]) -> tuple[Any, ...]:
    return (task["id"], task.get("host", ""), task.get("ports") or [])


# Per kind: (key fields of the parsed value, the same fields read straight off the raw JSON).
FIELDS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "apps": (
        lambda apps: [_app_fields(a) for a in apps],
        lambda body: [_raw_app_fields(a) for a in (body["apps"] if isinstance(body, dict) else body)],
    ),
    "app": (_app_fields, lambda body: _raw_app_fields(body["app"])),
    "definition": (_app_fields, _raw_app_fields),
    "definitions": (lambda apps: [_app_fields(a) for a in apps], lambda body: [_raw_app_fields(a) for a in body]),
    "tasks": (
        lambda tasks: [(t.id, t.host, t.ports) for t in tasks],
        lambda body: [_raw_task(t) for t in body["tasks"]],
    ),
    "task": (
        lambda t: (t.id, t.host, t.ports),
        lambda body: _raw_task(body["task"][0] if isinstance(body["task"], list) else body["task"]),
    ),
    "deployments": (
        lambda deployments: [(d.deployment_id, list(d.affected_apps)) for d in deployments],
        lambda body: [(d["id"], d.get("affectedApps", [])) for d in body],
    ),
    "deployment-result": (lambda r: (r.deployment_id, r.version), lambda b: (b["deploymentId"], b.get("version", ""))),
    "steps": (lambda steps: [[(a.action, a.app) for a in s.actions] for s in steps], _raw_steps),
    "event": (
        lambda e: (e.event_type, e.timestamp, e.app_id),
        lambda b: (b["eventType"], b.get("timestamp", ""), b.get("appId", b.get("runSpecId"))),
    ),
    "info": (lambda i: (i.name, i.version, i.leader), lambda b: (b["name"], b["version"], b.get("leader"))),
    "queue": (
        lambda queue: [(q.app.id if q.app else None, q.count) for q in queue],
        lambda body: [(q["app"]["id"] if q.get("app") else None, q.get("count", 0)) for q in body["queue"]],
    ),
    "group": (
        lambda g: (g.id, [a.id for a in g.apps], [sub.id for sub in g.groups]),
        lambda b: (b["id"], [a["id"] for a in b.get("apps") or []], [sub["id"] for sub in b.get("groups") or []]),
    ),
}


def raw_sse_types(text: str) -> list[str]:
    """The `event:` names of the stream, read as text (each frame's data repeats it as eventType)."""
    return [line.removeprefix("event:").strip() for line in text.splitlines() if line.startswith("event:")]


@pytest.mark.parametrize("name", sorted(KINDS))
def test_reference_file_parses(reference_dir: Path, name: str) -> None:
    """The parsed value holds the key fields of the raw JSON, value for value (not merely something)."""
    kind = KINDS[name]
    if kind == "sse":
        events = parse_sse(reference_dir, name)
        assert [e.event_type for e in events] == raw_sse_types((reference_dir / "marathon" / name).read_text())
        assert events and all(e.timestamp for e in events)
        return
    body = read(reference_dir, name)
    parsed_fields, raw_fields = FIELDS[kind]
    expected = raw_fields(body)
    assert expected not in ([], (), None)
    assert parsed_fields(PARSERS[kind](body)) == expected


# -- apps lists: ids, instances, labels, tasks ----------------------------------------------------------

# (file, app id, instances, task count, first task: id, host, ports, state, healthy, a label)
APP_LISTS = [
    (
        "recorded/marathon-bigip-ctlr__marathon_app_scaled.json",
        "/server-app2",
        4,
        4,
        ("server-app2.daa24031-1d0f-11e6-b12b-02429f4f0fd6", "10.141.141.10", (31126,), TaskState.RUNNING, True),
        None,
    ),
    (
        "recorded/marathon-bigip-ctlr__marathon_one_app_in_subdir.json",
        "/my_services/test-2/server-app",
        4,
        4,
        (
            "my_services_test-2_server-app.0f1279f6-1d35-11e6-b12b-02429f4f0fd6",
            "10.141.141.10",
            (31615,),
            TaskState.RUNNING,
            True,
        ),
        None,
    ),
    (
        "recorded/marathon-bigip-ctlr__marathon_one_app_two_health_checks.json",
        "/server-app",
        1,
        4,
        ("server-app.0f1279f6-1d35-11e6-b12b-02429f4f0fd6", "10.141.141.10", (31615,), TaskState.RUNNING, True),
        None,
    ),
    ("recorded/marathon-bigip-ctlr__marathon_one_app_zero_instances.json", "/server-app", 0, 0, None, None),
    (
        "recorded/marathon-bigip-ctlr__marathon_two_apps_v152.json",
        "/nginx-app",
        2,
        2,
        ("nginx-app.bd2cb77e-e110-11e7-81be-5a889b68a509", "172.16.1.6", (11329,), TaskState.RUNNING, True),
        ("F5_PARTITION", "mesos"),
    ),
    (
        "recorded/marathon-bigip-ctlr__marathon_two_apps_v152.json",
        "/nginx-app-nohm",
        2,
        2,
        ("nginx-app-nohm.c6261480-e110-11e7-81be-5a889b68a509", "172.16.1.6", (31042,), TaskState.RUNNING, None),
        None,
    ),
    (
        "recorded/marathon-consul__apps.json",
        "/bridged-webapp",
        2,
        2,
        ("test.47de43bd-1a81-11e5-bdb6-e6cb6734eaf8", "192.168.2.114", (31315,), TaskState.RUNNING, True),
        None,
    ),
    (
        "recorded/marathon-lb__marathon15_apps.json",
        "/pywebserver",
        1,
        1,
        ("pywebserver.8cad6a69-6ca8-11e7-beb2-0e2beceebfcc", "10.0.2.148", (1565,), TaskState.RUNNING, None),
        ("HAPROXY_0_VHOST", "myvhost.com"),
    ),
    (
        "recorded/marathon-lb__zdd_app_blue.json",
        "/nginx-green",
        3,
        3,
        ("nginx-green.1883a887-c931-11e5-9836-026ee08d9f6f", "10.0.6.25", (16916,), TaskState.RUNNING, True),
        ("HAPROXY_DEPLOYMENT_COLOUR", "green"),
    ),
    (
        "recorded/marathon-lb__zdd_app_blue_marathon1.5.json",
        "/nginx-green",
        3,
        3,
        ("nginx-green.01da9a15-68a7-11e7-a229-e6a514ca0c21", "10.0.6.25", (16916,), TaskState.RUNNING, True),
        ("HAPROXY_DEPLOYMENT_COLOUR", "green"),
    ),
    (
        "recorded/marathon-lb__zdd_apps.json",
        "/nginx-blue",
        1,
        1,
        ("nginx-blue.3a58a46a-c937-11e5-9836-026ee08d9f6f", "10.0.1.147", (25724,), TaskState.RUNNING, True),
        ("HAPROXY_DEPLOYMENT_COLOUR", "blue"),
    ),
    ("examples/v2-docs-master/app_list.json", "/myapp", 3, 0, None, None),
    ("examples/v2-docs-v0.15.7/app_list.json", "/myapp", 3, 0, None, None),
]


@pytest.mark.parametrize(("name", "app_id", "instances", "task_count", "first_task", "label"), APP_LISTS)
def test_app_lists_translate_without_loss(
    reference_dir: Path,
    name: str,
    app_id: str,
    instances: int,
    task_count: int,
    first_task: tuple[str, str, tuple[int, ...], TaskState, bool | None] | None,
    label: tuple[str, str] | None,
) -> None:
    body = read(reference_dir, name)
    actual = to_actual(apps_of(body), [])
    app = actual.apps[app_id]
    assert (app.instances, len(app.tasks)) == (instances, task_count)
    if first_task is not None:
        task = app.tasks[0]
        assert (task.task_id, task.host, task.ports, task.state, task.healthy) == first_task
        assert task.app_id in (app_id, "/test")  # marathon-consul's capture was hand-edited: its tasks say /test
    if label is not None:
        assert app.labels[label[0]] == label[1]
    assert_definition_only(app, raw_app(body, app_id))


def raw_app(body: Any, app_id: str) -> dict[str, Any]:
    apps = body["apps"] if isinstance(body, dict) else body
    found: dict[str, Any] = next(a for a in apps if a["id"] == app_id)
    return found


STATUS_KEYS = {
    "version",
    "versionInfo",
    "tasks",
    "tasksStaged",
    "tasksRunning",
    "tasksHealthy",
    "tasksUnhealthy",
    "deployments",
    "lastTaskFailure",
    "readinessCheckResults",
    "taskStats",
}


def assert_definition_only(app: ActualApp, raw: dict[str, Any]) -> None:
    """The definition is exactly the body minus the status fields: nothing lost, nothing added."""
    assert dict(app.definition) == {k: v for k, v in raw.items() if k not in STATUS_KEYS}


def test_marathon_15_shapes_survive_translation(reference_dir: Path) -> None:
    app = to_actual_app(apps_of(read(reference_dir, "recorded/marathon-lb__marathon15_apps.json"))[0])
    assert app.definition["networks"] == [{"mode": "container/bridge"}]
    assert app.definition["container"]["portMappings"][0]["servicePort"] == 10101
    assert "ports" not in app.definition and "portDefinitions" not in app.definition


def test_marathon_015_shapes_survive_translation(reference_dir: Path) -> None:
    app = to_actual_app(apps_of(read(reference_dir, "recorded/marathon-lb__zdd_app_blue.json"))[0])
    assert app.definition["ports"] == [10000] and app.definition["ipAddress"] is None
    assert app.definition["container"]["docker"]["network"] == "BRIDGE"


def test_two_health_checks_per_task_all_alive(reference_dir: Path) -> None:
    apps = apps_of(read(reference_dir, "recorded/marathon-bigip-ctlr__marathon_two_apps_v152.json"))
    task = next(a for a in apps if a.id == "/nginx-app").tasks[0]  # type: ignore[index]
    assert [r.instance_id for r in task.health_check_results] == [
        "nginx-app.marathon-bd2cb77e-e110-11e7-81be-5a889b68a509"
    ] * 2
    assert [r.last_failure_cause for r in task.health_check_results] == [None, None]


def test_single_app_with_tasks_and_two_health_checks(reference_dir: Path) -> None:
    app = PARSERS["app"](read(reference_dir, "recorded/marathon-consul__app.json"))
    assert (app.app_id, app.instances, dict(app.labels)) == ("/myapp", 2, {"consul": "true", "public": "tag"})
    assert [(t.host, t.ports[0], t.healthy, t.state) for t in app.tasks] == [
        ("10.141.141.10", 31678, True, TaskState.RUNNING),
        ("10.141.141.10", 31307, True, TaskState.RUNNING),
    ]
    assert [hc.get("port") for hc in app.definition["healthChecks"]] == [None, 8123]
    assert "lastTaskFailure" not in app.definition


# -- tasks ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "first_id", "app_id", "state", "health_key"),
    [
        ("recorded/marathon-consul__tasks.json", "test.47de43bd-1a81-11e5-bdb6-e6cb6734eaf8", "/test", None, "task_id"),
        (
            "recorded/marathon-consul__tasks-marathon-1.9.json",
            "test.47de43bd-1a81-11e5-bdb6-e6cb6734eaf8._app.1",
            "/test",
            None,
            "task_id",
        ),
        (
            "examples/v2-docs-master/tasks.json",
            "frontend-foosball.083be411-5d1f-11e5-88f7-56b91e7a505b",
            "/frontend-foosball",
            "TASK_RUNNING",
            None,
        ),
        (
            "examples/v2-docs-v0.15.7/tasks.json",
            "frontend-foosball.083be411-5d1f-11e5-88f7-56b91e7a505b",
            "/frontend-foosball",
            None,
            None,
        ),
        (
            "examples/v2-docs-master/app_tasks.json",
            "minecraft_survival-world.instance-564bd685-4c30-11e5-98c1-be5b2935a987",
            "/minecraft/survival-world",
            "TASK_STAGING",
            None,
        ),
        (
            "examples/v2-docs-v1.3.14/app_tasks.json",
            "minecraft_survival-world.564bd685-4c30-11e5-98c1-be5b2935a987",
            "/minecraft/survival-world",
            None,
            None,
        ),
    ],
)
def test_task_lists(
    reference_dir: Path, name: str, first_id: str, app_id: str, state: str | None, health_key: str | None
) -> None:
    tasks = PARSERS["tasks"](read(reference_dir, name))
    first = tasks[0]
    assert (first.id, first.app_id, first.state) == (first_id, app_id, state)
    if health_key is not None:
        assert (
            getattr(first.health_check_results[0], health_key) == "bridged-webapp.a9b051fb-95fc-11e5-9571-02818b42970e"
        )


def test_two_tasks_on_different_apps_with_service_ports(reference_dir: Path) -> None:
    tasks = PARSERS["tasks"](read(reference_dir, "examples/v2-docs-v1.3.14/tasks.json"))
    assert [(t.app_id, t.ports, t.service_ports, t.slave_id) for t in tasks] == [
        ("/frontend-foosball", [31292], [10019], "20150707-153709-201330860-5050-12052-S0"),
        ("/tools/docker/registry", [31721], [5000], None),
    ]


@pytest.mark.parametrize(
    ("name", "task_id", "state"),
    [
        (
            "examples/v2-docs-master/app_task.json",
            "minecraft_survival-world.instance-564bd685-4c30-11e5-98c1-be5b2935a987",
            "TASK_STAGING",
        ),
        (
            "examples/v2-docs-v1.3.14/app_task.json",
            "minecraft_survival-world.564bd685-4c30-11e5-98c1-be5b2935a987",
            None,
        ),
        (
            "examples/v2-docs-v0.15.7/app_task.json",
            "minecraft_survival-world.564bd685-4c30-11e5-98c1-be5b2935a987",
            None,
        ),
    ],
)
def test_killed_task_in_both_wrappers(reference_dir: Path, name: str, task_id: str, state: str | None) -> None:
    task = PARSERS["task"](read(reference_dir, name))
    assert (task.id, task.host, task.ports, task.state) == (task_id, "srv7.hw.ca1.mesosphere.com", [31756], state)


# -- deployments ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "steps", "current", "total", "pods"),
    [
        ("examples/v2-docs-v0.15.7/deployments.json", [["StartApplication"], ["ScaleApplication"]], 2, 2, []),
        ("examples/v2-docs-v1.3.14/deployments.json", [["StartApplication"], ["ScaleApplication"]], 2, 2, []),
        ("examples/v2-docs-master/deployments.json", [["ScaleApplication"], ["ScalePod"]], 1, 1, ["/bla"]),
    ],
)
def test_deployments_in_both_step_shapes(
    reference_dir: Path, name: str, steps: list[list[str]], current: int, total: int, pods: list[str]
) -> None:
    (wired,) = [wire.Deployment.model_validate(d) for d in read(reference_dir, name)]
    assert [[a.action for a in s.actions] for s in wired.steps] == steps
    assert wired.affected_pods == pods
    actual = to_actual_deployment(wired)
    assert actual.deployment_id == "97c136bf-5a28-4821-9d94-480d9fbb01c8"
    assert (actual.affected_apps, actual.current_step, actual.total_steps) == (("/foo",), current, total)
    assert actual.version == "2015-09-30T09:09:17.614Z"


def test_deployment_readiness_results_are_kept(reference_dir: Path) -> None:
    (wired,) = [
        wire.Deployment.model_validate(d) for d in read(reference_dir, "examples/v2-docs-master/deployments.json")
    ]
    assert wired.current_actions[0].readiness_check_results[0]["taskId"] == "foo.instance-c9de6033"


def test_deployment_result_and_dry_run_steps(reference_dir: Path) -> None:
    result = PARSERS["deployment-result"](read(reference_dir, "examples/v2-docs-master/deployments_result.json"))
    assert (result.deployment_id, result.version) == (
        "5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43",
        "2015-09-29T15:59:51.164Z",
    )
    steps = PARSERS["steps"](read(reference_dir, "examples/v2-docs-master/deployment_steps.json"))
    assert [(a.action, a.app) for s in steps for a in s.actions] == [
        ("StartApplication", "/tools/oauth-server"),
        ("ScaleApplication", "/tools/oauth-server"),
    ]


# -- events -----------------------------------------------------------------------------------------


def test_sse_as_jetty_writes_it(reference_dir: Path) -> None:
    (event,) = parse_sse(reference_dir, "recorded/async-worker__sse_single-event.txt")
    assert (event.event_type, event.timestamp) == ("event_stream_attached", "2018-09-03T18:03:45.685Z")
    assert event.model_extra is not None and event.model_extra["remoteAddress"] == "172.18.0.1"


def test_sse_with_extra_blank_lines(reference_dir: Path) -> None:
    events = parse_sse(reference_dir, "recorded/async-worker__sse_multi-event-blanklines-in-between.txt")
    assert [e.event_type for e in events] == [
        "group_change_success",
        "api_post_event",
        "status_update_event",
        "instance_changed_event",
    ]
    status, changed = events[2], events[3]
    assert (status.app_id, status.task_status) == ("/asgard-dev/bla", "TASK_KILLED")
    assert status.task_id == "asgard-dev_bla.0139427f-b042-11e8-9638-0242ac12001f"
    assert (changed.app_id, changed.instance_id) == (
        "/asgard-dev/bla",
        "asgard-dev_bla.marathon-0139427f-b042-11e8-9638-0242ac12001f",
    )
    posted = events[1].model_extra
    assert posted is not None and posted["appDefinition"]["id"] == "/asgard-dev/bla"
    assert to_actual_app(wire.App.model_validate(posted["appDefinition"])).instances == 0


@pytest.mark.parametrize("version", ["master", "v1.3.14", "v0.15.7"])
def test_documented_event_stream(reference_dir: Path, version: str) -> None:
    events = parse_sse(reference_dir, f"examples/v2-docs-{version}/events.txt")
    assert [(e.event_type, e.app_id, e.task_status) for e in events] == [
        ("event_stream_attached", None, None),
        ("status_update_event", "/foo", "TASK_FAILED"),
        ("status_update_event", "/test-app", "TASK_RUNNING"),
    ]


@pytest.mark.parametrize(
    ("name", "event_type", "steps", "current", "target_apps"),
    [
        (
            "recorded/marathon-consul__event_deployment_info.json",
            "deployment_info",
            ["/mirek"],
            ("StopApplication", "/internalName"),
            [],
        ),
        (
            "recorded/marathon-consul__event_deployment_step_success.json",
            "deployment_step_success",
            ["/a"],
            ("RestartApplication", "/a"),
            ["/other", "/a"],
        ),
        (
            "recorded/marathon-consul__event_deployment_step_success_with_groups.json",
            "deployment_step_success",
            ["/com.example/things/something"],
            ("RestartApplication", "/com.example/things/something"),
            ["/com.example/things/something"],
        ),
    ],
)
def test_heavy_deployment_events(
    reference_dir: Path, name: str, event_type: str, steps: list[str], current: tuple[str, str], target_apps: list[str]
) -> None:
    event = PARSERS["event"](read(reference_dir, name))
    assert event.event_type == event_type and event.plan is not None and event.plan.heavy
    assert event.plan.affected_apps() == steps
    assert event.current_step is not None
    assert [(a.action, a.app) for a in event.current_step.actions] == [current]
    assert event.plan.target is not None and [a.id for a in event.plan.target.all_apps()] == target_apps


# -- queue, info, groups, request bodies ------------------------------------------------------------


@pytest.mark.parametrize("version", ["master", "v1.3.14", "v0.15.7"])
def test_queue(reference_dir: Path, version: str) -> None:
    queue = PARSERS["queue"](read(reference_dir, f"examples/v2-docs-{version}/queue.json"))
    assert [(q.app.id if q.app else None, q.count) for q in queue] == [("/tools/datadog-agent", 1), ("/foo", 2)]
    assert queue[0].delay is not None and queue[0].delay.overdue is True


def test_queue_offer_summary_of_recent_marathons(reference_dir: Path) -> None:
    queue = PARSERS["queue"](read(reference_dir, "examples/v2-docs-master/queue.json"))
    summary = queue[1].processed_offers_summary
    assert summary is not None and summary["rejectSummaryLastOffers"][3] == {
        "reason": "InsufficientCpus",
        "declined": 75,
        "processed": 123,
    }


@pytest.mark.parametrize(
    ("version", "marathon_version", "leader"),
    [("master", "1.5.0-SNAPSHOT", "localhost:8080"), ("v1.3.14", "0.13.0-SNAPSHOT", "wrk.fritz.box:8080")],
)
def test_info(reference_dir: Path, version: str, marathon_version: str, leader: str) -> None:
    info = PARSERS["info"](read(reference_dir, f"examples/v2-docs-{version}/info.json"))
    assert (info.version, info.leader, info.elected, info.http_config["http_port"]) == (
        marathon_version,
        leader,
        True,
        8080,
    )


@pytest.mark.parametrize("version", ["master", "v1.3.14", "v0.15.7"])
def test_group_tree(reference_dir: Path, version: str) -> None:
    group = PARSERS["group"](read(reference_dir, f"examples/v2-docs-{version}/group.json"))
    apps = {a.id: to_actual_app(a) for a in group.all_apps()}
    assert list(apps) == ["/tools/oauth-server", "/tools/datadog-agent", "/tools/docker/registry"]
    assert apps["/tools/datadog-agent"].instances == 5
    assert apps["/tools/docker/registry"].definition["container"]["docker"]["portMappings"][0]["containerPort"] == 5000


def test_a_real_group_of_a_hundred_apps(reference_dir: Path) -> None:
    group = PARSERS["group"](read(reference_dir, "examples/benchmark-real-group/155_100.json"))
    apps = [to_actual_app(a) for a in group.all_apps()]
    assert group.id == "/cudcos" and len(apps) == 100
    first = apps[0]
    assert (first.app_id, first.instances, first.definition["networks"]) == ("/cudcos/mactest1", 0, [{"mode": "host"}])
    assert "versionInfo" not in first.definition


@pytest.mark.parametrize(
    ("name", "app_id", "instances"),
    [
        ("examples/v2-docs-master/app.json", "/foo", 2),
        ("examples/v2-docs-v0.15.7/app.json", "/foo", 2),
        ("examples/articles-master/requests/app-simple.json", "/simple", 2),
        ("examples/app-definitions-v0.15.7/labels.json", "labels", 1),
        ("examples/v2-docs-master/app-check-http-example.json", "http-index-test", 1),
    ],
)
def test_app_definitions(reference_dir: Path, name: str, app_id: str, instances: int) -> None:
    body = read(reference_dir, name)
    app = PARSERS["definition"](body)
    assert (app.app_id, app.instances) == (app_id, instances)
    assert_definition_only(app, body)


def test_documented_app_keeps_secrets_references_and_labels(reference_dir: Path) -> None:
    app = PARSERS["definition"](read(reference_dir, "examples/v2-docs-master/app.json"))
    assert dict(app.labels) == {"owner": "zeus", "note": "Away from olympus"}
    assert app.definition["env"]["PASSWORD"] == {"secret": "/db/password"}
    assert app.definition["portDefinitions"][0]["name"] == "http"


def test_relative_ids_of_a_group_body_are_kept_as_sent(reference_dir: Path) -> None:
    group = PARSERS["group"](read(reference_dir, "examples/app-definitions-v0.15.7/Group.json"))
    assert [a.id for a in group.all_apps()] == ["service-common", "service-a", "service-b"]
