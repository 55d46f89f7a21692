"""A chart that looks up a value that is not there: the problem names the missing key where it is looked up,
and the closest key the mapping has (a chart value mistyped by the spec author: `kind: redsi`)."""

from __future__ import annotations

from pathlib import Path

from tests.unit.spec.spec_tree import HEADER, problems_of

STORE = {
    "charts/store/Chart.yaml": "name: store\nversion: 1.0.0\n",
    "charts/store/values.yaml": "kind: ''\noverride: {}\npresets:\n  redis: {image: redis}\n  mysql: {image: mysql}\n",
    "charts/store/templates/app.yaml": (
        "{% set p = values.presets[values.kind] | merge(values.override) %}\n"
        'image: "{{ p.image }}"\ncpus: 0.1\nmem: 64\n'
    ),
}


def only_problem(tmp_path: Path, kind: str) -> str:
    spec = HEADER + f"name: shop\napps:\n  cache: {{chart: store, values: {{kind: {kind}}}}}\n"
    [problem] = problems_of(tmp_path, {**STORE, "specs/shop.yaml": spec})
    return problem.render()


def test_a_mistyped_lookup_key_is_named_where_it_is_looked_up_with_the_closest_key(tmp_path: Path) -> None:
    # Before: `merge` took the missing preset for an empty mapping, and the problem was line 2's
    # "'dict object' has no attribute 'image'" with the hint to set `image`: nothing the author wrote.
    problem = only_problem(tmp_path, "redsi")
    assert "templates/app.yaml:1: shop/cache: undefined template value:" in problem, problem
    assert "has no attribute 'redsi' (did you mean 'redis'?)" in problem, problem
    assert "(hint: correct `redsi` in the template, or in the value it is looked up by; or set" in problem, problem


def test_a_key_with_no_close_match_lists_the_keys_there(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "postgres")
    assert "has no attribute 'postgres' (its keys: mysql, redis)" in problem, problem


def test_a_mistyped_value_name_in_a_template_gets_the_closest_value(tmp_path: Path) -> None:
    files = {
        **STORE,
        "charts/store/templates/app.yaml": 'image: "{{ values.presets.redis.imgae }}"\ncpus: 0.1\nmem: 64\n',
        "specs/shop.yaml": HEADER + "name: shop\napps:\n  cache: {chart: store}\n",
    }
    [problem] = problems_of(tmp_path, files)
    assert "app.yaml:1: shop/cache: undefined template value:" in problem.render()
    assert "has no attribute 'imgae' (did you mean 'image'?)" in problem.message, problem.render()
