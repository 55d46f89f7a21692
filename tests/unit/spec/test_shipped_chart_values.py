"""The charts in `charts/` as a user writes their values: every value a chart declares reaches what it
renders, and a value the chart would turn into a broken app (a wrong type, a list written as a word, a
leader TTL `run` refuses, a spec path the shell splits, a preset field nobody reads) is refused at the
spec's file:line by the chart's values.schema.json, with a hint saying what the value must be."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.errors import SpecError
from reconciler.spec import load_desired

CHARTS = Path(__file__).resolve().parents[3] / "charts"
SHIPPED = sorted(path.name for path in CHARTS.iterdir() if (path / "Chart.yaml").is_file())
HEADER = "apiVersion: reconciler/v1\nkind: Environment\nname: platform\napps:\n"
# A value each chart needs that its defaults leave empty.
REQUIRED: dict[str, dict[str, Any]] = {"java-service": {"image": "user-api"}, "datastore": {"kind": "redis"}}
# For every value of every shipped chart's values.yaml: another valid value, which must change the app.
CHANGED: dict[str, dict[str, Any]] = {
    "marathon-reconciler": {
        "registry": "registry.other.internal", "image": "reconciler", "tag": "0.2.0", "cpus": 0.5, "mem": 512,
        "instances": 3, "leaderTtl": 30, "port": 9191, "specs": "/srv/specs", "specsHostPath": "/data/specs",
        "marathon": "https://marathon.internal:8443", "consul": "http://127.0.0.1:8500",
        "database": "postgresql+psycopg://reconciler@db.internal:5432/history",
        "source": "https://git.example/ops/specs.git", "branch": "release", "path": "platform/specs",
        "gitTimeout": 30,
        "marathonUser": "ops", "marathonPasswordSecret": "/platform/reconciler/marathon-password",
        "marathonTokenSecret": "/platform/reconciler/marathon-token", "consulTokenSecret": "/platform/consul-token",
    },
    "java-service": {
        "registry": "registry.other.internal", "image": "order-api", "tag": "1.4.2", "profile": "integration",
        "cpus": 0.5, "mem": 768, "heapMb": 300, "port": 8081, "healthPath": "/ready", "env": {"LOG": "debug"},
    },
    "datastore": {"kind": "mysql", "override": {"mem": 1024},
                  "presets": {"redis": {"tag": "7.4-alpine"}}},
    "web": {"registry": "registry.other.internal", "image": "shop", "tag": "2.0", "cpus": 0.4, "mem": 512,
            "port": 3001, "apis": ["user-api", "order-api"]},
    "nginx": {"image": "nginx-edge", "tag": "1.27", "cpus": 0.2, "mem": 256, "servicePort": 10080,
              "upstream": "shop"},
}


# Values that act only beside another one: compared with that one set.
COMPANIONS: dict[str, dict[str, Any]] = {"branch": {"source": "https://git.example/ops/specs.git"},
                                         "path": {"source": "https://git.example/ops/specs.git"},
                                         "gitTimeout": {"source": "https://git.example/ops/specs.git"},
                                         "marathonPasswordSecret": {"marathonUser": "ops"}}
# Values refused together (`source` replaces the folder `specs` and its host volume; a Marathon token is not
# given with a user).
APART = {"marathon-reconciler": {"specs", "specsHostPath", "marathonTokenSecret"}}


def _render(tmp_path: Path, chart: str, values: dict[str, Any]) -> dict[str, Any]:
    spec = tmp_path / "platform.yaml"
    entry = json.dumps({"chart": chart, "values": {**REQUIRED.get(chart, {}), **values}})
    spec.write_text(f"{HEADER}  app: {entry}\n", encoding="utf-8")
    definition: dict[str, Any] = json.loads(json.dumps(load_desired(spec, charts_dir=CHARTS)
                                                       .apps["/platform/app"].definition))
    return definition


def test_the_table_knows_every_shipped_chart_and_every_value_it_declares() -> None:
    assert sorted(CHANGED) == SHIPPED
    for chart in SHIPPED:
        declared = yaml.safe_load((CHARTS / chart / "values.yaml").read_text(encoding="utf-8"))
        assert sorted(declared) == sorted(CHANGED[chart]), chart


@pytest.mark.parametrize("chart", SHIPPED)
def test_every_value_a_chart_declares_changes_the_app_it_renders(tmp_path: Path, chart: str) -> None:
    """A value nothing reads would be a setting that silently does nothing."""
    if chart == "datastore":  # the presets of the other kinds are read only when `kind` picks them
        base = _render(tmp_path, chart, {})
        assert _render(tmp_path, chart, {"presets": CHANGED[chart]["presets"]}) != base
        assert _render(tmp_path, chart, {"override": CHANGED[chart]["override"]}) != base
        assert _render(tmp_path, chart, {"kind": "mysql"}) != base
        return
    for key, value in CHANGED[chart].items():
        companion = COMPANIONS.get(key, {})
        base = _render(tmp_path, chart, companion)
        assert _render(tmp_path, chart, {**companion, key: value}) != base, f"{chart}: value {key!r} changes nothing"
    apart = APART.get(chart, set())
    _render(tmp_path, chart, {k: v for k, v in CHANGED[chart].items() if k not in apart})  # all of them at once


@pytest.mark.parametrize("chart", SHIPPED)
def test_every_shipped_chart_has_a_values_schema_naming_each_value(chart: str) -> None:
    schema = json.loads((CHARTS / chart / "values.schema.json").read_text(encoding="utf-8"))
    declared = yaml.safe_load((CHARTS / chart / "values.yaml").read_text(encoding="utf-8"))
    assert set(declared) <= set(schema["properties"]), chart
    assert schema.get("additionalProperties", True) is True  # the environment's shared values pass


REFUSED = [
    # chart, values, field refused, words of the hint
    ("marathon-reconciler", {"leaderTtl": 5}, "leaderTtl", "--leader-ttl"),
    ("marathon-reconciler", {"leaderTtl": 100000}, "leaderTtl", "--leader-ttl"),
    ("marathon-reconciler", {"port": "http"}, "port", "see"),
    ("marathon-reconciler", {"instances": "two"}, "instances", "leader"),
    ("marathon-reconciler", {"specs": "/my specs"}, "specs", "without spaces or shell characters"),
    ("marathon-reconciler", {"specs": "/specs; rm -rf /"}, "specs", "without spaces or shell characters"),
    ("marathon-reconciler", {"specs": "specs"}, "specs", "absolute path"),
    ("marathon-reconciler", {"specsHostPath": "srv/specs"}, "specsHostPath", "absolute path"),
    ("marathon-reconciler", {"marathon": "marathon.mesos:8080"}, "marathon", "URL"),
    ("marathon-reconciler", {"marathon": "http://ops:s3cr3t@marathon.mesos:8080"}, "marathon", "without credentials"),
    ("marathon-reconciler", {"consul": "https://acl-token@consul.internal"}, "consul", "without credentials"),
    ("marathon-reconciler", {"database": "postgresql+psycopg://ops:pw@db/history"}, "database", "without a password"),
    ("marathon-reconciler", {"database": "/var/lib/history.db"}, "database", "a SQLite file in each container"),
    ("marathon-reconciler", {"database": "postgresql+psycopg://db/h?sslmode=require&x=1"}, "database", "query"),
    ("marathon-reconciler", {"source": "https://tok@git.example/specs.git"}, "source", "without credentials"),
    ("marathon-reconciler", {"source": "https://git.example/specs.git;id"}, "source", "shell characters"),
    ("marathon-reconciler", {"branch": "main"}, "branch", "only with `source`"),
    ("marathon-reconciler", {"path": "specs"}, "path", "only with `source`"),
    ("marathon-reconciler", {"source": "https://git.example/s.git", "specsHostPath": "/srv"}, "specsHostPath",
     "not with `source`"),
    ("marathon-reconciler", {"source": "https://git.example/s.git", "specs": "/srv"}, "specs", "not with `source`"),
    ("marathon-reconciler", {"marathonUser": "ops:pw"}, "marathonUser", "without `:`"),
    ("marathon-reconciler", {"marathonPasswordSecret": "/a b"}, "marathonPasswordSecret", "secret store"),
    ("marathon-reconciler", {"consulTokenSecret": 7}, "consulTokenSecret", "secret store"),
    ("web", {"apis": "user-api"}, "apis", "a list, even of one"),
    ("web", {"apis": ["user_api"]}, "apis[0]", "an app name"),
    ("web", {"port": "3000x"}, "port", "see"),
    ("web", {"tag": 2.0}, "tag", "quote"),
    ("nginx", {"servicePort": "auto"}, "servicePort", "Marathon assigns"),
    ("nginx", {"upstream": ""}, "upstream", "see"),
    ("datastore", {"override": {"imgae": "redis"}}, "override", "another key would be ignored"),
    ("datastore", {"override": {"port": "6379x"}}, "override.port", "see"),
]


@pytest.mark.parametrize(("chart", "values", "field", "hint"), REFUSED)
def test_a_value_the_chart_would_break_on_is_refused_where_the_spec_writes_it(
    tmp_path: Path, chart: str, values: dict[str, Any], field: str, hint: str
) -> None:
    spec = tmp_path / "platform.yaml"
    spec.write_text(f"{HEADER}  app:\n    chart: {chart}\n    values: "
                    f"{json.dumps({**REQUIRED.get(chart, {}), **values})}\n", encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_desired(spec, charts_dir=CHARTS)
    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.field) == (str(spec), 7, f"apps.app.values.{field}"), problem.render()
    assert f"chart '{chart}' refuses the value" in problem.message
    assert hint in problem.hint and f"{chart}/values.schema.json" in problem.hint, problem.render()


def test_a_copy_of_a_shipped_chart_keeps_its_schema(tmp_path: Path) -> None:
    """A platform team starts a chart from a shipped one: the schema travels with the folder."""
    shutil.copytree(CHARTS / "web", tmp_path / "charts" / "shop-web")
    chart = tmp_path / "charts" / "shop-web" / "Chart.yaml"
    chart.write_text(chart.read_text(encoding="utf-8").replace("name: web", "name: shop-web"), encoding="utf-8")
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "a.yaml").write_text(f"{HEADER}  web: {{chart: shop-web, values: {{apis: user-api}}}}\n")
    with pytest.raises(SpecError) as caught:
        load_desired(tmp_path / "specs")
    assert [p.field for p in caught.value.problems] == ["apps.web.values.apis"]


@pytest.mark.parametrize(("key", "url"), [
    ("marathon", "http://ops:s3cr3t@marathon.mesos:8080"), ("marathon", "ftp://ops:s3cr3t@marathon"),
    ("consul", "ops:s3cr3t@m"), ("database", "postgresql+psycopg://ops:s3cr3t@db:5432/history"),
    ("marathon", "http://ops:it's-s3cr3t@marathon"),
])
def test_a_url_refused_for_its_credentials_is_named_without_them(tmp_path: Path, key: str, url: str) -> None:
    """The problem travels to logs and notifications (an invalid commit): it quotes the value masked."""
    spec = tmp_path / "platform.yaml"
    spec.write_text(f"{HEADER}  app: {{chart: marathon-reconciler, values: {{{key}: {json.dumps(url)}}}}}\n")
    with pytest.raises(SpecError) as caught:
        load_desired(spec, charts_dir=CHARTS)
    [problem] = caught.value.problems
    assert problem.field == f"apps.app.values.{key}" and "***@" in problem.message, problem.render()
    assert "s3cr3t" not in problem.render()


def test_nginx_hands_its_upstream_to_the_container_as_a_bare_name(tmp_path: Path) -> None:
    """docs/spec.md: `upstream` becomes UPSTREAM_SRV, a bare name as `web`'s `apis` give theirs."""
    nginx = _render(tmp_path, "nginx", {"upstream": "shop"})
    web = _render(tmp_path, "web", {"apis": ["user-api"]})
    assert nginx["env"]["UPSTREAM_SRV"] == "shop" and web["env"]["USER_API_SRV"] == "user-api"
    assert _render(tmp_path, "nginx", {})["env"]["UPSTREAM_SRV"] == "web"  # the default upstream
