"""Rendering specs into Desired: merge order, overlays, functional sets, labels, DNS, policies."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.core.autoscale_policy import MetricKind, MetricTarget, PolicyType, ScalingPolicy
from reconciler.core.naming import APP_LABEL, ENV_LABEL, HASH_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, REVISION_LABEL
from reconciler.spec import load_specs, render_desired
from tests.unit.spec.spec_tree import HEADER, SVC_CHART, render, write_tree

LAYERED_CHART = {
    "charts/layers/Chart.yaml": "name: layers\nversion: 0.1.0\n",
    "charts/layers/values.yaml": "a: chart\nb: chart\nc: chart\nnested: {x: chart, y: chart}\n",
    "charts/layers/templates/app.yaml": (
        "cmd: run\n"
        "labels:\n"
        "  a: {{ values.a }}\n  b: {{ values.b }}\n  c: {{ values.c }}\n"
        "  x: {{ values.nested.x }}\n  y: {{ values.nested.y }}\n"
        "  app: {{ app }}\n  env: {{ env }}\n  group: {{ environment.group }}\n"
    ),
}

FUNCTIONAL = {
    **SVC_CHART,
    "specs/integration.yaml": HEADER
    + """name: integration
values: {tag: '1.0'}
dns: {domain: consul, servers: [10.0.0.2, 10.0.0.3]}
apps:
  redis: {image: "redis:7", cpus: 0.1, mem: 128}
  mysql: {image: "mysql:8", cpus: 0.5, mem: 512}
  api:
    chart: svc
    instances: 3
    values: {image: api}
    dependencies: [redis, mysql]
    labels: {team: a}
  worker: {cmd: "work --hard", cpus: 0.1, mem: 64}
""",
    "specs/functional.yaml": """apiVersion: reconciler/v1
kind: FunctionalSet
base: integration
sets:
  func-1:
    values: {tag: '2.0'}
    apps:
      api:
        instances: 1
        values: {tag: feature-login}
        labels: {owner: b}
      redis: {}
      probe: {cmd: probe, cpus: 0.1, mem: 32}
  func-2:
    approval: required
    dns: {domain: example}
    apps:
      api: {}
