"""`--env X` on a tree where another environment is broken: the load still fails (the controller applies a
commit whole), and the error says which environment is broken, where, and why X does not skip it."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import SpecError
from reconciler.spec import env_scope, load_desired
from reconciler.spec.scope import scope_hint
from tests.unit.spec.spec_tree import HEADER, SVC_CHART, write_tree

SHOP = HEADER + "name: shop\napps:\n  web: {image: web, cpus: 0.1, mem: 64}\n"
BROKEN_LAB = HEADER + "name: lab\napps:\n  db:\n    image: db\n    cpus: lots\n"
SETS = """\
apiVersion: reconciler/v1
kind: FunctionalSet
base: shop
sets:
  func-a:
    apps:
      web: {instances: 1}
  func-b:
    imgae: x
"""


def failure(root: Path, files: dict[str, str], env: str | None) -> SpecError:
    with pytest.raises(SpecError) as raised:
        load_desired(write_tree(root, files), env=env)
    return raised.value


def test_a_broken_environment_fails_env_of_another_naming_it_with_its_line(tmp_path: Path) -> None:
    error = failure(tmp_path, {"specs/shop.yaml": SHOP, "specs/lab.yaml": BROKEN_LAB}, env="shop")
    assert [(p.file.endswith("lab.yaml"), p.line, p.field) for p in error.problems] == [(True, 7, "apps.db.cpus")]
    assert error.hint is not None
    assert error.hint.startswith(f"--env shop does not skip environment lab ({tmp_path}/specs/lab.yaml:7)")
    assert "applies a commit whole" in error.hint
    assert str(error).splitlines()[-1] == error.hint  # a line of its own after the problems


def test_a_broken_set_is_named_by_its_own_name_not_its_documents_other_sets(tmp_path: Path) -> None:
    error = failure(tmp_path, {"specs/shop.yaml": SHOP, "specs/sets.yaml": SETS}, env="func-a")
    assert error.hint is not None and "environment func-b (" in error.hint and "func-a (" not in error.hint


def test_the_environments_own_problems_need_no_word_on_scope(tmp_path: Path) -> None:
    error = failure(tmp_path, {"specs/shop.yaml": SHOP, "specs/lab.yaml": BROKEN_LAB}, env="lab")
    assert error.hint is None


def test_without_env_the_error_is_the_problems_alone(tmp_path: Path) -> None:
    error = failure(tmp_path, {"specs/shop.yaml": SHOP, "specs/lab.yaml": BROKEN_LAB}, env=None)
    assert error.hint is None and str(error) == error.problems[0].render()


def test_a_file_that_does_not_parse_may_declare_any_environment(tmp_path: Path) -> None:
    files = {"specs/shop.yaml": SHOP, "specs/lab.yaml": HEADER + "name: lab\napps: [\n"}
    error = failure(tmp_path, files, env="shop")
    assert error.hint is not None
    assert "does not skip a file that does not load (it may declare any environment) (" in error.hint


def test_a_chart_problem_is_the_environment_of_the_app_it_renders(tmp_path: Path) -> None:
    files = {
        **SVC_CHART,
        "charts/svc/templates/app.yaml": SVC_CHART["charts/svc/templates/app.yaml"] + "env: {X: '{{ values.nope }}'}\n",
        "specs/shop.yaml": SHOP,
        "specs/lab.yaml": HEADER + "name: lab\napps:\n  api: {chart: svc}\n",
    }
    # The spec layer renders `shop` alone here; plan and apply render the whole tree first (cli/plan.py).
    with pytest.raises(SpecError) as raised, env_scope("shop"):
        load_desired(write_tree(tmp_path, files))
    error = raised.value
    assert [p.field for p in error.problems] == ["lab/api"]
    assert error.hint is not None and "environment lab (" in error.hint and "templates/app.yaml:5" in error.hint


def test_a_chart_file_problem_is_not_blamed_on_another_environment(tmp_path: Path) -> None:
    # A chart's values.yaml may serve `shop` too: the problem names the file; no environment is accused.
    files = {
        **SVC_CHART,
        "charts/svc/values.yaml": "image: svc\ntag: '1.0'\nport: 8080\nextra: [\n",
        "specs/shop.yaml": HEADER + "name: shop\napps:\n  api: {chart: svc}\n",
    }
    error = failure(tmp_path, files, env="shop")
    assert error.hint is None, error.hint
    other = scope_hint(error.problems, "elsewhere")  # for another environment: shop's app that cannot render
    assert other is not None and "environment shop (" in other and "a file that does not load" not in other, other
