"""Numbers and booleans are written as YAML writes them: text where a number or boolean goes ("3", "yes") and
a boolean where a number goes (`instances: true`) are invalid specs naming file, line and field; before,
pydantic read "3" as 3, `true` as 1 and "yes" as true."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.spec.spec_tree import HEADER, problems_of, render

APP = HEADER + "name: shop\napps:\n  web:\n    image: x\n"


@pytest.mark.parametrize(
    ("body", "field", "hint"),
    [
        ('instances: "3"', "apps.web.instances", "write a whole number, without quotes"),
        ("instances: true", "apps.web.instances", "write a whole number, without quotes"),
        ('cpus: "0.5"', "apps.web.cpus", "write a number, without quotes"),
        ("mem: false", "apps.web.mem", "write a number, without quotes"),
        ("disk: '512'", "apps.web.disk", "write a number, without quotes"),
        ('ports: [{containerPort: "8080"}]', "apps.web.ports[0].containerPort", "write a whole number, without quotes"),
        ("healthChecks: [{intervalSeconds: '10'}]", "apps.web.healthChecks[0].intervalSeconds", "whole number"),
        ("backoff: {factor: '2'}", "apps.web.backoff.factor", "write a number, without quotes"),
        ("force: yes", "apps.web.force", "write true or false"),
        ("forcePullImage: 1", "apps.web.forcePullImage", "write true or false"),
        ('heal: {enabled: "false"}', "apps.web.heal.enabled", "write true or false"),
        ("heal: {crashLoop: {heals: '3'}}", "apps.web.heal.crashLoop.heals", "whole number"),
        ("fetch: [{uri: 'http://x/a.tgz', extract: on}]", "apps.web.fetch[0].extract", "write true or false"),
        ("autoscale: {min: '1', max: 2, metrics: [{cpu: 50%}]}", "apps.web.autoscale.min", "whole number"),
        ("autoscale: {min: 1, max: 2, metrics: [{prometheus: {query: q, target: {value: '5'}}}]}",
         "apps.web.autoscale.metrics[0].prometheus.target.value", "write a number, without quotes"),
    ],
)
def test_text_or_a_boolean_where_a_number_or_boolean_goes_is_invalid(
    tmp_path: Path, body: str, field: str, hint: str
) -> None:
    [problem] = problems_of(tmp_path, {"specs/shop.yaml": APP + f"    {body}\n"})
    assert (problem.line, problem.field) == (7, field), problem.render()
    assert problem.hint is not None and hint in problem.hint, problem.render()


def test_numbers_as_yaml_writes_them_still_load(tmp_path: Path) -> None:
    body = "    instances: 2.0\n    cpus: 1\n    mem: 64.5\n    force: true\n    heal: {enabled: false}\n"
    desired = render(tmp_path, {"specs/shop.yaml": APP + body})
    definition = desired.apps["/shop/web"].definition
    assert (definition["instances"], definition["cpus"], definition["mem"]) == (2, 1, 64.5)
    assert type(definition["instances"]) is int