""",
}


def test_values_merge_chart_defaults_then_environment_then_app(tmp_path: Path) -> None:
    desired = render(
        tmp_path,
        {
            **LAYERED_CHART,
            "specs/a.yaml": HEADER
            + "name: integration\nvalues: {b: env, c: env, nested: {y: env}}\n"
            + "apps:\n  web: {chart: layers, values: {c: app}}\n",
        },
    )
    labels = desired.apps["/integration/web"].definition["labels"]
    assert (labels["a"], labels["b"], labels["c"]) == ("chart", "env", "app")
    assert (labels["x"], labels["y"]) == ("chart", "env")  # deep merge keeps the chart's nested x
    assert (labels["app"], labels["env"], labels["group"]) == ("web", "integration", "/integration")


def test_inline_fields_override_what_the_chart_renders(tmp_path: Path) -> None:
    desired = render(
        tmp_path,
        {
            **SVC_CHART,
            "specs/a.yaml": HEADER + "name: integration\napps:\n  web: {chart: svc, cpus: 0.5, instances: 4}\n",
        },
    )
    definition = desired.apps["/integration/web"].definition
    assert (definition["cpus"], definition["mem"], definition["instances"]) == (0.5, 128, 4)
    assert definition["container"]["docker"]["image"] == "svc:1.0"


def test_definition_carries_id_instances_and_ownership_labels_but_no_hash(tmp_path: Path) -> None:
    desired = render(tmp_path, FUNCTIONAL)
    app = desired.apps["/integration/api"]
    assert (app.app_id, app.env, app.name, app.instances) == ("/integration/api", "integration", "api", 3)
    definition = app.definition
    assert (definition["id"], definition["instances"]) == ("/integration/api", 3)
    assert definition["labels"] == {
        "team": "a",
        MANAGED_BY_LABEL: MANAGED_BY_VALUE,
        ENV_LABEL: "integration",
        APP_LABEL: "api",
    }
    assert HASH_LABEL not in definition["labels"] and REVISION_LABEL not in definition["labels"]


def test_dependencies_are_absolute_ids_in_the_app_and_its_body(tmp_path: Path) -> None:
    app = render(tmp_path, FUNCTIONAL).apps["/integration/api"]
    assert app.dependencies == ("/integration/redis", "/integration/mysql")
    assert app.definition["dependencies"] == ["/integration/redis", "/integration/mysql"]


def test_functional_set_runs_only_its_apps_each_merged_over_the_base(tmp_path: Path) -> None:
    desired = render(tmp_path, FUNCTIONAL)
    func1 = desired.environments["func-1"]
    assert (func1.base, func1.group, func1.apps) == ("integration", "/func-1", ("api", "redis", "probe"))
    assert sorted(a for a in desired.apps if a.startswith("/func-1/")) == [
        "/func-1/api",
        "/func-1/probe",
        "/func-1/redis",
    ]
    api = desired.apps["/func-1/api"]
    assert api.definition["container"]["docker"]["image"] == "api:feature-login"  # app values beat the set's
    assert api.instances == 1
    assert api.definition["labels"]["team"] == "a" and api.definition["labels"]["owner"] == "b"
    assert api.definition["labels"][ENV_LABEL] == "func-1"
    # redis runs in func-1 itself; mysql is integration's, reached through DNS: no Marathon dependency
    assert api.dependencies == ("/func-1/redis",)
    assert desired.apps["/func-1/redis"].definition["container"]["docker"]["image"] == "redis:7"


def test_functional_environment_values_override_the_base(tmp_path: Path) -> None:
    desired = render(tmp_path, FUNCTIONAL)
    assert desired.apps["/integration/api"].definition["container"]["docker"]["image"] == "api:1.0"
    assert desired.apps["/func-2/api"].definition["container"]["docker"]["image"] == "api:1.0"
    assert desired.apps["/func-2/api"].instances == 3


def test_approval_and_environment_listing(tmp_path: Path) -> None:
    desired = render(tmp_path, FUNCTIONAL)
    assert list(desired.environments) == ["integration", "func-1", "func-2"]
    assert desired.environments["func-2"].approval_required
    assert not desired.environments["integration"].approval_required
    assert desired.environments["integration"].base is None
    assert desired.environments["integration"].apps == ("redis", "mysql", "api", "worker")


def test_dns_parameters_for_docker_apps_of_the_environment(tmp_path: Path) -> None:
    desired = render(tmp_path, FUNCTIONAL)
    parameters = desired.apps["/func-1/api"].definition["container"]["docker"]["parameters"]
    assert parameters == [
        {"key": "dns-search", "value": "func-1.query.consul"},
        {"key": "dns", "value": "10.0.0.2"},
        {"key": "dns", "value": "10.0.0.3"},
    ]
    own = desired.apps["/func-2/api"].definition["container"]["docker"]["parameters"]
    assert own == [{"key": "dns-search", "value": "func-2.query.example"}]
    assert "container" not in desired.apps["/integration/worker"].definition  # a command has no Docker DNS


def test_no_dns_parameters_without_dns(tmp_path: Path) -> None:
    desired = render(tmp_path, {"specs/a.yaml": HEADER + "name: e\napps:\n  web: {image: nginx}\n"})
    assert "parameters" not in desired.apps["/e/web"].definition["container"]["docker"]


def test_environment_with_base_is_a_functional_environment(tmp_path: Path) -> None:
    desired = render(
        tmp_path,
        {
            "specs/a.yaml": HEADER
            + "name: integration\napps:\n  web: {image: 'nginx:1', instances: 2}\n  db: {image: db}\n",
            "specs/b.yaml": HEADER + "name: feature\nbase: integration\napps:\n  web: {image: 'nginx:2'}\n",
        },
    )
    assert desired.environments["feature"].base == "integration"
    web = desired.apps["/feature/web"]
    assert (web.definition["container"]["docker"]["image"], web.instances) == ("nginx:2", 2)
    assert "/feature/db" not in desired.apps


def test_custom_group(tmp_path: Path) -> None:
    desired = render(tmp_path, {"specs/a.yaml": HEADER + "name: qa\ngroup: /teams/shop/qa\napps:\n  web: {cmd: run}\n"})
    assert list(desired.apps) == ["/teams/shop/qa/web"]
    assert desired.environments["qa"].group == "/teams/shop/qa"


def test_chart_rendering_several_apps_names_them_by_suffix(tmp_path: Path) -> None:
    desired = render(
        tmp_path,
        {
            "charts/pair/Chart.yaml": "name: pair\nversion: 1.0.0\n",
            "charts/pair/templates/apps.yaml": (
                "suffix: primary\ncmd: run primary\n---\nsuffix: replica\ncmd: run replica\n"
            ),
            "charts/pair/templates/extra.yaml": "- {suffix: metrics, cmd: export}\n",
            "specs/a.yaml": HEADER + "name: e\napps:\n  db: {chart: pair, instances: 2}\n",
        },
    )
    assert list(desired.apps) == ["/e/db-primary", "/e/db-replica", "/e/db-metrics"]
    assert desired.apps["/e/db-replica"].definition["cmd"] == "run replica"
    assert all(app.instances == 2 for app in desired.apps.values())
    assert desired.apps["/e/db-metrics"].definition["labels"][APP_LABEL] == "db-metrics"


def test_heal_autoscale_and_force(tmp_path: Path) -> None:
    desired = render(
        tmp_path,
        {
            "specs/a.yaml": HEADER
            + """name: e
