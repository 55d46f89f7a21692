"""The loaded spec tree (spec layer): environments with their apps as written, overlays applied,
every node still carrying its file:line mark. `load` builds it, `render` turns it into Desired.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.spec.documents import ConcreteApp, DnsSpec
from reconciler.spec.source import Mark, Marks

# Fields cut out for problems are named in `broken`, so that later checks skip what would read them.
WHOLE_APP = ""  # in AppSource.broken: the entry is not even a mapping
RENDERING_FIELDS = frozenset({"values", "charts"})  # an environment without them cannot render its charts


@dataclass(frozen=True)
class AppSource:
    """One app entry as written (for a functional environment: merged over its base's entry), without
    the fields that have problems (named in `broken`).
    """

    name: str
    data: dict[str, Any]
    marks: Marks
    mark: Mark
    broken: frozenset[str] = frozenset()
    # An inline entry (no `chart`, no `values`) valid as written is already its concrete app: validated
    # once here, not again as an entry and as a concrete app when expanded (None: expand validates it).
    concrete: ConcreteApp | None = None


@dataclass(frozen=True)
class EnvironmentSource:
    name: str
    group: str
    apps: dict[str, AppSource]
    mark: Mark
    charts_dir: Path
    base: str | None = None
    approval_required: bool = False
    values: dict[str, Any] = field(default_factory=dict)
    values_marks: Marks = field(default_factory=Marks)
    dns: DnsSpec | None = None
    group_mark: Mark | None = None  # where `group` is written (None: the default /<name>)
    broken: frozenset[str] = frozenset()  # its fields cut out for problems (their checks are skipped)


@dataclass(frozen=True)
class SpecSet:
    """Every environment of a spec tree, in the order the files declare them."""

    environments: dict[str, EnvironmentSource]
    files: tuple[str, ...] = ()

    @property
    def app_count(self) -> int:
        return sum(len(env.apps) for env in self.environments.values())
