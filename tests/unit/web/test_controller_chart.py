"""The controller's chart matches the HTTP server (the port it listens on is the port Marathon checks) and the
leader election (two instances on different agents, a leader TTL `run` accepts), and its git values become
`run`'s git flags."""

from __future__ import annotations

import json
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
