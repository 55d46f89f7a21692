"""Builders for spec-layer tests: a spec tree and charts written into a temporary folder."""

from __future__ import annotations

import textwrap
from pathlib import Path

from reconciler.core.model import Desired
from reconciler.errors import SpecError, SpecProblem
from reconciler.spec import load_desired

HEADER = "apiVersion: reconciler/v1\nkind: Environment\n"

SVC_CHART = {
    "charts/svc/Chart.yaml": "name: svc\nversion: 1.2.3\ndescription: a test service\n",
    "charts/svc/values.yaml": "image: svc\ntag: '1.0'\nport: 8080\n",
    "charts/svc/templates/app.yaml": (
        'image: "{{ values.image }}:{{ values.tag }}"\n'
        "cpus: 0.1\n"
        "mem: 128\n"
        "ports: [{name: http, containerPort: {{ values.port }}}]\n"
    ),
}


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Writes `files` (relative path -> text, dedented) under `root`; returns `root / "specs"`."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    (root / "specs").mkdir(exist_ok=True)
    return root / "specs"


def render(root: Path, files: dict[str, str], env: str | None = None) -> Desired:
    return load_desired(write_tree(root, files), env=env)


def problems_of(root: Path, files: dict[str, str]) -> list[SpecProblem]:
    """Every problem the tree has; fails the test when it loads cleanly."""
    try:
        load_desired(write_tree(root, files))
    except SpecError as exc:
        return exc.problems
    raise AssertionError("the specs loaded without a problem")
