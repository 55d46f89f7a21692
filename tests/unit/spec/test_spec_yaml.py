"""Spec YAML is plain data: what scalars mean, which tags and aliases are refused (with their line),
the size limit of a file, and files that change or vanish while a tree is read."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import yaml

from reconciler.errors import SpecError, SpecProblem
from reconciler.sources.folder import folder_revision
from reconciler.spec import load_desired, load_specs
from reconciler.spec.load import MAX_BYTES_VARIABLE, forget_loaded, spec_files
from reconciler.spec.plain import MAX_DEPTH, MAX_NODES, Plain, plain_loader
from reconciler.spec.source import parse_documents, read_documents
from tests.unit.spec.spec_tree import HEADER, problems_of

PROJECT = Path(__file__).resolve().parents[3]


def parsed(text: str) -> tuple[list[object], list[SpecProblem]]:
    problems: list[SpecProblem] = []
    return [document.data for document in parse_documents(text, "a.yaml", problems)], problems


def only_problem(text: str) -> SpecProblem:
    documents, problems = parsed(text)
    assert documents == [] and len(problems) == 1, (documents, [p.render() for p in problems])
    return problems[0]


def test_scalars_follow_yaml_1_2_core_schema() -> None:
    text = (
        "text: [yes, no, on, off, y, n, '~', nothing, 2024-01-01, 1:20, 0x1g]\n"
        "bools: [true, False, TRUE]\nnulls: [~, null, NULL]\nempty:\n"
        "ints: [010, 0o17, 0x1f, 0b101, 1_000, -3, +4]\nfloats: [1.5, 1e3, .5, -.inf]\n"
        "quoted: ['true', \"12\", !!str 13]\ntyped: [!!int '14', !!float '2', !!bool 'false', !!null '']\n"
    )
    documents, problems = parsed(text)
    assert problems == []
    assert documents == [
        {
            "text": ["yes", "no", "on", "off", "y", "n", "~", "nothing", "2024-01-01", "1:20", "0x1g"],
            "bools": [True, False, True],
            "nulls": [None, None, None],
            "empty": None,
            "ints": [10, 15, 31, 5, 1000, -3, 4],
            "floats": [1.5, 1000.0, 0.5, float("-inf")],
            "quoted": ["true", "12", "13"],
            "typed": [14, 2.0, False, None],
        }
    ]
    assert [type(value) for value in documents[0]["ints"]] == [int] * 7  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "line", "tag"),
    [
        ("a: 1\nb: !!python/object/apply:os.system ['echo hacked']\n", 2, "!!python/object/apply:os.system"),
        ("a:\n  b: !!binary aGVsbG8=\n", 2, "!!binary"),
        ("a: !custom x\n", 1, "!custom"),
        ("a: !!set {x, y}\n", 1, "!!set"),
        ("a: !!timestamp 2024-01-01\n", 1, "!!timestamp"),
        ("a: !!omap [{x: 1}]\n", 1, "!!omap"),
        ("a: !custom {x: 1}\n", 1, "!custom"),
        ("a: !!python/name:os.system\n", 1, "!!python/name:os.system"),
    ],
)
def test_a_foreign_tag_is_refused_with_its_line(text: str, line: int, tag: str) -> None:
    problem = only_problem(text)
    assert problem.line == line, problem.render()
    assert f"the YAML tag '{tag}' is not plain data" in problem.message


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [("a: &a [1, *a]\n", 1, "a[1]"), ("x: 1\nb: &b\n  c: *b\n", 3, "b.c"), ("k: &k {k: [{k: *k}]}\n", 1, "k.k[0].k")],
)
def test_a_recursive_alias_is_refused_with_its_line(text: str, line: int, field: str) -> None:
    problem = only_problem(text)
    assert "a recursive alias" in problem.message
    assert (problem.line, problem.field) == (line, field)


def test_a_billion_laughs_document_is_refused_quickly() -> None:
    levels = "".join(f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]\n" for n in range(1, 10))
    started = time.monotonic()
    problem = only_problem("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + levels)
    assert f"expands to more than {MAX_NODES} nodes" in problem.message
    assert time.monotonic() - started < 20  # bounded by MAX_NODES, not by the 10**9 nodes it describes


def test_aliases_and_merge_keys_of_plain_data_work() -> None:
    documents, problems = parsed("base: &b {x: 1, y: [1, 2]}\nk:\n  <<: *b\n  y: [3]\nl: *b\n")
    assert problems == []
    assert documents == [{"base": {"x": 1, "y": [1, 2]}, "k": {"x": 1, "y": [3]}, "l": {"x": 1, "y": [1, 2]}}]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("? [a, b]\n: 1\n", "a mapping key must be a scalar"),
        ("a: " + "[" * 200 + "]" * 200 + "\n", "nested deeper than"),
        ("a: &x 1\nb: &x 2\n", "duplicate anchor"),
        ("a: !!int twelve\n", "'twelve' is not a valid int"),
    ],
)
def test_other_non_plain_yaml_is_a_problem_not_a_crash(text: str, message: str) -> None:
    problem = only_problem(text)
    assert message in problem.message, problem.render()
    assert problem.line is not None


def test_libyaml_and_pure_python_give_the_same_data() -> None:
    assert yaml.__with_libyaml__, "PyYAML is installed without libyaml: spec loading takes the slow path"
    for path in sorted((PROJECT / "specs").glob("*.yaml")):
        text = path.read_text()
        fast = [Plain("f", 1).document(node) for node in yaml.compose_all(text, Loader=plain_loader())]
        pure = [Plain("f", 1).document(node) for node in yaml.compose_all(text, Loader=plain_loader(pure=True))]
        assert [data for data, _ in fast] == [data for data, _ in pure]
        assert [marks.at(("apps",)).line for _, marks in fast] == [marks.at(("apps",)).line for _, marks in pure]


def test_a_spec_file_above_the_size_limit_is_refused_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    big = specs / "big.yaml"
    big.write_text(HEADER + "name: integration\napps: {}\n" + "# padding\n" * 200)
    monkeypatch.setenv(MAX_BYTES_VARIABLE, "1000")
    with pytest.raises(SpecError) as raised:
        load_specs(specs)
    assert [(p.file, p.line) for p in raised.value.problems] == [(str(big), None)]
    assert "more than the limit of 1000 bytes" in raised.value.problems[0].message
    assert MAX_BYTES_VARIABLE in (raised.value.problems[0].hint or "")
    monkeypatch.setenv(MAX_BYTES_VARIABLE, "100000")
    assert list(load_specs(specs).environments) == ["integration"]


def test_a_file_that_vanished_is_a_problem_naming_it(tmp_path: Path) -> None:
    problems: list[SpecProblem] = []
    assert read_documents(tmp_path / "gone.yaml", "gone.yaml", problems) == []
    assert [(p.file, p.line) for p in problems] == [("gone.yaml", None)]
    assert "cannot read the file" in problems[0].message


def test_hidden_and_editor_files_are_not_specs(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    (specs / ".hidden").mkdir(parents=True)
    names = [".#a.yaml", "a.yaml~", ".a.yaml.swp", "#a.yaml#", ".hidden/b.yaml", "a.yaml.orig", "a.yaml"]
    for name in names:
        (specs / name).write_text(HEADER + "name: integration\napps: {}\n")
    assert spec_files(specs, tmp_path / "charts") == [specs / "a.yaml"]
    assert list(load_specs(specs).environments) == ["integration"]  # no "declared twice"


def test_files_changing_while_the_tree_is_read_give_problems_never_a_crash(tmp_path: Path) -> None:
    """A writer replaces, deletes and rewrites files while the tree is loaded (a `git pull`): every
    load either succeeds or raises SpecError; bounded in rounds and time."""
    specs = tmp_path / "specs"
    specs.mkdir()
    body = HEADER + "name: env-{n}\napps:\n" + "".join(f"  app-{i}: {{image: x, cpus: 0.1}}\n" for i in range(50))
    stop = threading.Event()

    def churn() -> None:
        round_ = 0
        while not stop.is_set() and round_ < 20_000:
            path = specs / f"f{round_ % 7}.yaml"
            if round_ % 3 == 2:
                path.unlink(missing_ok=True)
            else:
                # cut anywhere: partial files, as a checkout being written leaves them
                path.write_text(body.replace("{n}", str(round_ % 7))[: 40 + round_ % 900])
            sub = specs / f"sub{round_ % 2}"
            if round_ % 11 == 0:
                sub.mkdir(exist_ok=True)
                (sub / "x.yaml").write_text("a: 1\n")
            elif round_ % 11 == 5:
                (sub / "x.yaml").unlink(missing_ok=True)
                sub.rmdir() if sub.exists() else None
            round_ += 1

    writer = threading.Thread(target=churn)
    writer.start()
    outcomes = {"loaded": 0, "invalid": 0}
    deadline = time.monotonic() + 10
    try:
        for _ in range(150):
            if time.monotonic() > deadline:
                break
            forget_loaded()
            try:
                load_specs(specs)
                folder_revision(specs)
                outcomes["loaded"] += 1
            except SpecError as exc:
                assert exc.problems and all(p.file for p in exc.problems)
                outcomes["invalid"] += 1
    finally:
        stop.set()
        writer.join()
    assert outcomes["invalid"] > 0, outcomes  # the churn was seen (partial files are invalid specs)


def test_an_empty_document_between_others_is_skipped(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, {"specs/a.yaml": "---\n~\n---\n" + HEADER + "name: integration\napps: [x]\n"})
    assert [(Path(p.file).name, p.line, p.field) for p in problems] == [("a.yaml", 7, "apps")]


def test_a_file_deleted_between_listing_and_reading_is_a_spec_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exact race of a `git pull`: the file is listed, then gone when it is read."""
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "a.yaml").write_text(HEADER + "name: integration\napps: {}\n")
    doomed = specs / "b.yaml"
    doomed.write_text(HEADER + "name: staging\napps: {}\n")
    read_bytes = Path.read_bytes

    def vanishing(path: Path) -> bytes:
        if path == doomed:
            path.unlink(missing_ok=True)
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", vanishing)
    for action in (lambda: folder_revision(specs), lambda: load_specs(specs)):
        doomed.write_text(HEADER + "name: staging\napps: {}\n")
        forget_loaded()
        with pytest.raises(SpecError) as raised:
            action()
        assert [(p.file, p.line) for p in raised.value.problems] == [(str(doomed), None)]
        assert "cannot read the file" in raised.value.problems[0].message