apps:
  web:
    cmd: run
    instances: 8
    force: true
    heal: {criticalFor: 1m, maxUnavailable: 25%, backoff: 10s, crashLoop: {heals: 3, window: 1h}, enabled: false}
    autoscale:
      min: 2
      max: 10
      metrics: [{cpu: 70%}, {mem: 0.8}]
      tolerance: 5%
      behavior: {scaleDown: {stabilizationWindow: 5m, maxStep: 2}, scaleUp: {stabilizationWindow: 30s, maxStep: 4}}
  idle:
    cmd: run
    autoscale: {min: 3, max: 4, metrics: [{cpu: 50%}]}
""",
        },
    )
    web = desired.apps["/e/web"]
    assert web.force
    heal = web.heal
    assert (heal.critical_for_seconds, heal.max_unavailable, heal.backoff_seconds) == (60.0, 2, 10.0)
    assert (heal.crash_loop_heals, heal.crash_loop_window_seconds, heal.enabled) == (3, 3600.0, False)
    scale = web.autoscale
    assert scale is not None
    assert (scale.min_instances, scale.max_instances, scale.tolerance_up, scale.tolerance_down) == (2, 10, 0.05, 0.05)
    assert scale.metrics == (MetricTarget(MetricKind.CPU, 0.7), MetricTarget(MetricKind.MEM, 0.8))
    assert scale.behavior is not None
    assert (scale.scale_down_window, scale.behavior.scale_down.policies) == (
        300.0,
        (ScalingPolicy(PolicyType.TASKS, 2, 15.0),),
    )
    assert (scale.scale_up_window, scale.behavior.scale_up.policies) == (
        30.0,
        (ScalingPolicy(PolicyType.TASKS, 4, 15.0),),
    )
    idle = desired.apps["/e/idle"]
    assert idle.instances == 3 and not idle.force  # no instances: autoscale's min
    assert idle.heal.max_unavailable is None


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ("ports: [{name: http, containerPort: 80, hostPort: 0, servicePort: 10080}]", "portMappings"),
        ("network: host\n    ports: [{name: http, hostPort: 0}]", "portDefinitions"),
    ],
)
def test_ports_become_mappings_or_definitions(tmp_path: Path, fields: str, expected: str) -> None:
    desired = render(tmp_path, {"specs/a.yaml": HEADER + f"name: e\napps:\n  web:\n    image: nginx\n    {fields}\n"})
    definition = desired.apps["/e/web"].definition
    if expected == "portMappings":
        assert definition["networks"] == [{"mode": "container/bridge"}]
        assert definition["container"]["portMappings"] == [
            {"containerPort": 80, "hostPort": 0, "servicePort": 10080, "protocol": "tcp", "name": "http"}
        ]
    else:
        assert definition["networks"] == [{"mode": "host"}]
        assert definition["portDefinitions"] == [{"port": 0, "protocol": "tcp", "name": "http"}]


def test_inline_marathon_fields(tmp_path: Path) -> None:
    desired = render(
        tmp_path,
        {
            "specs/a.yaml": HEADER
            + """name: e
apps:
  web:
    args: [serve, --port, "8080"]
    env: {PORT: 8080, DEBUG: true}
    healthChecks: [{protocol: COMMAND, command: "curl -f localhost"}, {protocol: TCP, portIndex: 0}]
    constraints: ["hostname:UNIQUE", [rack, GROUP_BY, "2"]]
    upgradeStrategy: {minimumHealthCapacity: 50%, maximumOverCapacity: 0}
    backoff: {seconds: 2s, factor: 1.5, maxLaunchDelay: 5m}
    volumes: [{containerPath: data, persistent: {size: 100}}]
    fetch: ["https://example.com/app.tgz", {uri: "https://example.com/run.sh", executable: true}]
