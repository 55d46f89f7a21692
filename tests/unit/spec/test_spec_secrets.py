"""Marathon secrets in spec files (spec layer): `secrets` with a `source`, env values `{secret: <name>}`,
validated with file:line problems and hints, rendered to Marathon's JSON (`secrets`, EnvVarSecretRef), and
secret volumes refused as not supported yet. The docs/spec.md examples of the section run here."""

from __future__ import annotations

import contextlib
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from reconciler.cli.main import app as cli_app
from reconciler.errors import SpecError
from reconciler.spec import load_desired, spec_json_schema
from tests.unit.test_docs_examples import block

HEADER = "apiVersion: reconciler/v1\nkind: Environment\nname: shop\ndns: {domain: consul}\napps:\n"
DOC_APP = "docs/spec.md: orders-api:"
DOC_PROBLEM = ("docs/spec.md: specs/shop.yaml:14: apps.orders-api.env.DB_PASSWORD.secret: env DB_PASSWORD: secret "
               "'db-pasword' is not declared in the app's `secrets` (hint: did you mean 'db-password', or declare "
               "it: `secrets: {db-pasword: {source: <path in the secret store>}}`)")


def tree(tmp_path: Path, apps: str) -> Path:
    (tmp_path / "specs").mkdir(exist_ok=True)
    (tmp_path / "specs" / "shop.yaml").write_text(HEADER + textwrap.indent(apps, "  "), encoding="utf-8")
    return tmp_path / "specs"


def problems(tmp_path: Path, apps: str) -> list[str]:
    with pytest.raises(SpecError) as raised:
        load_desired(tree(tmp_path, apps))
    return [f"{p.line}: {p.field}: {p.message} (hint: {p.hint})" for p in raised.value.problems]


def test_the_documented_app_renders_marathons_secrets_and_env_secret_reference(tmp_path: Path) -> None:
    app = load_desired(tree(tmp_path, block(DOC_APP).text)).apps["/shop/orders-api"]
    assert app.definition["secrets"] == {"db-password": {"source": "/shop/orders/db-password"}}
    assert app.definition["env"] == {"DB_USER": "orders", "DB_PASSWORD": {"secret": "db-password"}}
    json.dumps(app.definition)  # plain JSON, as it goes to Marathon


def test_validate_prints_the_documented_problem(tmp_path: Path) -> None:
    text = block(DOC_APP).text.replace("{secret: db-password}", "{secret: db-pasword}")
    tree(tmp_path, text)
    with contextlib.chdir(tmp_path):
        result = CliRunner().invoke(cli_app, ["validate", "specs"], env={"COLUMNS": "1000"})
    assert result.exit_code == 3, result.output
    assert block(DOC_PROBLEM).text.strip() in result.output.splitlines()


@pytest.mark.parametrize(
    ("apps", "expected"),
    [
        ("a: {cmd: x, env: {P: {secret: nope}}}",
         "6: apps.a.env.P.secret: env P: secret 'nope' is not declared in the app's `secrets` (hint: declare it: "
         "`secrets: {nope: {source: <path in the secret store>}}`)"),
        ("a: {cmd: x, secrets: {s: {source: ''}}}",
         "6: apps.a.secrets.s.source: a secret's `source` is empty (hint: write the secret's path in the secret "
         "store: `source: /shop/db/password`)"),
        ("a: {cmd: x, secrets: {s: {}}}", "6: apps.a.secrets.s.source: Field required (hint: add the field)"),
        ("a: {cmd: x, secrets: {s: {source: /x, sorce: /y}}}",
         "6: apps.a.secrets.s.sorce: unknown key 'sorce' (hint: did you mean 'source'?)"),
        ("a: {cmd: x, secrets: {'': {source: /x}}}",
         "6: apps.a.secrets.: a secret without a name: Marathon refuses it (`must not be empty`) (hint: name the "
         "secret (`db-password: {source: ...}`): env variables reference it by that name)"),
        ("a: {cmd: x, env: {P: {secret: ''}}, secrets: {s: {source: /x}}}",
         "6: apps.a.env.P.secret: the secret reference names no secret (hint: write the name of one of the app's "
         "`secrets`: `{secret: db-password}`)"),
        ("a: {cmd: x, env: {P: {secrte: s}}, secrets: {s: {source: /x}}}",
         "6: apps.a.env.P.secrte: unknown key 'secrte' (hint: did you mean 'secret'?)"),
        ("a: {cmd: x, env: {P: [1]}}",
         "6: apps.a.env.P: an env value is text or a secret reference `{secret: <name>}` (hint: write the value as "
         "text (quote it), or `{secret: <name in secrets>}` to take it from a declared secret)"),
        ("a: {cmd: x, secrets: {s: {source: /x}}, volumes: [{containerPath: /run/s, secret: s}]}",
         "6: apps.a.volumes[0]: secret volumes are not supported yet: the reconciler writes, compares and emulates "
         "secrets in env only (hint: take the secret in an environment variable: `env: {NAME: {secret: <name in "
         "secrets>}}`)"),
    ],
    ids=["undeclared", "empty-source", "no-source", "source-typo", "empty-name", "empty-reference",
         "reference-typo", "list-value", "secret-volume"],
)
def test_bad_secrets_are_problems_at_their_line_with_a_hint(tmp_path: Path, apps: str, expected: str) -> None:
    assert expected in problems(tmp_path, apps + "\n")


def test_numbers_and_booleans_are_still_text_beside_references(tmp_path: Path) -> None:
    text = "a: {cmd: x, env: {N: 8080, B: true, S: {secret: s}}, secrets: {s: {source: /x}}}\n"
    app = load_desired(tree(tmp_path, text))
    assert app.apps["/shop/a"].definition["env"] == {"N": "8080", "B": "true", "S": {"secret": "s"}}


def test_a_functional_set_overrides_a_reference_key_by_key(tmp_path: Path) -> None:
    base = "a: {cmd: x, env: {P: {secret: s}}, secrets: {s: {source: /prod/x}, t: {source: /func/x}}}\n"
    specs = tree(tmp_path, base)
    (specs / "func.yaml").write_text(
        "apiVersion: reconciler/v1\nkind: FunctionalSet\nbase: shop\nsets:\n  func-1:\n    dns: {domain: consul}\n"
        "    apps:\n      a: {env: {P: {secret: t}}}\n", encoding="utf-8")
    definition: dict[str, Any] = load_desired(specs).apps["/func-1/a"].definition
    assert definition["env"] == {"P": {"secret": "t"}}
    assert definition["secrets"] == {"s": {"source": "/prod/x"}, "t": {"source": "/func/x"}}


def test_the_schema_describes_secrets_and_references() -> None:
    schema = spec_json_schema()
    definitions = schema["$defs"]
    assert definitions["SecretSpec"]["required"] == ["source"]
    assert definitions["SecretSpec"]["properties"]["source"]["minLength"] == 1
    assert definitions["EnvSecretRef"]["required"] == ["secret"]
    env = definitions["AppEntry"]["properties"]["env"]["anyOf"][0]["additionalProperties"]
    assert {"$ref": "#/$defs/EnvSecretRef"} in env["oneOf"] and {"type": "string"} in env["oneOf"]
