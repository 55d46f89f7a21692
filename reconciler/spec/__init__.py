"""The spec layer (layer 1): spec files -> validated SpecSet -> Desired.

load_specs(root)        read and validate a spec tree (every problem at once, with file:line)
render_desired(specs)   charts + values + overlays -> concrete Marathon app definitions
load_desired(root)      both in one call
spec_json_schema()      the JSON Schema of a spec document
dns_warnings(specs)     environments whose bare app names will not resolve (advice, not problems)
empty_file_warnings(specs)  spec files that declare no environment (advice, not problems)
"""

from __future__ import annotations

from pathlib import Path

from reconciler.core.model import Desired
from reconciler.spec.load import default_charts_dir, load_specs
from reconciler.spec.notices import dns_warnings, empty_file_warnings
from reconciler.spec.render import render_desired
from reconciler.spec.rendered import render_kept
from reconciler.spec.schema import spec_json_schema
from reconciler.spec.scope import env_scope
from reconciler.spec.specset import AppSource, EnvironmentSource, SpecSet


def load_desired(root: Path, *, env: str | None = None, revision: str = "", charts_dir: Path | None = None) -> Desired:
    """The Desired state of the spec tree at `root`; raises SpecError naming every problem. An unchanged
    tree (spec files and charts) gives the same Desired object as its last load (spec/rendered.py). With
    `env`, a problem of another environment still fails the load, with a hint saying why (spec/scope.py)."""
    with env_scope(env):
        specset = load_specs(root, charts_dir=charts_dir)
    return render_kept(specset, env=env, revision=revision)


__all__ = [
    "AppSource",
    "EnvironmentSource",
    "SpecSet",
    "default_charts_dir",
    "dns_warnings",
    "empty_file_warnings",
    "env_scope",
    "load_desired",
    "load_specs",
    "render_desired",
    "spec_json_schema",
]
