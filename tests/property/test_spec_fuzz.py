"""Fuzz: the example tree (specs/ and charts/) mutated the way people and tools break files (keys
removed or added, wrong types, huge and non-finite numbers, hostile strings, YAML oddities, template
syntax errors). `validate` and `render` through the real CLI end in exit 0 with apps that have an
absolute id, or exit 3 with problems that each name a file of the tree; never another exit code,
never a traceback, and every case in seconds.

Not generated here: templates that compute without bound (`{{ 7 ** (10**7) }}`); bounding template
CPU time is the template engine's own check (issue 7, item 5), tested with the charts.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from reconciler.cli.main import app
from reconciler.errors import ReconcilerError, SpecError
from reconciler.spec.source import parse_documents

PROJECT = Path(__file__).resolve().parents[2]
runner = CliRunner()
SECONDS_PER_CASE = 20.0  # generous for a loaded 2-core CI machine; a case takes well under 1 s alone

HOSTILE_TEXT = [
    "", " ", "-", "~", "null", "yes", "on", "1e400", "-0", "0x1f", ".inf", ".nan", "1:20", "2024-01-01",
    '1"\ncmd: "rm -rf /', "a: b", "# c", "{x}", "[x]", "&a", "*a", "!x", "|", ">", "%", "@", "`", "{{ x }}",
    "{% if %}", "\t", "\x00", "\u202e", "é", "😀", "a" * 300, "/..", "//dbl", "/a/", "Bad_Name", "tasks", "..",
]  # fmt: skip
HOSTILE_NUMBERS = [
    0, -1, 1, 2**31, 2**63, 10**20, 10**400, -(10**30), 0.5, -0.0, 1e308, 1e-308, float("inf"), float("nan"),
]  # fmt: skip
YAML_ODDITIES = [
    "x: !!python/object/apply:os.system ['echo fuzz']", "x: !!binary aGVsbG8=", "x: !custom 1", "x: !!set {a, b}",
    "x: &r [*r]", "x: *undefined", "? [a, b]\n: 1", "x: [1", "x: {a: 1", "\tx: 1", "x: 'unclosed", "---", "...",
    "%YAML 1.1", "x: !!timestamp 2024-01-01", "x: &a 1\ny: &a 2", "<<: *nothing", "x: |\n bad\nindent",
    "x: 1\nx: 2", "- a\nb: c", "\ufeffx: 1", "x: " + "[" * 100 + "]" * 100,
]  # fmt: skip
TEMPLATE_ODDITIES = [
    "{{", "}}", "{% if values.x %}", "{% endif %}", "{% for a in values %}", "{{ values.nope.deeper }}",
    "{{ values | json }}", "{{ undefined_function() }}", "{# open comment", "{{ 1 / 0 }}", "{% raw %}",
    "{{ values.image * 3 }}", "{% set x = %}", "{{ range(10) | list }}", "{{ '\"' }}", "{{ app }}: {{ env }}",
]  # fmt: skip

scalars = st.one_of(
    st.none(), st.booleans(), st.sampled_from(HOSTILE_NUMBERS), st.sampled_from(HOSTILE_TEXT), st.text(max_size=10)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(HOSTILE_TEXT[:20]), inner, max_size=3),
    max_leaves=6,
)


@dataclass(frozen=True)
class Mutation:
    """One change to one file: `kind` says what, `where` picks the place (an index into what exists)."""

    file: int
    kind: str
    where: int
    value: Any
    text: str


mutations = st.builds(
    Mutation,
    file=st.integers(min_value=0, max_value=10**6),
    kind=st.sampled_from(["remove", "replace", "add", "yaml-text", "template-text", "truncate"]),
    where=st.integers(min_value=0, max_value=10**6),
    value=values,
    text=st.one_of(st.sampled_from(YAML_ODDITIES), st.sampled_from(TEMPLATE_ODDITIES), st.sampled_from(HOSTILE_TEXT)),
)


def tree_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file() and path.suffix in (".yaml", ".yml"))


def data_nodes(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path inside `data`, root first."""
    paths = [path]
    if isinstance(data, dict):
        for key, value in data.items():
            paths += data_nodes(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            paths += data_nodes(value, (*path, index))
    return paths


def mutate_data(data: Any, mutation: Mutation) -> Any:
    paths = data_nodes(data)
    path = paths[mutation.where % len(paths)]
    if not path:
        return mutation.value if mutation.kind == "replace" else data
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if mutation.kind == "remove":
        del parent[last]
    elif mutation.kind == "replace":
        parent[last] = mutation.value
    elif isinstance(parent, dict):
        parent[str(mutation.text)[:20] or "extra"] = mutation.value
    else:
        parent.insert(last, mutation.value)
    return data


def apply_mutation(root: Path, mutation: Mutation) -> Path:
    files = tree_files(root)
    path = files[mutation.file % len(files)]
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    if mutation.kind in ("yaml-text", "template-text"):
        lines.insert(mutation.where % (len(lines) + 1), mutation.text)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif mutation.kind == "truncate":
        path.write_text(text[: mutation.where % (len(text) + 1)], encoding="utf-8")
    elif "templates" not in path.parts:  # a template is not YAML before it renders: text mutations only
        problems: list[Any] = []
        documents = parse_documents(text, str(path), problems)
        if documents:
            data = [mutate_data(document.data, mutation) for document in documents]
            dumped = yaml.safe_dump_all(data, allow_unicode=True, sort_keys=False)
            path.write_text(dumped, encoding="utf-8")
    return path


def invoke(*args: str) -> tuple[int, str]:
    """The exit code `reconciler` would give (as reconciler.cli.main:main maps errors) and the output."""
    result = runner.invoke(app, list(args))
    error = result.exception
    if error is None or isinstance(error, SystemExit):
        return result.exit_code, result.output
    if isinstance(error, ReconcilerError):
        assert not isinstance(error, SpecError) or error.problems, "a SpecError names its problems"
        return int(error.exit_code), result.output + str(error)
    raise AssertionError(f"`reconciler {' '.join(args)}` raised {error!r}") from error


@settings(
    max_examples=40,
    deadline=timedelta(seconds=SECONDS_PER_CASE * 2),
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(st.lists(mutations, min_size=1, max_size=3))
def test_a_mutated_example_tree_is_valid_or_invalid_naming_a_file_never_a_crash(changes: list[Mutation]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        shutil.copytree(PROJECT / "specs", root / "specs")
        shutil.copytree(PROJECT / "charts", root / "charts")
        touched = [apply_mutation(root, change) for change in changes]
        started = time.monotonic()
        code, output = invoke("validate", str(root / "specs"))
        assert code in (0, 3), (code, output, touched)
        if code == 3:
            event("invalid")
            named = [line for line in output.splitlines() if line.startswith(str(root))]
            assert named, f"no problem names a file of the tree: {output}"
        else:
            event("valid")
            rendered, output = invoke("render", str(root / "specs"), "--format", "marathon-json")
            assert rendered == 0, output
            bodies = json.loads(output)
            assert bodies and all(str(body["id"]).startswith("/") for body in bodies)
        assert time.monotonic() - started < SECONDS_PER_CASE, f"a case took too long: {touched}"
