"""The Consul prepared query `<app>.<env>` names one app of one environment: with dots in names, two could
claim one (docs/dns.md; ARCHITECTURE: "Consul's DNS accepts dots in prepared-query names")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reconciler.core.queries import desired_queries
from reconciler.errors import SpecError
from reconciler.spec import load_desired
from tests.unit.spec.spec_tree import HEADER, problems_of, render, write_tree


def env(body: str, name: str) -> str:
    return HEADER + f"name: {name}\n" + body


DOTTED = {
    "specs/a.yaml": env("apps:\n  a.b: {image: x}\n  web: {image: w}\n", name="c"),
    "specs/b.yaml": env("apps:\n  a: {image: y}\n", name="b.c"),
}


def test_app_a_dot_b_of_c_and_app_a_of_b_dot_c_claim_one_query_and_both_are_reported(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, DOTTED)
    assert [(p.file.removeprefix(f"{tmp_path}/"), p.line, p.field) for p in problems] == [
        ("specs/a.yaml", 5, "apps.a.b"),
        ("specs/b.yaml", 5, "apps.a"),
    ]
    first, second = problems
    assert "app 'a.b' resolves in environment 'c' through the Consul prepared query 'a.b.c'" in first.message
    assert f"app 'a' of environment 'b.c' ({tmp_path}/specs/b.yaml:5)" in first.message
    assert f"app 'a.b' of environment 'c' ({tmp_path}/specs/a.yaml:5)" in second.message
    assert all(p.hint and "rename one of the apps or environments" in p.hint for p in problems)


def test_the_clash_fails_rendering_either_environment_alone(tmp_path: Path) -> None:
    specs = write_tree(tmp_path, DOTTED)
    for name in ("c", "b.c"):
        with pytest.raises(SpecError, match=re.escape("Consul prepared query 'a.b.c'")):
            load_desired(specs, env=name)


def test_a_set_sees_its_base_apps_and_their_names_clash_too(tmp_path: Path) -> None:
    files = {
        "specs/a.yaml": env("apps:\n  x: {image: x}\n", name="integration"),
        "specs/f.yaml": (
            "apiVersion: reconciler/v1\nkind: FunctionalSet\nbase: integration\nsets:\n  f.one:\n    apps: {}\n"
        ),
        "specs/g.yaml": env("apps:\n  x.f: {image: y}\n", name="one"),
    }
    problems = problems_of(tmp_path, files)
    messages = [p.message for p in problems]
    assert any(
        "app 'x' of base 'integration' resolves in environment 'f.one' through the Consul prepared query 'x.f.one'" in m
        for m in messages
    ), messages
    assert any("app 'x.f' resolves in environment 'one'" in m and "as seen from set 'f.one'" in m for m in messages)


def test_dotted_names_that_do_not_clash_render_with_one_query_each(tmp_path: Path) -> None:
    files = {
        "specs/a.yaml": env("apps:\n  a.b: {image: x}\n", name="c"),
        "specs/b.yaml": env("apps:\n  a: {image: y}\n", name="b.d"),
    }
    queries, _ = desired_queries(render(tmp_path, files))
    names = [query.name for query in queries]
    assert sorted(names) == ["a.b.c", "a.b.d"]
