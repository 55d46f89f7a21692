"""The last renderings of a spec tree (spec layer): an unchanged tree is not rendered again each cycle.

`load_specs` already hands back the same SpecSet for spec files whose bytes did not change; rendering
it again (charts, overlays, ids, dependencies) is most of an idle controller's spec work and gives
the same Desired. What else rendering reads is part of the key: the files of every chart the tree
names (their digests) and the template limits. A Desired given back is the very object given before,
so the planner's memo (core/compare_memo.py) recognises its apps by identity.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from reconciler.core.model import Desired
from reconciler.spec.render import render_desired
from reconciler.spec.specset import SpecSet
from reconciler.spec.templating import TemplateLimits, limits_from_environ

RENDERINGS_KEPT = 8


@dataclass(frozen=True)
class _Rendering:
    specs: SpecSet
    env: str | None
    revision: str
    charts: tuple[tuple[str, str], ...]
    limits: TemplateLimits
    desired: Desired


_RENDERINGS: list[_Rendering] = []


def chart_folders(specs: SpecSet) -> list[Path]:
    """Every chart folder the tree may render from: each chart name under each charts directory."""
    names = {
        str(app.data["chart"])
        for environment in specs.environments.values()
        for app in environment.apps.values()
        if isinstance(app.data, dict) and isinstance(app.data.get("chart"), str)
    }
    directories = {environment.charts_dir for environment in specs.environments.values()}
    return sorted(directory / name for directory in directories for name in names)


def charts_fingerprint(specs: SpecSet) -> tuple[tuple[str, str], ...]:
    """Each file of the charts the tree names, with the digest of its bytes (unreadable: "?")."""
    found: list[tuple[str, str]] = []
    for folder in chart_folders(specs):
        for path in sorted(folder.rglob("*")) if folder.is_dir() else ():
            try:
                digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
            except OSError:
                digest = "?"
            found.append((str(path), digest))
    return tuple(found)


def render_kept(specs: SpecSet, *, env: str | None = None, revision: str = "") -> Desired:
    """`render_desired(specs, env=, revision=)`, given again while nothing it reads has changed."""
    charts, limits = charts_fingerprint(specs), limits_from_environ()
    for kept in _RENDERINGS:
        if (kept.specs is specs and kept.env == env and kept.revision == revision and kept.charts == charts
                and kept.limits == limits):
            return kept.desired
    desired = render_desired(specs, env=env, revision=revision)
    if charts_fingerprint(specs) == charts:  # no chart changed while it was rendered
        _RENDERINGS.insert(0, _Rendering(specs, env, revision, charts, limits, desired))
        del _RENDERINGS[RENDERINGS_KEPT:]
    return desired


def forget_renderings() -> None:
    _RENDERINGS.clear()
