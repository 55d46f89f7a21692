"""Numbers and ids in range: non-finite numbers, absurd durations and counts, and group ids Marathon
would rewrite are invalid specs naming file, line and field (never a traceback, never sent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.spec.spec_tree import HEADER, SVC_CHART, problems_of, render

APP = HEADER + "name: integration\napps:\n  web:\n    image: x\n"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ("backoff: {seconds: .inf}", "apps.web.backoff.seconds", "finite number"),
        ("backoff: {maxLaunchDelay: .nan}", "apps.web.backoff.maxLaunchDelay", "finite number"),
        ("backoff: {seconds: 1e400}", "apps.web.backoff.seconds", "finite number"),
        ("backoff: {seconds: 99999999999999999999h}", "apps.web.backoff.seconds", "less than or equal to 2147483647"),
        ("backoff: {factor: .nan}", "apps.web.backoff.factor", "finite number"),
        ("heal: {criticalFor: .inf}", "apps.web.heal.criticalFor", "finite number"),
        ("heal: {backoff: 1e400}", "apps.web.heal.backoff", "finite number"),
        ("heal: {crashLoop: {window: 999999999999h}}", "apps.web.heal.crashLoop.window", "2147483647"),
        ("heal: {crashLoop: {heals: 1e400}}", "apps.web.heal.crashLoop.heals", "finite number"),
        ("heal: {maxUnavailable: 99999999999999999999}", "apps.web.heal.maxUnavailable", "between 0 and 10000"),
        ("heal: {maxUnavailable: 1" + "0" * 400 + "%}", "apps.web.heal.maxUnavailable", "at most 100%"),
        ("healthChecks: [{intervalSeconds: 1e400}]", "apps.web.healthChecks[0].intervalSeconds", "finite number"),
        ("healthChecks: [{timeoutSeconds: 2147483648}]", "apps.web.healthChecks[0].timeoutSeconds", "2147483647"),
        ("healthChecks: [{gracePeriodSeconds: 1.5}]", "apps.web.healthChecks[0].gracePeriodSeconds", "integer"),
        ("healthChecks: [{portIndex: 99999999999}]", "apps.web.healthChecks[0].portIndex", "2147483647"),
        ("cpus: .nan", "apps.web.cpus", "finite number"),
        ("mem: -.inf", "apps.web.mem", "finite number"),
        ("instances: .inf", "apps.web.instances", "finite number"),
        ("instances: 2.5", "apps.web.instances", "integer"),
        ("autoscale: {min: 1, max: 2, metrics: [{cpu: .inf}]}", "apps.web.autoscale.metrics[0].cpu", "finite number"),
        ("autoscale: {min: 1, max: .inf, metrics: [{cpu: 50%}]}", "apps.web.autoscale.max", "finite number"),
        (
            "autoscale: {min: 1, max: 2, metrics: [{cpu: 50%}], behavior: {scaleUp: {stabilizationWindow: 1e400}}}",
            "apps.web.autoscale.behavior.scaleUp.stabilizationWindow",
            "finite number",
        ),
        ("upgradeStrategy: {minimumHealthCapacity: .nan}", "apps.web.upgradeStrategy.minimumHealthCapacity", "finite"),
    ],
)
def test_non_finite_and_absurd_numbers_are_invalid_with_file_line_and_field(
    tmp_path: Path, body: str, field: str, message: str
) -> None:
    problems = problems_of(tmp_path, {"specs/a.yaml": APP + f"    {body}\n"})
    assert [(Path(p.file).name, p.line, p.field) for p in problems] == [("a.yaml", 7, field)]
    assert message in problems[0].message, problems[0].render()
    assert problems[0].hint


def test_a_chart_value_that_renders_a_non_finite_number_is_invalid(tmp_path: Path) -> None:
    files = {
        **SVC_CHART,
        "charts/svc/templates/app.yaml": 'image: "x"\ncpus: {{ values.cpus }}\nmem: 128\n',
        "charts/svc/values.yaml": "cpus: 0.1\n",
        "specs/a.yaml": HEADER + "name: integration\napps:\n  web:\n    chart: svc\n    values: {cpus: .inf}\n",
    }
    problems = problems_of(tmp_path, files)
    assert [p.field for p in problems] == ["cpus"] and "finite number" in problems[0].message


def test_integer_fields_reach_marathon_as_integers(tmp_path: Path) -> None:
    spec = APP + "    instances: 2.0\n    ports: [{containerPort: 80}]\n"
    spec += "    healthChecks: [{intervalSeconds: 10.0, portIndex: 0}]\n"
    spec += "    backoff: {seconds: 1.5, maxLaunchDelay: 10m}\n"
    body = render(tmp_path, {"specs/a.yaml": spec}).apps["/integration/web"].definition
    assert body["instances"] == 2 and type(body["instances"]) is int
    assert type(body["healthChecks"][0]["intervalSeconds"]) is int
    assert (body["backoffSeconds"], body["maxLaunchDelaySeconds"]) == (2, 600)
    assert type(body["backoffSeconds"]) is int and type(body["maxLaunchDelaySeconds"]) is int


@pytest.mark.parametrize(
    ("group", "message"),
    [
        ("//dbl", "empty segment"),
        ("/team//int", "empty segment"),
        ("/team/int/", "empty segment"),
        ("/team/./int", "reserved word"),
        ("/team/../int", "reserved word"),
        ("/..", "reserved word"),
    ],
)
def test_a_group_marathon_would_rewrite_is_invalid(tmp_path: Path, group: str, message: str) -> None:
    problems = problems_of(tmp_path, {"specs/a.yaml": HEADER + f"name: integration\ngroup: '{group}'\napps: {{}}\n"})
    assert [(Path(p.file).name, p.line, p.field) for p in problems] == [("a.yaml", 4, "group")]
    assert message in problems[0].message, problems[0].render()


@pytest.mark.parametrize("name", [".", "..", "a/b", ""])
def test_an_environment_or_app_name_that_is_not_one_segment_is_invalid(tmp_path: Path, name: str) -> None:
    spec = HEADER + f"name: '{name}'\napps: {{}}\n---\n" + HEADER + f"name: ok\napps:\n  '{name}': {{image: x}}\n"
    problems = problems_of(tmp_path, {"specs/a.yaml": spec})
    assert {(p.line, p.field) for p in problems} >= {(3, "name"), (10, f"apps.{name}")}, [p.render() for p in problems]
