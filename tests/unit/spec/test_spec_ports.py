"""Ports mean what they say: a pinned hostPort on host networking is required on the agent, host
networking's one number per port is never asked to hold two, and a fixed service port (what
marathon-lb routes by) belongs to one port of one app in the whole tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.spec.spec_tree import HEADER, problems_of, render


def env(body: str, name: str = "integration") -> str:
    return HEADER + f"name: {name}\n" + body


@pytest.mark.parametrize(
    ("fields", "definitions", "require_ports"),
    [
        # A pinned agent port: Marathon's `port` with requirePorts, so the task gets exactly that port.
        ("network: host\n    ports: [{name: http, hostPort: 31080}]", [{"port": 31080, "name": "http"}], True),
        ("network: host\n    ports: [{hostPort: 31080, servicePort: 31080}]", [{"port": 31080}], True),
        # Only a service port: the agent picks any free port for the task.
        ("network: host\n    ports: [{servicePort: 10080}]", [{"port": 10080}], None),
        (
            "network: host\n    ports: [{name: a}, {name: b, hostPort: 0}]",
            [{"port": 0, "name": "a"}, {"port": 0, "name": "b"}],
            None,
        ),
    ],
)
def test_host_ports_pin_the_agent_port_only_when_given(
    tmp_path: Path, fields: str, definitions: list[dict[str, object]], require_ports: bool | None
) -> None:
    desired = render(tmp_path, {"specs/a.yaml": env(f"apps:\n  web:\n    image: nginx\n    {fields}\n")})
    definition = desired.apps["/integration/web"].definition
    assert definition["portDefinitions"] == [{"protocol": "tcp", **item} for item in definitions]
    assert definition.get("requirePorts") is require_ports


def test_a_command_pins_its_host_port_too(tmp_path: Path) -> None:
    desired = render(tmp_path, {"specs/a.yaml": env("apps:\n  web:\n    cmd: serve\n    ports: [{hostPort: 31081}]\n")})
    definition = desired.apps["/integration/web"].definition
    assert definition["portDefinitions"] == [{"port": 31081, "protocol": "tcp"}]
    assert definition["requirePorts"] is True and "networks" not in definition


def test_a_bridged_app_maps_its_pinned_host_port_without_require_ports(tmp_path: Path) -> None:
    desired = render(
        tmp_path,
        {"specs/a.yaml": env("apps:\n  web:\n    image: x\n    ports: [{containerPort: 80, hostPort: 31082}]\n")},
    )
    definition = desired.apps["/integration/web"].definition
    assert definition["container"]["portMappings"][0]["hostPort"] == 31082
    assert "requirePorts" not in definition and "portDefinitions" not in definition


@pytest.mark.parametrize(
    ("ports", "line_path", "message", "hint"),
    [
        (
            "[{hostPort: 31080, servicePort: 10080}]",
            "apps.web.ports[0].servicePort",
            "servicePort 10080 differs from hostPort 31080: on host networking a pinned agent port is also the"
            " service port (Marathon `requirePorts`)",
            "remove `servicePort`",
        ),
        (
            "[{name: a, hostPort: 31080}, {name: b}]",
            "apps.web.ports[1].hostPort",
            "ports[0] pins hostPort 31080, so Marathon requires every port of the app on the agent"
            " (`requirePorts`), but this one has no hostPort",
            "give every port a `hostPort`, or none",
        ),
    ],
)
def test_host_networking_cannot_hold_what_the_spec_asks(
    tmp_path: Path, ports: str, line_path: str, message: str, hint: str
) -> None:
    files = {"specs/a.yaml": env(f"apps:\n  web:\n    image: x\n    network: host\n    ports: {ports}\n")}
    [problem] = problems_of(tmp_path, files)
    assert (problem.file, problem.line, problem.field) == (f"{tmp_path}/specs/a.yaml", 8, line_path)
    assert problem.message == message and problem.hint is not None and problem.hint.startswith(hint)


def test_two_apps_with_one_service_port_are_reported_at_both(tmp_path: Path) -> None:
    files = {
        "specs/a.yaml": env("apps:\n  web:\n    image: x\n    ports: [{containerPort: 80, servicePort: 10080}]\n"),
        "specs/b.yaml": env(
            "apps:\n  edge:\n    image: y\n    network: host\n    ports: [{name: http, hostPort: 10080}]\n",
            name="other",
        ),
    }
    problems = problems_of(tmp_path, files)
    assert [(p.file.removeprefix(f"{tmp_path}/"), p.line, p.field) for p in problems] == [
        ("specs/a.yaml", 7, "apps.web.ports[0].servicePort"),
        ("specs/b.yaml", 8, "apps.edge.ports[0].hostPort"),
    ]
    assert problems[0].message == (
        "servicePort 10080: service port 10080 is also asked for by ports[0] of app 'edge' of environment 'other'"
        f" ({tmp_path}/specs/b.yaml:8)"
    )
    assert problems[1].message.endswith(
        f"ports[0] of app 'web' of environment 'integration' ({tmp_path}/specs/a.yaml:7)"
    )
    assert all(p.hint is not None and "marathon-lb routes a service port to one app" in p.hint for p in problems)


def test_a_functional_set_that_runs_a_base_app_with_a_fixed_service_port_clashes(tmp_path: Path) -> None:
    files = {
        "specs/a.yaml": env("apps:\n  web:\n    image: x\n    ports: [{containerPort: 80, servicePort: 10080}]\n"),
        "specs/f.yaml": "apiVersion: reconciler/v1\nkind: FunctionalSet\nbase: integration\nsets:\n  func-1:\n"
        "    apps:\n      web: {}\n",
    }
    problems = problems_of(tmp_path, files)
    assert sorted(p.message.split(" of environment ")[1].split(" ")[0] for p in problems) == [
        "'func-1'",
        "'integration'",
    ]
    # Overriding the port in the set settles it.
    fixed = files["specs/f.yaml"].replace("web: {}", "web: {ports: [{containerPort: 80, servicePort: 10081}]}")
    render(tmp_path / "fixed", {**files, "specs/f.yaml": fixed})


def test_service_port_zero_and_distinct_ports_are_valid(tmp_path: Path) -> None:
    files = {
        "specs/a.yaml": env(
            "apps:\n  web:\n    image: x\n    ports: [{containerPort: 80, servicePort: 0}, {containerPort: 81}]\n"
            "  api:\n    image: y\n    ports: [{containerPort: 80, servicePort: 0, hostPort: 31080}]\n"
            "  edge:\n    image: z\n    network: host\n    ports: [{servicePort: 10081}]\n"
        )
    }
    assert set(render(tmp_path, files).apps) == {"/integration/web", "/integration/api", "/integration/edge"}


def test_two_ports_of_one_app_with_one_service_port_clash(tmp_path: Path) -> None:
    files = {
        "specs/a.yaml": env(
            "apps:\n  web:\n    image: x\n"
            "    ports: [{containerPort: 80, servicePort: 10080}, {containerPort: 81, servicePort: 10080}]\n"
        )
    }
    problems = problems_of(tmp_path, files)
    assert {p.message.split(":")[0] for p in problems} == {"servicePort 10080"}
    assert len(problems) == 2 and "ports[1] of app 'web'" in problems[0].message