def test_a_template_cannot_change_the_cached_specs(tmp_path: Path) -> None:
    """Parsed files and loaded trees are cached across loads (a controller's cycles): what a template
    does to its `values` must not leak into the next load."""
    from tests.unit.spec.spec_tree import SVC_CHART, write_tree

    files = {
        **SVC_CHART,
        "charts/svc/values.yaml": "image: svc\n",  # no `env`: the merge takes the environment's as it is
        "charts/svc/templates/app.yaml": "image: x\ncmd: \"{{ values.env.pop('A', 'gone') }}\"\n",
        "specs/a.yaml": HEADER + "name: integration\nvalues: {env: {A: env}}\napps:\n  web:\n    chart: svc\n",
    }
    specs = write_tree(tmp_path, files)
    forget_loaded()
    first = load_desired(specs).apps["/integration/web"].definition["cmd"]
    second = load_desired(specs).apps["/integration/web"].definition["cmd"]
    assert first == second == "env"


@pytest.mark.parametrize(
    ("opening", "closing"), [("[", "]"), ("{k: ", "}"), ("- ", "")], ids=["flow-lists", "flow-mappings", "block-lists"]
)
def test_the_depth_limit_holds_for_a_scalar_at_its_edge(opening: str, closing: str) -> None:
    """A scalar sits one level below its container: at MAX_DEPTH it is data, one level deeper a problem
    (the scalars of a mapping or a list are converted in place, not through the general path)."""

    def nested(levels: int) -> str:
        if opening == "- ":
            return "a:\n" + "".join("  " * (n + 1) + "-\n" for n in range(levels - 1)) + "  " * levels + "- 1\n"
        return "a: " + opening * levels + "1" + closing * levels + "\n"

    documents, problems = parsed(nested(MAX_DEPTH - 1))
    assert problems == [] and documents
    problem = only_problem(nested(MAX_DEPTH))
    assert f"nested deeper than {MAX_DEPTH} levels" in problem.message and problem.field.startswith("a")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("apps:\n  web: [\n    image: x\n  db: {}\n", 4,
         "invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence that starts at line 2)"),
        ("name: 'shop\napps: {}\n", 3,
         "invalid YAML: found unexpected end of stream (while scanning a quoted scalar that starts at line 1)"),
    ],
)
def test_a_yaml_error_names_the_line_where_the_unclosed_part_starts(text: str, line: int, message: str) -> None:
    # The parser finds the problem lines after the cause (an unclosed `[` or quote); before, only that later
    # line was named and the words "while parsing a flow sequence" did not say where it began.
    problem = only_problem(text)
    assert (problem.line, problem.message) == (line, message), problem.render()


def test_a_yaml_error_on_the_line_it_starts_names_one_line() -> None:
    problem = only_problem("name: shop\napps: [web, db}\n")
    assert problem.line == 2 and "starts at line" not in problem.message, problem.render()
