"""Property: whatever a spec folder holds, loading and rendering it either succeeds or raises
SpecError whose problems each name a file and say what is wrong; nothing else escapes."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from reconciler.core.model import Desired
from reconciler.errors import SpecError
from reconciler.spec import load_desired

APP_KEYS = [
    "chart", "values", "image", "cmd", "args", "cpus", "mem", "disk", "instances", "env", "labels", "ports",
    "healthChecks", "constraints", "upgradeStrategy", "backoff", "dependencies", "volumes", "fetch", "force",
    "heal", "autoscale", "network", "suffix",
]  # fmt: skip
NESTED_KEYS = [
    "protocol", "path", "portIndex", "command", "containerPort", "hostPort", "name", "min", "max", "metrics",
    "cpu", "mem", "criticalFor", "maxUnavailable", "crashLoop", "behavior", "scaleDown", "stabilizationWindow",
    "containerPath", "hostPath", "persistent", "size", "uri", "seconds", "factor", "maxLaunchDelay", "domain",
]  # fmt: skip
WORDS = ["integration", "func-1", "web", "svc", "redis", "30s", "70%", "25%", "HTTP", "COMMAND", "hostname:UNIQUE",
         "bridge", "tasks", "Bad_Name", "", "-", "{{ values.x }}", "reconciler.app", "1e9", "~", "null"]  # fmt: skip

CHART = {
    "charts/svc/Chart.yaml": "name: svc\nversion: 1.0.0\n",
    "charts/svc/values.yaml": "image: svc\nx: 1\n",
    "charts/svc/templates/app.yaml": "image: {{ values.image | json }}\ncpus: 0.1\n{% if values.extra is defined %}\n"
    "labels: {extra: {{ values.extra | string | json }}}\n{% endif %}\n",
}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(WORDS),
)
keys = st.one_of(st.sampled_from(APP_KEYS + NESTED_KEYS), st.text(max_size=8), st.sampled_from(WORDS))
anything = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4), max_leaves=12
)
app_entry = st.one_of(
    st.none(),
    anything,
    st.fixed_dictionaries({}, optional={key: anything for key in APP_KEYS}),
    st.fixed_dictionaries(
        {"chart": st.sampled_from(["svc", "nope"])}, optional={"values": anything, "instances": anything}
    ),
)
plain_names = st.sampled_from(["web", "redis", "db-1", "api"])
sound_app = st.fixed_dictionaries(
    {"image": st.sampled_from(["nginx", "redis:7"])},
    optional={
        "cpus": st.floats(min_value=0, max_value=2),
        "instances": st.integers(min_value=0, max_value=5),
        "dependencies": st.lists(plain_names, max_size=2),
        "ports": st.just([{"name": "http", "containerPort": 80}]),
        "heal": st.just({"criticalFor": "30s", "maxUnavailable": "25%"}),
    },
) | st.fixed_dictionaries(
    {"chart": st.just("svc")}, optional={"values": st.just({"extra": 1}), "instances": st.just(2)}
)
sound_environment = st.fixed_dictionaries(
    {
        "apiVersion": st.just("reconciler/v1"),
        "kind": st.just("Environment"),
        "name": st.sampled_from(["integration", "qa"]),
        "apps": st.dictionaries(plain_names, sound_app, max_size=4),
    },
    optional={"dns": st.just({"domain": "consul", "servers": ["10.0.0.2"]})},
)
app_names = st.one_of(st.sampled_from(["web", "redis", "svc", "tasks", "Bad_Name", "db-1"]), st.text(max_size=6))
apps = st.dictionaries(app_names, app_entry, max_size=4)
environment = st.fixed_dictionaries(
    {
        "apiVersion": st.sampled_from(["reconciler/v1", "reconciler/v1", "v2"]),
        "kind": st.sampled_from(["Environment", "Environment", "Other"]),
    },
    optional={
        "name": st.one_of(st.sampled_from(WORDS), scalars),
        "apps": st.one_of(apps, anything),
        "values": anything,
        "dns": st.one_of(anything, st.fixed_dictionaries({"domain": st.sampled_from(WORDS), "servers": anything})),
        "base": st.sampled_from(WORDS),
        "group": st.one_of(st.sampled_from(["/integration", "/a/b", "/", "x", "/Bad"]), scalars),
        "approval": st.sampled_from(["required", "none", "maybe"]),
        "charts": st.sampled_from(["../charts", "nowhere"]),
    },
)
functional_set = st.fixed_dictionaries(
    {
        "apiVersion": st.just("reconciler/v1"),
        "kind": st.just("FunctionalSet"),
        "base": st.sampled_from(WORDS),
        "sets": st.one_of(
            st.dictionaries(
                app_names, st.one_of(st.none(), st.fixed_dictionaries({}, optional={"apps": apps, "values": anything}))
            ),
            anything,
        ),
    }
)
document = st.one_of(sound_environment, sound_environment, environment, functional_set, anything)
file_text = st.one_of(
    st.lists(document, max_size=3).map(lambda docs: "\n---\n".join(json.dumps(doc) for doc in docs)),
    st.text(max_size=200),
    st.sampled_from(["a: [1\n", "a: 1\na: 2\n", "- x\n", "key: &a [*a]\n", "!!python/object:os.system x\n", "\t- x"]),
)


@settings(
    max_examples=int(os.environ.get("SPEC_PROPERTY_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(files=st.lists(file_text, min_size=1, max_size=3))
def test_random_spec_trees_load_or_raise_spec_error(files: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for relative, text in CHART.items():
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).write_text(text)
        (root / "specs").mkdir()
        for index, text in enumerate(files):
            (root / "specs" / f"s{index}.yaml").write_text(text, encoding="utf-8")
        try:
            result: Any = load_desired(root / "specs")
        except SpecError as exc:
            event("spec error")
            assert exc.problems
            for problem in exc.problems:
                assert problem.file and problem.message
        else:
            event("loaded")
            assert isinstance(result, Desired)
            for app in result.apps.values():
                assert app.definition["id"] == app.app_id
