"""Dependencies between apps of one environment (spec layer): names resolved to absolute Marathon
ids, unknown names and cycles reported. In a functional environment a dependency the environment
does not run itself is its base's app: callers reach it through DNS, so it is no Marathon dependency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.core.naming import app_id_of
from reconciler.errors import ProblemList
from reconciler.spec.expand import ConcreteEntry, Expansion
from reconciler.spec.problems import closest_hint
from reconciler.spec.specset import AppSource, EnvironmentSource


def resolve_dependencies(
    environment: EnvironmentSource,
    expansion: Expansion,
    base: Expansion | None,
    problems: ProblemList,
) -> dict[str, list[str]]:
    """Absolute dependency ids of every app of `environment`, and problems for unknown names (a name
    an unresolved entry may stand for is none: it has problems of its own). The dependencies an
    unresolved entry writes itself are checked too.
    """
    names = _Names(environment, expansion, base)
    resolved: dict[str, list[str]] = {}
    for name, entry in expansion.apps.items():
        dependencies = entry.app.dependencies or []
        for index in names.unknown(dependencies):
            problems.add(entry.marks.problem(("dependencies", index), *names.describe(name, dependencies[index])))
        resolved[name] = [app_id_of(environment.group, d) for d in dependencies if d in expansion.apps]
    for name, source in expansion.unresolved.items():
        written = _written(source)
        for index in names.unknown(written):
            problems.add(source.marks.problem(("dependencies", index), *names.describe(name, written[index])))
    return resolved


@dataclass(frozen=True)
class _Names:
    """The app names a dependency of `environment` may use: its own, and (functional) its base's."""

    environment: EnvironmentSource
    expansion: Expansion
    base: Expansion | None

    def unknown(self, dependencies: list[str]) -> list[int]:
        """The indexes of the dependencies that name no app."""
        return [index for index, dependency in enumerate(dependencies) if not self._known(dependency)]

    def _known(self, name: str) -> bool:
        return self.expansion.may_run(name) or (self.base is not None and self.base.may_run(name))

    def describe(self, app: str, dependency: str) -> tuple[str, str]:
        own = [*self.expansion.apps, *self.expansion.unresolved]
        base = [*self.base.apps, *self.base.unresolved] if self.base else []
        known = sorted({*own, *base} - {app})
        message = f"dependency on unknown app '{dependency}' in environment '{self.environment.name}'"
        return message, closest_hint(dependency, known).replace("known keys here", "apps")


def _written(source: AppSource) -> list[str]:
    """The dependencies an entry writes itself (when sound: a list of names)."""
    dependencies = source.data.get("dependencies")
    if "dependencies" in source.broken or not isinstance(dependencies, list):
        return []
    return [str(dependency) for dependency in dependencies]


def find_cycles(graph: Mapping[str, list[str]]) -> list[list[str]]:
    """Every dependency cycle once, each as the path that closes it (`a -> b -> a`)."""
    cycles: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in graph.get(node, []):
            if state.get(target) == 1:
                cycle = [*path[path.index(target) :], target]
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    cycles.append(cycle)
            elif target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node)
    return cycles


def check_cycles(environment: EnvironmentSource, apps: Mapping[str, ConcreteEntry], problems: ProblemList) -> None:
    graph = {name: [d for d in entry.app.dependencies or () if d in apps] for name, entry in apps.items()}
    for cycle in find_cycles(graph):
        entry = apps[cycle[0]]
        text = " -> ".join(cycle)
        problems.add(
            entry.marks.problem(
                ("dependencies",),
                f"dependency cycle in environment '{environment.name}': {text}",
                "remove one of these dependencies",
            )
        )
