"""The spec loader's fast paths give what the slow paths give, problems included.

An inline app entry valid as written is validated once, as its concrete app (spec/environments.py
`inline_app`); every other entry goes the long way (as an entry, then expanded, then as a concrete
app). Each tree here, and every case of the validation tests, is loaded both ways and compared.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.model import Desired
from reconciler.errors import SpecError, SpecProblem
from reconciler.spec import environments, load_desired
from reconciler.spec.load import forget_loaded
from tests.unit.spec.spec_tree import HEADER, SVC_CHART, write_tree
from tests.unit.spec.test_spec_validation import ALL_AT_ONCE, CASES


def env(body: str, name: str = "integration") -> str:
    return HEADER + f"name: {name}\n" + body


RICH_APP = """\
    image: registry/api:1.4
    cpus: 0.25
    mem: 256
    instances: 2
    env: {MODE: live, LEVEL: '3'}
    labels: {team: core}
    ports: [{name: http, containerPort: 8080}, {name: admin, containerPort: 9090, protocol: udp}]
    healthChecks: [{protocol: HTTP, path: /health, portIndex: 0}]
    constraints: [[hostname, UNIQUE]]
    upgradeStrategy: {minimumHealthCapacity: 0.5, maximumOverCapacity: 0.5}
    dependencies: [db]
    heal: {criticalFor: 60s, maxUnavailable: 1}
"""

TREES: dict[str, dict[str, str]] = {
    "inline-apps": {
        "specs/a.yaml": env("apps:\n  web:\n" + RICH_APP + "  db: {cmd: 'redis-server', mem: 64}\n"
                            "  job: {args: [run, a], instances: 0}\n"),
    },
    "inline-beside-a-chart": {
        **SVC_CHART,
        "specs/a.yaml": env("values: {tag: '2.0'}\napps:\n  web: {chart: svc}\n  api: {chart: svc, mem: 512}\n"
                            "  db: {cmd: 'redis-server'}\n"),
    },
    "functional-over-inline-base": {
        "specs/a.yaml": env("apps:\n  web:\n" + RICH_APP + "  db: {cmd: 'redis-server'}\n"),
        "specs/f.yaml": "apiVersion: reconciler/v1\nkind: FunctionalSet\nbase: integration\nsets:\n"
                        "  feature-x:\n    apps:\n      web: {mem: 512}\n      cache: {cmd: memcached}\n",
    },
    "inline-name-a-chart-renders-too": {
        **SVC_CHART,
        "charts/svc/templates/app.yaml": "image: svc\nsuffix: a\n",
        "specs/a.yaml": env("apps:\n  web: {chart: svc}\n  web-a: {cmd: x}\n"),
    },
    "inline-rules-broken": {
        "specs/a.yaml": env("apps:\n  web: {cmd: x, args: [y]}\n  api: {image: x, network: host, ports: [{name: h,"
                            " containerPort: 80}]}\n  idle: {mem: 5}\n"),
    },
    "inline-with-problems-beside-valid": {
        "specs/a.yaml": env("apps:\n  web: {cmd: x, imgae: y}\n  db: {cmd: x, mem: lots}\n  ok: {cmd: x}\n"
                            "  empty:\n  values-only: {cmd: x, values: {a: 1}}\n"),
    },
}


def outcome(specs: Path) -> Desired | list[SpecProblem]:
    forget_loaded()
    try:
        return load_desired(specs)
    except SpecError as exc:
        return exc.problems


def both_ways(specs: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    fast = outcome(specs)
    slow_only: Callable[[Any], None] = lambda _entry: None  # noqa: E731
    with monkeypatch.context() as patch:
        patch.setattr(environments, "inline_app", slow_only)
        slow = outcome(specs)
    return fast, slow


def comparable(result: Desired | list[SpecProblem]) -> Any:
    if isinstance(result, Desired):
        return {app_id: (app.definition, app.instances, app.dependencies, app.heal, app.autoscale, app.source)
                for app_id, app in result.apps.items()}
    return result


@pytest.mark.parametrize("name", sorted(TREES))
def test_a_tree_loads_the_same_both_ways(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = both_ways(write_tree(tmp_path, TREES[name]), monkeypatch)
    assert comparable(fast) == comparable(slow)


def test_the_fast_path_is_taken_and_gives_rendered_apps(tmp_path: Path) -> None:
    forget_loaded()
    desired = load_desired(write_tree(tmp_path, TREES["inline-apps"]))
    web = desired.apps["/integration/web"].definition
    assert web["container"]["docker"]["image"] == "registry/api:1.4" and web["dependencies"] == ["/integration/db"]
    assert environments.inline_app({"cmd": "x", "mem": 5}) is not None
    assert environments.inline_app({"chart": "svc"}) is None and environments.inline_app({"cmd": "x", "mme": 1}) is None


@pytest.mark.parametrize("case", CASES + ALL_AT_ONCE, ids=lambda case: case[0])
def test_every_validation_case_gives_the_same_problems_both_ways(
    case: tuple[str, dict[str, str], Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, slow = both_ways(write_tree(tmp_path, case[1]), monkeypatch)
    assert comparable(fast) == comparable(slow)
