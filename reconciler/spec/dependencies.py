"""Dependencies between apps of one environment (spec layer): names resolved to absolute Marathon
ids, unknown names and cycles reported. In a functional environment a dependency the environment
does not run itself is its base's app: callers reach it through DNS, so it is no Marathon dependency.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from reconciler.core.naming import app_id_of
from reconciler.errors import ProblemList
from reconciler.spec.expand import ConcreteEntry
from reconciler.spec.problems import closest_hint
from reconciler.spec.specset import EnvironmentSource


def resolve_dependencies(
    environment: EnvironmentSource,
    apps: Mapping[str, ConcreteEntry],
    base_apps: Collection[str],
    problems: ProblemList,
) -> dict[str, list[str]]:
    """Absolute dependency ids of every app of `environment` (problems for unknown names)."""
    resolved: dict[str, list[str]] = {}
    for name, entry in apps.items():
        ids: list[str] = []
        for index, dependency in enumerate(entry.app.dependencies or ()):
            if dependency in apps:
                ids.append(app_id_of(environment.group, dependency))
            elif dependency not in base_apps:
                known = sorted({*apps, *base_apps} - {name})
                hint = closest_hint(dependency, known).replace("known keys here", "apps")
                problems.add(
                    entry.marks.problem(
                        ("dependencies", index),
                        f"dependency on unknown app '{dependency}' in environment '{environment.name}'",
                        hint,
                    )
                )
        resolved[name] = ids
    return resolved


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
