"""`plan --env X` and `apply --env X` render the spec tree once and narrow it (cli/adapters.py load_both): the
same Desired of X and of the whole tree as rendering X alone and the whole tree apart, and the same error
when X, another environment or the flag is wrong (when only another one is, with a hint saying why X fails)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.cli.adapters import desired_from_folder, load_both
from reconciler.core.model import Desired
from reconciler.errors import ReconcilerError
from reconciler.spec.rendered import forget_renderings
from tests.unit.spec.spec_tree import HEADER, write_tree

EXAMPLE_SPECS = Path(__file__).resolve().parents[3] / "specs"
FUNCTIONAL = "apiVersion: reconciler/v1\nkind: FunctionalSet\nbase: base\nsets:\n  feature:\n    apps:\n"


def rendered_apart(specs: Path, env: str | None) -> tuple[Desired, Desired | None]:
    """What load_both gave before: `env` rendered alone, then the whole tree rendered again."""
    forget_renderings()
    desired = desired_from_folder(specs, env=env, charts=None)
    return desired, (desired_from_folder(specs, env=None, charts=None) if env is not None else None)


def outcome(load: object, specs: Path, env: str | None) -> object:
    """The two Desired, or the error raised: its class, message and hint."""
    forget_renderings()
    try:
        return load(specs, env)  # type: ignore[operator]
    except ReconcilerError as exc:
        return type(exc).__name__, str(exc), exc.hint


def test_the_example_tree_narrows_to_the_same_desired_for_every_environment() -> None:
    whole = desired_from_folder(EXAMPLE_SPECS, env=None, charts=None)
    assert {"integration", "func-1", "func-2"} <= set(whole.environments)
    for env in [None, *whole.environments]:
        forget_renderings()
        once = load_both(EXAMPLE_SPECS, env)
        assert once == rendered_apart(EXAMPLE_SPECS, env), env
        if env is not None:
            assert once[1] is not None and once[0].apps.keys() < once[1].apps.keys()


def test_a_functional_set_keeps_its_dependencies_on_its_base(tmp_path: Path) -> None:
    """The set's `web` depends on `db`, which only the base runs: known through the base (reached by DNS,
    no Marathon dependency), and the whole tree, which the DNS fallbacks read, holds the base's `db`."""
    specs = write_tree(tmp_path, {
        "specs/base.yaml": HEADER + "name: base\ngroup: /base\napps:\n  db: {cmd: d}\n"
                           "  web: {cmd: w, dependencies: [db]}\n",
        "specs/functional.yaml": FUNCTIONAL + "      web: {instances: 1, dependencies: [db]}\n",
    })
    desired, whole = load_both(specs, "feature")
    assert (desired, whole) == rendered_apart(specs, "feature")
    (web,) = desired.apps.values()
    assert web.env == "feature" and web.dependencies == ()
    assert whole is not None and set(whole.environments) == {"base", "feature"} and "/base/db" in whole.apps


BROKEN_DEPENDENCY = "apps:\n  web: {cmd: w, dependencies: [nowhere]}\n"
TREES = {
    "the environment itself is broken": {
        "specs/a.yaml": HEADER + "name: a\n" + BROKEN_DEPENDENCY,
        "specs/b.yaml": HEADER + "name: b\napps:\n  api: {cmd: x}\n",
    },
    "another environment is broken": {
        "specs/a.yaml": HEADER + "name: a\napps:\n  web: {cmd: w}\n",
        "specs/b.yaml": HEADER + "name: b\n" + BROKEN_DEPENDENCY,
    },
    "both are broken": {
        "specs/a.yaml": HEADER + "name: a\n" + BROKEN_DEPENDENCY,
        "specs/b.yaml": HEADER + "name: b\napps:\n  api: {cmd: x, dependencies: [elsewhere]}\n",
    },
    "a document is broken": {
        "specs/a.yaml": HEADER + "name: a\napps:\n  web: {cmd: w, imgae: typo}\n",
        "specs/b.yaml": HEADER + "name: b\napps:\n  api: {cmd: x}\n",
    },
    "all is well": {
        "specs/a.yaml": HEADER + "name: a\napps:\n  web: {cmd: w}\n",
        "specs/b.yaml": HEADER + "name: b\napps:\n  api: {cmd: x}\n",
    },
}


@pytest.mark.parametrize("tree", list(TREES))
@pytest.mark.parametrize("env", ["a", "nosuch"])
def test_the_same_error_as_rendering_apart(tmp_path: Path, tree: str, env: str) -> None:
    specs = write_tree(tmp_path, TREES[tree])
    once, apart = outcome(load_both, specs, env), outcome(rendered_apart, specs, env)
    if tree == "another environment is broken" and env == "a":
        # The same problems, and a hint that says why `--env a` fails on b's (spec/scope.py).
        assert isinstance(once, tuple) and isinstance(apart, tuple) and apart[2] is None
        assert once[0] == apart[0] and once[1].startswith(apart[1] + "\n")
        assert once[2].startswith("--env a does not skip environment b (")
        return
    assert once == apart
    if tree != "all is well" or env == "nosuch":
        assert isinstance(once, tuple) and isinstance(once[0], str), once
