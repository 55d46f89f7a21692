"""The controller's chart matches the HTTP server (the port it listens on is the port Marathon checks) and the
leader election (two instances on different agents, a leader TTL `run` accepts), and its git values become
`run`'s git flags."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from reconciler.errors import SpecError
from reconciler.spec import load_desired
from reconciler.web.server import parse_listen

CHARTS = Path(__file__).resolve().parents[3] / "charts"


def test_the_health_check_reaches_the_servers_healthz(tmp_path: Path) -> None:
    spec = tmp_path / "platform.yaml"
    spec.write_text("apiVersion: reconciler/v1\nkind: Environment\nname: platform\n"
                    "apps:\n  reconciler: {chart: marathon-reconciler, values: {port: 9191}}\n")
    body = json.loads(json.dumps(load_desired(spec, charts_dir=CHARTS).apps["/platform/reconciler"].definition))
    words = shlex.split(body["cmd"])
    host, port = parse_listen(words[words.index("--listen") + 1])
    assert (host, port) == ("0.0.0.0", 9191)  # inside a container: reachable by Marathon's health check
    mappings = body.get("container", {}).get("portMappings") or body.get("portDefinitions") or []
    assert [m.get("containerPort", m.get("port")) for m in mappings] == [9191]
    check = body["healthChecks"][0]
    assert (check["protocol"], check["path"], check["portIndex"]) == ("HTTP", "/healthz", 0)


def test_two_instances_on_different_agents_elect_one_leader_with_a_ttl_run_accepts(tmp_path: Path) -> None:
    spec = tmp_path / "platform.yaml"
    spec.write_text("apiVersion: reconciler/v1\nkind: Environment\nname: platform\n"
                    "apps:\n  reconciler: {chart: marathon-reconciler, values: {leaderTtl: 20}}\n")
    body = load_desired(spec, charts_dir=CHARTS).apps["/platform/reconciler"].definition
    assert body["instances"] == 2 and ["hostname", "UNIQUE"] in body["constraints"]
    words = shlex.split(str(body["cmd"]))
    assert words[words.index("--leader-ttl") + 1] == "20" and "--no-leader-election" not in words
    spec.write_text("apiVersion: reconciler/v1\nkind: Environment\nname: platform\n"
                    "apps:\n  reconciler: {chart: marathon-reconciler}\n")
    words = shlex.split(str(load_desired(spec, charts_dir=CHARTS).apps["/platform/reconciler"].definition["cmd"]))
    assert 10 <= float(words[words.index("--leader-ttl") + 1]) <= 86400  # the range `run --leader-ttl` accepts


def test_the_git_timeout_value_becomes_the_flag_and_is_refused_without_a_source(tmp_path: Path) -> None:
    spec = tmp_path / "platform.yaml"

    def words(values: str) -> list[str]:
        spec.write_text("apiVersion: reconciler/v1\nkind: Environment\nname: platform\n"
                        f"apps:\n  reconciler: {{chart: marathon-reconciler, values: {values}}}\n")
        return shlex.split(str(load_desired(spec, charts_dir=CHARTS).apps["/platform/reconciler"].definition["cmd"]))

    given = words("{source: 'https://git.example/specs.git', gitTimeout: 30}")
    assert given[given.index("--git-timeout") + 1] == "30"
    default = words("{source: 'https://git.example/specs.git'}")
    assert default[default.index("--git-timeout") + 1] == "120"  # run's own default, said out loud
    assert "--git-timeout" not in words("{}")
    for values, why in (("{gitTimeout: 30}", "only with `source`"),
                        ("{source: 'https://git.example/specs.git', gitTimeout: 0}", "less than the minimum of 1")):
        with pytest.raises(SpecError, match=why):
            words(values)


def _controller(tmp_path: Path, values: dict[str, object]) -> dict[str, object]:
    spec = tmp_path / "platform.yaml"
    spec.write_text("apiVersion: reconciler/v1\nkind: Environment\nname: platform\n"
                    f"apps:\n  reconciler: {{chart: marathon-reconciler, values: {json.dumps(values)}}}\n")
    return dict(load_desired(spec, charts_dir=CHARTS).apps["/platform/reconciler"].definition)


def test_credentials_come_from_marathon_secrets_in_the_clis_environment_variables(tmp_path: Path) -> None:
    body = _controller(tmp_path, {"marathonUser": "ops", "marathonPasswordSecret": "/platform/marathon-password",
                                  "consulTokenSecret": "/platform/consul-token"})
    assert body["secrets"] == {"marathon-password": {"source": "/platform/marathon-password"},
                               "consul-token": {"source": "/platform/consul-token"}}
    env = body["env"]
    assert isinstance(env, dict)
    assert env["RECONCILER_MARATHON_USER"] == "ops"
    assert env["RECONCILER_MARATHON_PASSWORD"] == {"secret": "marathon-password"}
    assert env["RECONCILER_CONSUL_TOKEN"] == {"secret": "consul-token"}
    assert "RECONCILER_MARATHON_TOKEN" not in env
    token = _controller(tmp_path, {"marathonTokenSecret": "/platform/acs-token"})
    assert token["secrets"] == {"marathon-token": {"source": "/platform/acs-token"}}
    assert token["env"] == {"RECONCILER_MARATHON": "http://marathon.mesos:8080",
                            "RECONCILER_CONSUL": "http://consul.service.consul:8500",
                            "RECONCILER_MARATHON_TOKEN": {"secret": "marathon-token"}}
    assert "secrets" not in _controller(tmp_path, {})  # no credentials: no secrets feature needed


def test_the_variable_names_are_the_clis() -> None:
    from typer.main import get_command

    from reconciler.cli.main import app

    command = get_command(app)
    names = {param.envvar for param in command.params if param.envvar}
    template = (CHARTS / "marathon-reconciler" / "templates" / "controller.yaml").read_text()
    used = set(re.findall(r"^\s+(RECONCILER_[A-Z_]+):", template, re.M))
    assert used == {"RECONCILER_MARATHON", "RECONCILER_CONSUL", "RECONCILER_MARATHON_USER",
                    "RECONCILER_MARATHON_PASSWORD", "RECONCILER_MARATHON_TOKEN", "RECONCILER_CONSUL_TOKEN"}
    assert used <= names


@pytest.mark.parametrize(
    ("values", "words"),
    [({"marathonPasswordSecret": "/platform/marathon-password"}, "needs `marathonUser`"),
     ({"marathonUser": "ops", "marathonTokenSecret": "/platform/acs-token"}, "are both set")],
    ids=["password-without-user", "token-with-user"],
)
def test_credentials_run_would_refuse_are_refused_where_the_spec_writes_them(
    tmp_path: Path, values: dict[str, object], words: str
) -> None:
    with pytest.raises(SpecError) as caught:
        _controller(tmp_path, values)
    [problem] = caught.value.problems
    assert "chart 'marathon-reconciler' refuses the values" in problem.message and words in problem.message
