"""A chart's values.schema.json (as Helm's): a value of the wrong type or outside its choices is an invalid
spec naming the file:line where it was written (the app's values, the environment's, or values.yaml),
before the template makes something else of it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from reconciler.spec import load_desired
from tests.unit.spec.spec_tree import HEADER, problems_of, render

PROJECT = Path(__file__).resolve().parents[3]
SCHEMA = {
    "type": "object",
    "required": ["kind"],
    "properties": {"kind": {"enum": ["redis", "mysql"]}, "mem": {"type": "integer", "minimum": 16}},
}
CHART = {
    "charts/store/Chart.yaml": "name: store\nversion: 1.0.0\n",
    "charts/store/values.yaml": "kind: redis\nmem: 64\n",
    "charts/store/values.schema.json": json.dumps(SCHEMA),
    "charts/store/templates/app.yaml": 'image: "{{ values.kind }}"\ncpus: 0.1\nmem: {{ values.mem }}\n',
}


def tree(spec: str, **changed: str) -> dict[str, str]:
    return {**CHART, **{f"charts/store/{name.replace('_', '.')}": text for name, text in changed.items()},
            "specs/shop.yaml": HEADER + spec}


def test_an_app_value_outside_the_choices_is_named_where_the_app_writes_it(tmp_path: Path) -> None:
    spec = "name: shop\napps:\n  cache:\n    chart: store\n    values: {kind: redsi}\n"
    [problem] = problems_of(tmp_path, tree(spec))
    assert (problem.file, problem.line, problem.field) == (f"{tmp_path}/specs/shop.yaml", 7, "apps.cache.values.kind")
    assert problem.message == "chart 'store' refuses the value: 'redsi' is not one of ['redis', 'mysql']"
    assert problem.hint == f"see {tmp_path}/charts/store/values.schema.json"


def test_an_environment_value_of_the_wrong_type_is_named_in_the_environment(tmp_path: Path) -> None:
    spec = "name: shop\nvalues:\n  mem: '512'\napps:\n  cache: {chart: store}\n  db: {chart: store}\n"
    [problem] = problems_of(tmp_path, tree(spec))  # one place, however many apps read it
    assert (problem.line, problem.field) == (5, "values.mem"), problem.render()
    assert "'512' is not of type 'integer'" in problem.message


def test_a_default_the_schema_refuses_is_named_in_values_yaml(tmp_path: Path) -> None:
    spec = "name: shop\napps:\n  cache: {chart: store}\n"
    [problem] = problems_of(tmp_path, tree(spec, values_yaml="kind: redis\nmem: 8\n"))
    assert (problem.file, problem.line, problem.field) == (f"{tmp_path}/charts/store/values.yaml", 2, "mem")
    assert "8 is less than the minimum of 16" in problem.message


def test_a_schema_that_is_not_json_or_not_a_schema_is_a_problem_of_its_file(tmp_path: Path) -> None:
    spec = "name: shop\napps:\n  cache: {chart: store}\n"
    broken, app = problems_of(tmp_path / "a", tree(spec, values_schema_json='{"type": "object",\n "x": }'))
    assert "chart 'store' has problems" in app.message  # the app that cannot render says why
    assert (broken.file, broken.line) == (f"{tmp_path}/a/charts/store/values.schema.json", 2), broken.render()
    assert broken.message.startswith("invalid JSON: ")
    wrong, _ = problems_of(tmp_path / "b", tree(spec, values_schema_json='{"type": 5}'))
    assert wrong.message.startswith("not a valid JSON Schema: 5 is not valid"), wrong.render()


def test_values_the_schema_allows_render(tmp_path: Path) -> None:
    spec = "name: shop\napps:\n  cache: {chart: store, values: {kind: mysql, mem: 128}}\n"
    app = render(tmp_path, tree(spec)).apps["/shop/cache"]
    assert (app.definition["container"]["docker"]["image"], app.definition["mem"]) == ("mysql", 128)


def test_the_example_datastore_chart_names_a_mistyped_kind_where_it_is_written(tmp_path: Path) -> None:
    shutil.copytree(PROJECT / "specs", tmp_path / "specs")
    shutil.copytree(PROJECT / "charts", tmp_path / "charts")
    path = tmp_path / "specs" / "integration.yaml"
    lines = path.read_text().splitlines()
    line = lines.index("    values: {kind: redis}") + 1
    path.write_text(path.read_text().replace("values: {kind: redis}", "values: {kind: redsi}"))
    [problem] = problems_of(tmp_path, {})
    assert (problem.file, problem.line, problem.field) == (str(path), line, "apps.redis.values.kind")
    assert "'redsi' is not one of ['redis', 'mysql', 'zookeeper']" in problem.message
    load_desired(PROJECT / "specs")  # the example tree itself satisfies its charts' schemas


def test_a_tree_whose_charts_have_no_schema_never_imports_jsonschema(tmp_path: Path) -> None:
    """jsonschema costs about 0.1 s of a cold command's start: only a chart with a values schema pays it."""
    import subprocess
    import sys

    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "a.yaml").write_text(HEADER + "name: integration\napps:\n  web: {image: w}\n", encoding="utf-8")
    probe = (
        "import sys\nfrom pathlib import Path\nfrom reconciler.spec import load_desired\nimport reconciler.cli.plan\n"
        f"assert load_desired(Path({str(specs)!r})).apps\nprint('jsonschema' in sys.modules)\n"
    )
    answer = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert answer.stdout.strip() == "False", answer.stderr


