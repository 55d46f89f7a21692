"""Every validation rule of the spec layer: each case asserts file, line, field path and message."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import SpecProblem
from tests.unit.spec.spec_tree import HEADER, SVC_CHART, problems_of, render, write_tree


def env(body: str, name: str = "integration") -> str:
    return HEADER + f"name: {name}\n" + body


CASES: list[tuple[str, dict[str, str], tuple[str, int | None, str, str, str | None]]] = [
    (
        "bad-yaml",
        {"specs/a.yaml": env("apps:\n  web: {image: [x\n")},
        ("specs/a.yaml", 6, "", "invalid YAML", "indentation"),
    ),
    (
        "alias-bomb",
        {
            "specs/a.yaml": "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
            + "".join(f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdef", "bcdefg", strict=True))
        },
        ("specs/a.yaml", 1, "", "expands to more than 100000 nodes", "aliases"),
    ),
    (
        "unknown-key-suggests-closest",
        {"specs/a.yaml": env("apps:\n  web:\n    imgae: nginx\n")},
        ("specs/a.yaml", 6, "apps.web.imgae", "unknown key 'imgae'", "did you mean 'image'?"),
    ),
    (
        "unknown-key-deep",
        {
            "specs/a.yaml": env(
                "apps:\n  web:\n    image: x\n    healthChecks:\n      - protocol: HTTP\n        pth: /\n"
            )
        },
        ("specs/a.yaml", 9, "apps.web.healthChecks[0].pth", "unknown key 'pth'", "did you mean 'path'?"),
    ),
    (
        "unknown-top-level-key",
        {"specs/a.yaml": env("aps: {}\n")},
        ("specs/a.yaml", 4, "aps", "unknown key 'aps'", "did you mean 'apps'?"),
    ),
    (
        "wrong-type",
        {"specs/a.yaml": env("apps:\n  web:\n    image: x\n    instances: many\n")},
        ("specs/a.yaml", 7, "apps.web.instances", "whole number, not text", "without quotes"),
    ),
    (
        "wrong-type-mapping",
        {"specs/a.yaml": env("apps:\n  web:\n    image: x\n    env: [A, B]\n")},
        ("specs/a.yaml", 7, "apps.web.env", "valid dictionary", "mapping"),
    ),
    (
        "invalid-environment-name",
        {"specs/a.yaml": env("apps: {}\n", name="Integration_1")},
        ("specs/a.yaml", 3, "name", "not a valid Marathon id segment", "rename"),
    ),
    (
        "invalid-app-name",
        {"specs/a.yaml": env("apps:\n  -web: {image: x}\n")},
        ("specs/a.yaml", 5, "apps.-web", "not a valid Marathon id segment", "rename"),
    ),
    (
        "reserved-word",
        {"specs/a.yaml": env("apps:\n  versions: {image: x}\n")},
        ("specs/a.yaml", 5, "apps.versions", "reserved word", "rename"),
    ),
    (
        "invalid-group",
        {"specs/a.yaml": env("group: /Team/int\napps: {}\n")},
        ("specs/a.yaml", 4, "group", "not a valid Marathon id segment", "absolute group"),
    ),
    (
        "negative-cpus",
        {"specs/a.yaml": env("apps:\n  web:\n    image: x\n    cpus: -0.5\n")},
        ("specs/a.yaml", 7, "apps.web.cpus", "greater than or equal to 0", "not negative"),
    ),
    (
        "absurd-cpus",
        {"specs/a.yaml": env("apps:\n  web:\n    image: x\n    cpus: 2048\n")},
        ("specs/a.yaml", 7, "apps.web.cpus", "less than or equal to 1024", "check the unit"),
    ),
    (
        "absurd-mem",
        {"specs/a.yaml": env("apps:\n  web:\n    image: x\n    mem: 2000000\n")},
        ("specs/a.yaml", 7, "apps.web.mem", "less than or equal to 1048576", "MiB"),
    ),
    (
        "absurd-instances",
        {"specs/a.yaml": env("apps:\n  web:\n    image: x\n    instances: 20000\n")},
        ("specs/a.yaml", 7, "apps.web.instances", "less than or equal to 10000", None),
    ),
    (
        "duplicate-app",
        {"specs/a.yaml": env("apps:\n  web: {image: x}\n  web: {image: y}\n")},
        ("specs/a.yaml", 6, "apps.web", "duplicate key 'web'", "each key may appear once"),
    ),
    (
        "duplicate-environment",
        {"specs/a.yaml": env("apps: {}\n"), "specs/b.yaml": env("apps: {}\n")},
        ("specs/b.yaml", 3, "name", "environment 'integration' is declared twice", "specs/a.yaml:3"),
    ),
    (
        "dependency-cycle",
        {
            "specs/a.yaml": env(
                "apps:\n  a: {image: a, dependencies: [b]}\n  b: {image: b, dependencies: [c]}\n"
                "  c: {image: c, dependencies: [a]}\n"
            )
        },
        (
            "specs/a.yaml",
            5,
            "apps.a.dependencies",
            "dependency cycle in environment 'integration': a -> b -> c -> a",
            "remove",
        ),
    ),
    (
        "self-dependency",
        {"specs/a.yaml": env("apps:\n  a: {image: a, dependencies: [a]}\n")},
        ("specs/a.yaml", 5, "apps.a.dependencies", "a -> a", None),
    ),
    (
        "unknown-dependency",
        {"specs/a.yaml": env("apps:\n  api: {image: a}\n  web:\n    image: w\n    dependencies: [apj]\n")},
        ("specs/a.yaml", 8, "apps.web.dependencies[0]", "dependency on unknown app 'apj'", "did you mean 'api'?"),
    ),
    (
        "functional-base-missing",
        {
            "specs/a.yaml": env("apps: {}\n"),
            "specs/f.yaml": "apiVersion: reconciler/v1\nkind: FunctionalSet\nbase: integraton\nsets: {func-1: {}}\n",
        },
        ("specs/f.yaml", 3, "base", "base environment 'integraton' does not exist", "did you mean 'integration'?"),
    ),
    (
        "functional-base-far-from-any-name",
        {
            "specs/a.yaml": env("apps: {}\n"),
            "specs/f.yaml": "apiVersion: reconciler/v1\nkind: FunctionalSet\nbase: nowhere\nsets: {func-1: {}}\n",
        },
        ("specs/f.yaml", 3, "base", "base environment 'nowhere' does not exist", "complete environments: integration"),
    ),
    (
        "functional-base-is-functional",
        {
            "specs/a.yaml": env("apps: {}\n"),
            "specs/f.yaml": "apiVersion: reconciler/v1\nkind: FunctionalSet\nbase: integration\nsets: {func-1: {}}\n",
            "specs/g.yaml": "apiVersion: reconciler/v1\nkind: FunctionalSet\nbase: func-1\nsets: {func-2: {}}\n",
        },
        ("specs/g.yaml", 3, "base", "base environment 'func-1' is itself a functional environment", "complete"),
    ),
    (
        "environment-base-missing",
        {"specs/a.yaml": env("base: nowhere\napps: {}\n", name="func-1")},
        ("specs/a.yaml", 4, "base", "base environment 'nowhere' does not exist", None),
    ),
    (
        "undefined-template-value",
        {
            **SVC_CHART,
            "charts/svc/templates/app.yaml": "cpus: 0.1\n# a comment line\n"
            'image: "{{ values.image }}:{{ values.version }}"\n',
            "specs/a.yaml": env("apps:\n  web: {chart: svc}\n"),
        },
        ("charts/svc/templates/app.yaml", 3, "integration/web", "undefined template value", "set `version` in"),
    ),
    (
        "template-syntax-error",
        {
            **SVC_CHART,
            "charts/svc/templates/app.yaml": "cpus: 0.1\nimage: {{ values.image \n",
            "specs/a.yaml": env("apps:\n  web: {chart: svc}\n"),
        },
        ("charts/svc/templates/app.yaml", 2, "integration/web", "template syntax error", None),
    ),
    (
        "rendered-template-invalid-field",
        {
            **SVC_CHART,
            "charts/svc/templates/app.yaml": "image: x\ncpus: 0.1\nmemory: 128\n",
            "specs/a.yaml": env("apps:\n  web: {chart: svc}\n"),
        },
        ("charts/svc/templates/app.yaml", 3, "memory", "unknown key 'memory'", "did you mean 'mem'?"),
    ),
    (
        "unknown-chart",
        {**SVC_CHART, "specs/a.yaml": env("apps:\n  web: {chart: svx}\n")},
        ("specs/a.yaml", 5, "apps.web.chart", "unknown chart 'svx'", "did you mean 'svc'?"),
    ),
    (
        "chart-name-differs-from-folder",
        {
            **SVC_CHART,
            "charts/svc/Chart.yaml": "name: other\nversion: 1.0.0\n",
            "specs/a.yaml": env("apps:\n  web: {chart: svc}\n"),
        },
        ("charts/svc/Chart.yaml", 1, "name", "differs from its folder", None),
    ),
    (
        "unknown-kind",
        {"specs/a.yaml": "apiVersion: reconciler/v1\nkind: Enviroment\nname: x\n"},
        ("specs/a.yaml", 2, "kind", "unknown kind 'Enviroment'", "did you mean 'Environment'?"),
    ),
    (
        "wrong-api-version",
        {"specs/a.yaml": "apiVersion: reconciler/v2\nkind: Environment\nname: x\n"},
        ("specs/a.yaml", 1, "apiVersion", "reconciler/v1", None),
    ),
    (
        "missing-api-version",
        {"specs/a.yaml": "kind: Environment\nname: x\n"},
        ("specs/a.yaml", 1, "apiVersion", "Field required", "add the field"),
    ),
    (
        "document-not-a-mapping",
        {"specs/a.yaml": "- just\n- a list\n"},
        ("specs/a.yaml", 1, "", "must be a mapping", "apiVersion"),
    ),
    (
        "runs-nothing",
        {"specs/a.yaml": env("apps:\n  web: {cpus: 1}\n")},
        ("specs/a.yaml", 5, "apps.web", "the app runs nothing", "add `image: <docker image>`, or `cmd:"),
    ),
    (
        "cmd-and-args",
        {"specs/a.yaml": env("apps:\n  web: {cmd: run, args: [run]}\n")},
        ("specs/a.yaml", 5, "apps.web.args", "either `cmd` or `args`", "keep `cmd` (one shell line"),
    ),
    (
        "command-check-without-command",
        {"specs/a.yaml": env("apps:\n  web:\n    cmd: run\n    healthChecks: [{protocol: COMMAND}]\n")},
        ("specs/a.yaml", 7, "apps.web.healthChecks[0].command", "needs `command`", "add `command: <shell command>`"),
    ),
    (
        "bad-health-protocol",
        {"specs/a.yaml": env("apps:\n  web:\n    cmd: run\n    healthChecks: [{protocol: MARATHON_HTTP}]\n")},
        ("specs/a.yaml", 7, "apps.web.healthChecks[0].protocol", "'MESOS_HTTP'", "one of the values"),
    ),
    (
        "reserved-label",
        {"specs/a.yaml": env("apps:\n  web:\n    cmd: run\n    labels: {reconciler.app: x}\n")},
        ("specs/a.yaml", 7, "apps.web.labels.reconciler.app", "are the reconciler's own", "without the `reconciler.`"),
    ),
    (
        "container-port-without-image",
        {"specs/a.yaml": env("apps:\n  web:\n    cmd: run\n    ports: [{containerPort: 80}]\n")},
        ("specs/a.yaml", 7, "apps.web.ports[0].containerPort", "`containerPort` needs a bridged Docker app", None),
    ),
    (
        "bad-duration",
        {"specs/a.yaml": env("apps:\n  web:\n    cmd: run\n    heal: {criticalFor: 30 seconds}\n")},
        ("specs/a.yaml", 7, "apps.web.heal.criticalFor", "'30 seconds' is not a duration", None),
    ),
    (
        "bad-max-unavailable",
        {"specs/a.yaml": env("apps:\n  web:\n    cmd: run\n    heal: {maxUnavailable: 2.5}\n")},
        ("specs/a.yaml", 7, "apps.web.heal.maxUnavailable", "a number of instances (1) or a percentage", None),
    ),
    (
        "autoscale-min-above-max",
        {"specs/a.yaml": env("apps:\n  web:\n    cmd: run\n    autoscale: {min: 5, max: 2, metrics: [{cpu: 70%}]}\n")},
        ("specs/a.yaml", 7, "apps.web.autoscale", "min (5) is greater than max (2)", "make `min` at most `max`"),
    ),
    (
        "autoscale-metric-both",
        {
            "specs/a.yaml": env(
                "apps:\n  web:\n    cmd: run\n    autoscale: {min: 1, max: 2, metrics: [{cpu: 70%, mem: 50%}]}\n"
            )
        },
        (
            "specs/a.yaml",
            7,
            "apps.web.autoscale.metrics[0]",
            "exactly one of `cpu`, `mem`, `taskMetric` or `prometheus`",
            None,
        ),
    ),
    (
        "autoscale-task-metric-not-supported",
        {
            "specs/a.yaml": env(
                "apps:\n  web:\n    cmd: run\n    autoscale:\n      min: 1\n      max: 2\n      metrics:\n"
                "        - taskMetric: {name: queue_length, source: mesos, target: {averageValue: 30}}\n"
            )
        },
        (
            "specs/a.yaml",
            11,
            "apps.web.autoscale.metrics[0].taskMetric.source",
            "taskMetric (source 'mesos') is not supported yet",
            "use `prometheus: {query: ..., target: {averageValue: N}}`",
        ),
    ),
    (
        "autoscale-unknown-key",
        {
            "specs/a.yaml": env(
                "apps:\n  web:\n    cmd: run\n    autoscale: {min: 1, max: 2, metrics: [{cpu: 70%}], tolerence: 5%}\n"
            )
        },
        ("specs/a.yaml", 7, "apps.web.autoscale.tolerence", "unknown key 'tolerence'", "did you mean 'tolerance'?"),
    ),
    (
        "instances-outside-autoscale",
        {
            "specs/a.yaml": env(
                "apps:\n  web:\n    cmd: run\n    instances: 9\n"
                "    autoscale: {min: 1, max: 2, metrics: [{mem: 80%}]}\n"
            )
        },
        ("specs/a.yaml", 7, "apps.web.instances", "is outside autoscale min..max (1..2)", "between 1 and 2"),
    ),
    (
        "health-capacity-above-one",
        {"specs/a.yaml": env("apps:\n  web:\n    cmd: run\n    upgradeStrategy: {minimumHealthCapacity: 150%}\n")},
        (
            "specs/a.yaml",
            7,
            "apps.web.upgradeStrategy.minimumHealthCapacity",
            "less than or equal to 1",
            "a fraction of the instance count between 0 and 1",
        ),
    ),
    (
        "backoff-factor-below-one",
        {"specs/a.yaml": env("apps:\n  web:\n    cmd: run\n    backoff: {factor: 0.5}\n")},
        ("specs/a.yaml", 7, "apps.web.backoff.factor", "greater than or equal to 1", "a factor >= 1"),
    ),
    (
        "metric-share-above-one",
        {"specs/a.yaml": env("apps:\n  web:\n    cmd: run\n    autoscale: {min: 1, max: 2, metrics: [{cpu: 170%}]}\n")},
        ("specs/a.yaml", 7, "apps.web.autoscale.metrics[0].cpu", "less than or equal to 1", "at most 100%"),
    ),
    (
        "port-number-too-large",
        {"specs/a.yaml": env("apps:\n  web:\n    image: x\n    ports: [{containerPort: 80800}]\n")},
        ("specs/a.yaml", 7, "apps.web.ports[0].containerPort", "less than or equal to 65535", "at most 65535"),
    ),
    (
        "constraint-shape",
        {"specs/a.yaml": env("apps:\n  web:\n    cmd: run\n    constraints: [hostname]\n")},
        (
            "specs/a.yaml",
            7,
            "apps.web.constraints[0]",
            "[field, OPERATOR] or [field, OPERATOR, value]",
            "hostname:UNIQUE",
        ),
    ),
    (
        "path-on-tcp-health-check",
        {"specs/a.yaml": env("apps:\n  web:\n    cmd: run\n    healthChecks:\n      - {protocol: TCP, path: /}\n")},
        ("specs/a.yaml", 8, "apps.web.healthChecks[0].path", "`path` applies only to HTTP", "remove `path`, or use"),
    ),
    (
        "volume-without-source",
        {"specs/a.yaml": env("apps:\n  web:\n    cmd: run\n    volumes: [{containerPath: /data}]\n")},
        ("specs/a.yaml", 7, "apps.web.volumes[0]", "exactly one of `hostPath` or `persistent`", "hostPath: /srv/data"),
    ),
    (
        "port-names-not-unique",
        {"specs/a.yaml": env("apps:\n  web:\n    image: x\n    ports:\n      - {name: http}\n      - {name: http}\n")},
        ("specs/a.yaml", 9, "apps.web.ports[1].name", "Port names must be unique.", "its own name"),
    ),
    (
        "health-check-port-index-beyond-ports",
        {
            "specs/a.yaml": env(
                "apps:\n  web:\n    image: x\n    ports: [{containerPort: 80}]\n"
                "    healthChecks: [{protocol: HTTP, portIndex: 3}]\n"
            )
        },
        (
            "specs/a.yaml",
            8,
            "apps.web.healthChecks[0].portIndex",
            "Health check port indices must address an element of the ports array",
            "use an index below 1",
        ),
    ),
    (
        "health-check-port-index-of-a-bridged-app-without-ports",
        {"specs/a.yaml": env("apps:\n  web:\n    image: x\n    healthChecks: [{protocol: MESOS_TCP, portIndex: 0}]\n")},
        ("specs/a.yaml", 7, "apps.web.healthChecks[0].portIndex", "the app has 0", "add the port to `ports`"),
    ),
    (
        "values-without-chart",
        {"specs/a.yaml": env("apps:\n  web:\n    cmd: run\n    values: {a: 1}\n")},
        ("specs/a.yaml", 7, "apps.web.values", "`values` without `chart`", "add `chart: <name>`"),
    ),
    (
        "chart-renders-two-apps-with-one-name",
        {
            **SVC_CHART,
            "charts/svc/templates/app.yaml": "- {image: a}\n- {image: b}\n",
            "specs/a.yaml": env("apps:\n  web: {chart: svc}\n"),
        },
        ("charts/svc/templates/app.yaml", 2, "[1]", "app 'web' is defined twice", "suffix"),
    ),
    (
        "functional-override-invalid",
        {
            "specs/a.yaml": env("apps:\n  web: {image: w}\n"),
            "specs/f.yaml": (
                "apiVersion: reconciler/v1\nkind: FunctionalSet\nbase: integration\n"
                "sets:\n  func-1:\n    apps:\n      web: {cpus: -1}\n"
            ),
        },
        ("specs/f.yaml", 7, "sets.func-1.apps.web.cpus", "greater than or equal to 0", None),
    ),
]


@pytest.mark.parametrize(
    ("files", "expected"), [(files, expected) for _, files, expected in CASES], ids=[c[0] for c in CASES]
)
def test_problem_names_file_line_field_and_message(
    tmp_path: Path, files: dict[str, str], expected: tuple[str, int | None, str, str, str | None]
) -> None:
    file, line, field, message, hint = expected
    problems = problems_of(tmp_path, files)
    matching = [p for p in problems if message in p.message]
    assert matching, f"no problem says {message!r}: {[p.render() for p in problems]}"
    problem = matching[0]
    assert problem.file.endswith(file), problem.render()
    assert problem.line == line, problem.render()
    assert problem.field == field, problem.render()
    if hint is not None:
        assert problem.hint is not None and hint in problem.hint, problem.render()


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    files = {
        "specs/a.yaml": env("apps:\n  web:\n    imgae: x\n    cpus: -1\n  tasks: {image: x}\n"),
        "specs/b.yaml": "apiVersion: reconciler/v1\nkind: FunctionalSet\nbase: nowhere\nsets: {f: {}}\n",
        "specs/c.yaml": "a: [1\n",
    }
    problems = problems_of(tmp_path, files)
    rendered = "\n".join(p.render() for p in problems)
    for fragment in (
        "unknown key 'imgae'",
        "apps.web.cpus",
        "reserved word",
        "'nowhere' does not exist",
        "invalid YAML",
    ):
        assert fragment in rendered
    assert [p.file for p in problems] == sorted(p.file for p in problems)


def test_problem_renders_as_one_greppable_line() -> None:
    problem = SpecProblem("specs/a.yaml", 7, "apps.web.imgae", "unknown key 'imgae'", "did you mean 'image'?")
    assert problem.render() == "specs/a.yaml:7: apps.web.imgae: unknown key 'imgae' (hint: did you mean 'image'?)"


def test_missing_spec_folder_is_a_problem(tmp_path: Path) -> None:
    from reconciler.errors import SpecError
    from reconciler.spec import load_specs

    with pytest.raises(SpecError, match="no such file or folder"):
        load_specs(tmp_path / "absent")


def test_chart_app_with_instances_outside_autoscale_is_reported_at_the_spec_and_kept(tmp_path: Path) -> None:
    files = {
        **SVC_CHART,
        "specs/a.yaml": env(
            "apps:\n"
            "  user-api:\n"
            "    chart: svc\n"
            "    instances: 5\n"
            "    autoscale: {min: 2, max: 4, metrics: [{cpu: 70%}]}\n"
            "  web: {image: w, dependencies: [user-api]}\n"
        ),
    }
    problems = problems_of(tmp_path, files)
    assert [p.render() for p in problems] == [
        f"{tmp_path}/specs/a.yaml:7: apps.user-api.instances: instances (5) is outside autoscale min..max (2..4)"
        " (hint: set `instances` between 2 and 4, or leave it out (the app then starts with 2))"
    ]


@pytest.mark.parametrize(
    "fields",
    [
        "    image: x\n    ports: [{name: a, containerPort: 80}, {name: b, containerPort: 81}]\n"
        "    healthChecks: [{portIndex: 1}]\n",
        "    cmd: run\n    healthChecks: [{protocol: TCP, portIndex: 0}]\n",  # Marathon's one default port
        "    image: x\n    network: host\n    ports: [{hostPort: 0}, {hostPort: 0}]\n"
        "    healthChecks: [{portIndex: 1}]\n",
    ],
)
def test_health_check_port_index_within_the_ports_is_valid(tmp_path: Path, fields: str) -> None:
    render(tmp_path, {"specs/a.yaml": env("apps:\n  web:\n" + fields)})


def test_two_environments_claiming_one_app_id_are_reported_at_both_apps(tmp_path: Path) -> None:
    files = {
        "specs/a.yaml": env("apps:\n  redis: {image: redis}\n  web: {image: web}\n"),
        "specs/b.yaml": env("group: /integration\napps:\n  redis: {image: redis:7}\n", name="other"),
    }
    problems = problems_of(tmp_path, files)
    assert [(p.file.removeprefix(f"{tmp_path}/"), p.line, p.field) for p in problems] == [
        ("specs/a.yaml", 5, "apps.redis"),
        ("specs/b.yaml", 6, "apps.redis"),
    ]
    assert "app id '/integration/redis' is also the id of app 'redis' of environment 'other'" in problems[0].message
    assert f"{tmp_path}/specs/b.yaml:6" in problems[0].message
    assert f"{tmp_path}/specs/a.yaml:5" in problems[1].message
    assert all(p.hint and "`group` of its own" in p.hint for p in problems)


def test_an_environment_group_that_is_another_environments_app_is_reported_at_both(tmp_path: Path) -> None:
    files = {
        "specs/a.yaml": env("apps:\n  redis: {image: redis}\n"),
        "specs/b.yaml": env("group: /integration/redis\napps:\n  cache: {image: redis:7}\n", name="other"),
    }
    problems = problems_of(tmp_path, files)
    assert [(p.file.removeprefix(f"{tmp_path}/"), p.line, p.field) for p in problems] == [
        ("specs/a.yaml", 5, "apps.redis"),
        ("specs/b.yaml", 4, "group"),
    ]
    assert all("Groups and Applications may not have the same identifier." in p.message for p in problems)
    assert all(p.hint and "another `group`" in p.hint for p in problems)
    assert (
        "group '/integration/redis' is also the id of app 'redis' of environment 'integration'" in problems[1].message
    )


def test_a_group_below_another_environments_app_clashes_too(tmp_path: Path) -> None:
    files = {
        "specs/a.yaml": env("apps:\n  redis: {image: redis}\n"),
        "specs/b.yaml": env("group: /integration/redis/more\napps:\n  cache: {image: redis:7}\n", name="other"),
    }
    problems = problems_of(tmp_path, files)
    assert "group '/integration/redis/more' lies under '/integration/redis'" in problems[1].message


def test_an_id_clash_with_another_environment_fails_rendering_one_environment(tmp_path: Path) -> None:
    from reconciler.errors import SpecError
    from reconciler.spec import load_desired

    files = {
        "specs/a.yaml": env("apps:\n  redis: {image: redis}\n"),
        "specs/b.yaml": env("group: /integration\napps:\n  redis: {image: redis:7}\n", name="other"),
    }
    with pytest.raises(SpecError, match="app id '/integration/redis'"):
        load_desired(write_tree(tmp_path, files), env="other")


def test_environments_may_share_a_group_with_distinct_apps(tmp_path: Path) -> None:
    files = {
        "specs/a.yaml": env("apps:\n  redis: {image: redis}\n"),
        "specs/b.yaml": env("group: /integration\napps:\n  cache: {image: redis:7}\n", name="other"),
    }
    assert set(render(tmp_path, files).apps) == {"/integration/redis", "/integration/cache"}


FUNCTIONAL_SET = "apiVersion: reconciler/v1\nkind: FunctionalSet\nbase: integration\nsets: {func-1: {}}\n"


def test_a_functional_set_over_an_invalid_base_says_the_base_is_invalid(tmp_path: Path) -> None:
    files = {
        "specs/a.yaml": "apiVersion: reconciler/v2\nkind: Environment\nname: integration\napps: {}\n",
        "specs/f.yaml": FUNCTIONAL_SET,
    }
    problems = problems_of(tmp_path, files)
    assert not [p for p in problems if "does not exist" in p.message]
    [follow_on] = [p for p in problems if p.file.endswith("f.yaml")]
    assert follow_on.field == "base"
    assert (
        follow_on.message
        == f"base environment 'integration' is invalid (see its problems at {tmp_path}/specs/a.yaml:3)"
    )
    assert follow_on.hint and "fix the base environment's problems" in follow_on.hint


def test_a_base_with_an_invalid_app_is_never_said_not_to_exist(tmp_path: Path) -> None:
    files = {"specs/a.yaml": env("apps:\n  web: {image: w, cpus: many}\n"), "specs/f.yaml": FUNCTIONAL_SET}
    problems = problems_of(tmp_path, files)
    assert not [p for p in problems if "does not exist" in p.message]


SET_OVER_INTEGRATION = "apiVersion: reconciler/v1\nkind: FunctionalSet\nbase: integration\nsets:\n  func-1:\n"
ALL_AT_ONCE: list[tuple[str, dict[str, str], list[tuple[str, int, str, str]]]] = [
    (
        "environment-declared-twice",
        {
            "specs/a.yaml": env("apps:\n  web: {cmd: run, args: [run]}\n"),
            "specs/b.yaml": env("apps:\n  api: {image: a, dependencies: [ghost]}\n"),
        },
        [
            ("specs/a.yaml", 5, "apps.web.args", "either `cmd` or `args`"),
            ("specs/b.yaml", 3, "name", "environment 'integration' is declared twice"),
            ("specs/b.yaml", 5, "apps.api.dependencies[0]", "dependency on unknown app 'ghost'"),
        ],
    ),
    (
        "type-error-in-one-app-rule-in-another",
        {"specs/a.yaml": env("apps:\n  a: {image: x, cpus: many}\n  b: {cmd: run, args: [run], dependencies: [a]}\n")},
        [
            ("specs/a.yaml", 5, "apps.a.cpus", "valid number"),
            ("specs/a.yaml", 6, "apps.b.args", "either `cmd` or `args`"),
        ],
    ),
    (
        "type-error-and-rule-in-one-app",
        {"specs/a.yaml": env("apps:\n  a: {cmd: run, args: [run], mem: lots, instances: 3, imgae: x}\n")},
        [
            ("specs/a.yaml", 5, "apps.a.args", "either `cmd` or `args`"),
            ("specs/a.yaml", 5, "apps.a.imgae", "unknown key 'imgae'"),
            ("specs/a.yaml", 5, "apps.a.mem", "valid number"),
        ],
    ),
    (
        "invalid-base-app-and-set-over-it",
        {
            "specs/a.yaml": env("apps:\n  web: {image: w, cpus: many}\n"),
            "specs/f.yaml": SET_OVER_INTEGRATION + "    apps:\n      web: {cmd: run, args: [run]}\n",
        },
        [
            ("specs/a.yaml", 5, "apps.web.cpus", "valid number"),
            ("specs/f.yaml", 7, "sets.func-1.apps.web.args", "either `cmd` or `args`"),
        ],
    ),
    (
        "invalid-environment-field-keeps-its-apps",
        {
            **SVC_CHART,
            "specs/a.yaml": env(
                "values: [1]\napprovl: none\napps:\n  api: {chart: svc}\n  web: {cmd: run, args: [run]}\n"
            ),
            "specs/f.yaml": SET_OVER_INTEGRATION + "    apps:\n      api: {instances: 2, dependencies: [web, ghost]}\n",
        },
        [
            ("specs/a.yaml", 4, "values", "valid dictionary"),
            ("specs/a.yaml", 5, "approvl", "unknown key 'approvl'"),
            ("specs/a.yaml", 8, "apps.web.args", "either `cmd` or `args`"),
            ("specs/f.yaml", 7, "sets.func-1.apps.api.dependencies[1]", "dependency on unknown app 'ghost'"),
        ],
    ),
    (
        "template-error-then-dependency-on-its-app",
        {
            **SVC_CHART,
            "charts/svc/templates/app.yaml": 'image: "{{ values.imagee }}"\n',
            "specs/a.yaml": env("apps:\n  api: {chart: svc}\n  web: {image: w, dependencies: [api], cpus: -1}\n"),
        },
        [
            ("charts/svc/templates/app.yaml", 1, "integration/api", "undefined template value"),
            ("specs/a.yaml", 6, "apps.web.cpus", "greater than or equal to 0"),
        ],
    ),
    (
        "rendered-field-with-a-problem",
        {
            **SVC_CHART,
            "charts/svc/templates/app.yaml": "image: svc\ncmd: run\nargs: [run]\nmem: lots\n",
            "specs/a.yaml": env("apps:\n  api: {chart: svc}\n  web: {image: w, dependencies: [api]}\n"),
        },
        [
            ("charts/svc/templates/app.yaml", 3, "args", "either `cmd` or `args`"),
            ("charts/svc/templates/app.yaml", 4, "mem", "valid number"),
        ],
    ),
]


@pytest.mark.parametrize(
    ("files", "expected"), [(files, expected) for _, files, expected in ALL_AT_ONCE], ids=[c[0] for c in ALL_AT_ONCE]
)
def test_one_run_reports_every_independent_problem_and_no_follow_on(
    tmp_path: Path, files: dict[str, str], expected: list[tuple[str, int, str, str]]
) -> None:
    problems = problems_of(tmp_path, files)
    found = [(p.file.removeprefix(f"{tmp_path}/"), p.line, p.field, p.message) for p in problems]
    assert len(found) == len(expected), "\n".join(p.render() for p in problems)
    for (file, line, field, message), want in zip(found, expected, strict=True):
        assert (file, line, field) == want[:3] and want[3] in message, "\n".join(p.render() for p in problems)


def test_an_app_value_its_chart_does_not_know_is_a_typo(tmp_path: Path) -> None:
    files = {
        **SVC_CHART,
        "specs/a.yaml": env("apps:\n  web:\n    chart: svc\n    values:\n      tga: '1.4.2'\n"),
        "specs/f.yaml": SET_OVER_INTEGRATION + "    apps:\n      web: {values: {imag: x}}\n",
    }
    problems = problems_of(tmp_path, files)
    assert [p.render().removeprefix(f"{tmp_path}/") for p in problems] == [
        "specs/a.yaml:8: apps.web.values.tga: chart 'svc' has no value 'tga': "
        f"{tmp_path}/charts/svc/values.yaml does not declare it and no template reads it (hint: did you mean 'tag'?)",
        "specs/f.yaml:7: sets.func-1.apps.web.values.imag: chart 'svc' has no value 'imag': "
        f"{tmp_path}/charts/svc/values.yaml does not declare it and no template reads it (hint: did you mean 'image'?)",
    ]


@pytest.mark.parametrize(
    "template",
    [
        '{% if values.extra is defined %}labels: {x: "{{ values.extra }}"}\n{% endif %}',  # read, not declared
        "{% if values['extra'] %}labels: {x: y}\n{% endif %}",
        "{% if values.get('extra') %}labels: {x: y}\n{% endif %}",
        "labels: {{ values | json }}\n",  # the whole mapping: any key may be read
        "{% for key, value in values.items() %}# {{ key }}\n{% endfor %}",
    ],
)
def test_app_values_a_template_reads_and_environment_values_are_no_typos(tmp_path: Path, template: str) -> None:
    files = {
        **SVC_CHART,
        "charts/svc/templates/app.yaml": SVC_CHART["charts/svc/templates/app.yaml"] + template,
        "specs/a.yaml": env("values: {team: shop}\napps:\n  web: {chart: svc, values: {extra: '1'}}\n"),
    }
    assert set(render(tmp_path, files).apps) == {"/integration/web"}
