"""The example tree `specs/` and the charts in `charts/`: they load, they are what the docs promise,
they fit the default sandbox, and every Marathon app they render is valid for Marathon 1.7's schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reconciler.core.model import Desired
from reconciler.spec import load_desired

PROJECT = Path(__file__).resolve().parents[3]
SPECS = PROJECT / "specs"
CHARTS = PROJECT / "charts"
# The default sandbox: 3 agents x 4 cpus x 8192 MB.
AGENTS, AGENT_CPUS, AGENT_MEM = 3, 4.0, 8192.0


@pytest.fixture(scope="module")
def desired() -> Desired:
    return load_desired(SPECS)


@pytest.fixture(scope="module")
def app_schema(reference_dir: Path) -> jsonschema.Draft4Validator:
    schema = json.loads((reference_dir / "marathon/schema/json-schema/v1.7.236/AppDefinition.json").read_text())
    return jsonschema.Draft4Validator(schema)


def _schema_errors(validator: jsonschema.Draft4Validator, body: Any) -> list[str]:
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(body)]


def test_every_rendered_app_is_a_valid_marathon_app_definition(
    desired: Desired, app_schema: jsonschema.Draft4Validator
) -> None:
    assert len(desired.apps) >= 10
    for app_id, app in desired.apps.items():
        body = json.loads(json.dumps(app.definition))
        assert _schema_errors(app_schema, body) == [], app_id


def test_controller_chart_renders_a_valid_two_instance_app(
    tmp_path: Path, app_schema: jsonschema.Draft4Validator
) -> None:
    spec = tmp_path / "platform.yaml"
    spec.write_text(
        "apiVersion: reconciler/v1\nkind: Environment\nname: platform\n"
        "apps:\n  reconciler: {chart: marathon-reconciler, values: {specsHostPath: /srv/specs}}\n"
    )
    desired = load_desired(spec, charts_dir=CHARTS)
    body = json.loads(json.dumps(desired.apps["/platform/reconciler"].definition))
    assert _schema_errors(app_schema, body) == []
    assert body["instances"] == 2
    assert body["cmd"].startswith("reconciler run /specs")
    assert body["healthChecks"][0]["protocol"] == "HTTP"
    assert ["hostname", "UNIQUE"] in body["constraints"]
    assert body["container"]["volumes"] == [{"containerPath": "/specs", "hostPath": "/srv/specs", "mode": "RO"}]


def test_integration_runs_the_whole_shop_from_charts(desired: Desired) -> None:
    integration = desired.environments["integration"]
    assert integration.base is None
    assert set(integration.apps) == {
        "zookeeper",
        "mysql",
        "redis",
        "user-api",
        "order-api",
        "payment-api",
        "web",
        "nginx",
    }
    for name in integration.apps:
        app = desired.apps[f"/integration/{name}"]
        assert app.definition.get("healthChecks"), f"{name} has no health check"
    assert desired.apps["/integration/nginx"].dependencies == ("/integration/web",)
    assert "/integration/mysql" in desired.apps["/integration/user-api"].dependencies


def test_example_uses_three_or_four_charts() -> None:
    used = set()
    for path in SPECS.glob("*.yaml"):
        used |= {
            line.split("chart:")[1].split(",")[0].strip(" }")
            for line in path.read_text().splitlines()
            if "chart:" in line
        }
    assert 3 <= len(used) <= 4, used
    assert all((CHARTS / name / "Chart.yaml").is_file() for name in used)


def test_functional_sets_override_an_image_tag_and_run_an_own_dependency(desired: Desired) -> None:
    functional = [env for env in desired.environments.values() if env.base == "integration"]
    assert len(functional) == 2
    for env in functional:
        images = {
            name: desired.apps[f"{env.group}/{name}"].definition["container"]["docker"]["image"] for name in env.apps
        }
        changed = [name for name, image in images.items() if image != _image(desired, f"/integration/{name}")]
        same = [name for name in env.apps if name not in changed]
        assert 1 <= len(changed) <= 2, (env.name, images)
        assert len(same) == 1, f"{env.name} should run exactly one own dependency unchanged"
        assert any(f"{env.group}/{same[0]}" in desired.apps[f"{env.group}/{name}"].dependencies for name in changed)
        assert len(env.apps) < len(desired.environments["integration"].apps)


def _image(desired: Desired, app_id: str) -> str:
    return str(desired.apps[app_id].definition["container"]["docker"]["image"])


def test_example_fits_the_default_sandbox(desired: Desired) -> None:
    cpus = sum(app.definition["cpus"] * app.instances for app in desired.apps.values())
    mem = sum(app.definition["mem"] * app.instances for app in desired.apps.values())
    assert cpus <= AGENTS * AGENT_CPUS / 2, cpus  # half the cluster: room for autoscaling and rolling upgrades
    assert mem <= AGENTS * AGENT_MEM / 2, mem
    for app in desired.apps.values():
        assert 0.1 <= app.definition["cpus"] <= 0.5 and 128 <= app.definition["mem"] <= 512, app.app_id
        if ["hostname", "UNIQUE"] in app.definition.get("constraints", []):
            assert app.instances <= AGENTS, app.app_id
        if app.autoscale:
            assert app.autoscale.max_instances * app.definition["cpus"] <= AGENT_CPUS


def test_example_callers_name_peers_by_srv_never_by_a_guessed_port(desired: Desired) -> None:
    """A task's port is the agent's, picked at launch: a `name:port` or URL with a port for a peer can
    never be right. Every variable that names a peer app is a `*_SRV` DNS name (docs/dns.md)."""
    peers = {app.name for app in desired.apps.values()}
    named = 0
    for app_id, app in desired.apps.items():
        for key, value in (app.definition.get("env") or {}).items():
            host = str(value).split("://")[-1].split(":")[0].split("/")[0]
            if host in peers:
                assert key.endswith("_SRV") and value == host, f"{app_id}: {key}={value}"
                named += 1
    assert named >= 10