def test_values_the_schema_accepted_once_are_not_validated_again_in_one_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A validation is about 0.1 ms: 10,000 apps of one chart share a few distinct values."""
    from jsonschema import Draft202012Validator

    validated: list[object] = []
    iter_errors = Draft202012Validator.iter_errors

    def counted(self: Draft202012Validator, instance: object) -> object:
        validated.append(instance)
        return iter_errors(self, instance)

    monkeypatch.setattr(Draft202012Validator, "iter_errors", counted)
    apps = "".join(f"  a{n}: {{chart: store, values: {{mem: {64 if n % 2 else 128}}}}}\n" for n in range(6))
    apps += "  bad: {chart: store, values: {kind: redsi}}\n  worse: {chart: store, values: {kind: redsi}}\n"
    problems = problems_of(tmp_path, tree("name: shop\napps:\n" + apps))
    assert sorted(p.field for p in problems) == ["apps.bad.values.kind", "apps.worse.values.kind"]
    values = [instance for instance in validated if instance != SCHEMA]  # not the schema's own check
    assert len(values) == 4  # mem 64, mem 128, and each refusal (a refusal is reported where it is written)


def test_the_hint_carries_the_description_of_the_rule_that_refused(tmp_path: Path) -> None:
    """`does not match '^/[A-Za-z0-9._/-]*$'` says what is wrong; the rule's description says what to write."""
    schema = {"type": "object", "properties": {"kind": {"enum": ["redis", "mysql"]},
                                               "mem": {"type": "integer", "description": "MiB, a whole number"}}}
    spec = "name: shop\napps:\n  cache:\n    chart: store\n    values: {mem: lots}\n"
    [problem] = problems_of(tmp_path, tree(spec, values_schema_json=json.dumps(schema)))
    assert problem.hint == f"see {tmp_path}/charts/store/values.schema.json: MiB, a whole number"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("dbPassword: Hunter2-NOT", "'***' does not match '^[a-z]+$'"),  # the name says it is a secret
        ("dsn: 'postgres://app:Hunter2-NOT@db/x'", "'postgres://***@db/x' does not match '^[a-z]+$'"),
    ],
)
def test_a_refused_secret_value_is_not_quoted(tmp_path: Path, value: str, shown: str) -> None:
    """A spec problem reaches logs, /status and the invalid-commit notification: the schema's message quotes
    the value, but not a secret's (core/masking.py)."""
    schema = {**SCHEMA, "properties": {**SCHEMA["properties"], "dbPassword": {"pattern": "^[a-z]+$"},
                                       "dsn": {"pattern": "^[a-z]+$"}}}
    spec = f"name: shop\napps:\n  cache:\n    chart: store\n    values: {{{value}}}\n"
    values = "kind: redis\nmem: 64\ndbPassword: abc\ndsn: abc\n"
    [problem] = problems_of(tmp_path, tree(spec, values_schema_json=json.dumps(schema), values_yaml=values))
    assert problem.message == f"chart 'store' refuses the value: {shown}"
    assert "Hunter2-NOT" not in problem.render()