""",
        },
    )
    body = desired.apps["/e/web"].definition
    assert body["args"] == ["serve", "--port", "8080"]
    assert body["env"] == {"PORT": "8080", "DEBUG": "true"}
    assert body["healthChecks"] == [
        {"protocol": "COMMAND", "command": {"value": "curl -f localhost"}},
        {"protocol": "TCP", "portIndex": 0},
    ]
    assert body["constraints"] == [["hostname", "UNIQUE"], ["rack", "GROUP_BY", "2"]]
    assert body["upgradeStrategy"] == {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.0}
    assert (body["backoffSeconds"], body["backoffFactor"], body["maxLaunchDelaySeconds"]) == (2, 1.5, 300)
    assert body["container"] == {
        "type": "MESOS",
        "volumes": [{"containerPath": "data", "persistent": {"size": 100}, "mode": "RW"}],
    }
    assert body["fetch"] == [
        {"uri": "https://example.com/app.tgz"},
        {"uri": "https://example.com/run.sh", "executable": True},
    ]


def test_a_trailing_colon_in_the_constraint_shorthand_names_no_value(tmp_path: Path) -> None:
    """`hostname:UNIQUE:` is `["hostname", "UNIQUE"]`: with an empty third element Marathon 1.10 refuses it.

    mesosphere/marathon v1.10.26 (0513cddcac), src/main/scala/mesosphere/marathon/api/v2/validation/
    SchedulingValidation.scala: complyWithAppConstraintRules (line 143, applied to every app constraint by
    AppValidation.scala line 391) passes `value = c.lift(2)`, i.e. Some("") for an empty third element, and
    line 92 `case Unique => c.value.fold[Result](Success) { _ => failure(ConstraintUniqueDoesNotAcceptValue) }`
    refuses any value, the empty one included ("UNIQUE does not accept a value").
    """
    spec = HEADER + "name: e\napps:\n  web: {cmd: run, constraints: [\"hostname:UNIQUE:\", \"rack:LIKE:r-1:a\"]}\n"
    body = render(tmp_path, {"specs/a.yaml": spec}).apps["/e/web"].definition
    assert body["constraints"] == [["hostname", "UNIQUE"], ["rack", "LIKE", "r-1:a"]]


def test_render_one_environment_only(tmp_path: Path) -> None:
    desired = render(tmp_path, FUNCTIONAL, env="func-1")
    assert list(desired.environments) == ["func-1"]
    assert all(app_id.startswith("/func-1/") for app_id in desired.apps)


def test_revision_and_sources(tmp_path: Path) -> None:
    specs = load_specs(write_tree(tmp_path, FUNCTIONAL))
    desired = render_desired(specs, revision="abc123")
    assert desired.revision == "abc123"
    assert desired.apps["/integration/api"].source.endswith("specs/integration.yaml:9")
    assert desired.apps["/func-1/api"].source.endswith("specs/functional.yaml:8")
    assert desired.environments["func-1"].source.endswith("specs/functional.yaml:5")


def test_charts_folder_rules(tmp_path: Path) -> None:
    spec = HEADER + "name: e\napps:\n  web: {chart: svc}\n"
    inside = tmp_path / "inside"
    charts = {name.replace("charts/", "specs/charts/"): text for name, text in SVC_CHART.items()}
    specs = write_tree(inside, {**charts, "specs/a.yaml": spec})
    assert load_specs(specs).environments["e"].charts_dir == specs / "charts"  # no ../charts: <root>/charts
    assert "/e/web" in render_desired(load_specs(specs)).apps  # and charts under the root are no specs
    beside = write_tree(tmp_path / "beside", {**SVC_CHART, "specs/a.yaml": spec})
    assert load_specs(beside).environments["e"].charts_dir == tmp_path / "beside" / "charts"
    named = write_tree(
        tmp_path / "named",
        {**{k.replace("charts/", "lib/"): v for k, v in SVC_CHART.items()}, "specs/a.yaml": "charts: ../lib\n" + spec},
    )
    assert "/e/web" in render_desired(load_specs(named)).apps
    explicit = load_specs(named, charts_dir=tmp_path / "beside" / "charts")
    assert explicit.environments["e"].charts_dir == (named / "../lib")  # a document's own `charts:` wins


def test_multi_document_files_and_single_file_root(tmp_path: Path) -> None:
    text = HEADER + "name: one\napps: {a: {cmd: run}}\n---\n" + HEADER + "name: two\napps: {b: {cmd: run}}\n"
    specs = write_tree(tmp_path, {"specs/all.yml": text, "specs/.hidden/x.yaml": "broken: [\n"})
    assert sorted(render_desired(load_specs(specs)).apps) == ["/one/a", "/two/b"]
    assert list(render_desired(load_specs(specs / "all.yml")).environments) == ["one", "two"]
