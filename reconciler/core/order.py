"""Ordering a plan's actions (pure core): environments, then dependencies, deterministically.

Per environment (sorted by name): warnings first, then creates/updates/scales with dependencies
before their dependents (Kahn's algorithm, ties broken by app id), then deletes in reverse
dependency order (dependents go first). Dependency cycles (the spec layer refuses them) fall back
to id order so that ordering never fails.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Mapping, Sequence

from reconciler.core.model import Action, ActionKind

WRITE_KINDS = frozenset({ActionKind.CREATE, ActionKind.UPDATE, ActionKind.SCALE})


def dependency_order(targets: Sequence[str], dependencies: Mapping[str, Sequence[str]]) -> list[str]:
    """`targets` with every dependency before its dependents; ties and cycles by id."""
    nodes = set(targets)
    dependents: dict[str, list[str]] = defaultdict(list)
    waiting = dict.fromkeys(nodes, 0)
    for node in nodes:
        for dependency in set(dependencies.get(node, ())) & nodes - {node}:
            dependents[dependency].append(node)
            waiting[node] += 1
    ready = [node for node, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    ordered: list[str] = []
    while ready:
        node = heapq.heappop(ready)
        ordered.append(node)
        for dependent in dependents[node]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, dependent)
    return ordered + sorted(nodes - set(ordered))


def order_environment(actions: Sequence[Action], dependencies: Mapping[str, Sequence[str]]) -> list[Action]:
    by_target = {action.target: action for action in actions}
    writes = [a.target for a in actions if a.kind in WRITE_KINDS]
    deletes = [a.target for a in actions if a.kind == ActionKind.DELETE]
    others = sorted((a for a in actions if a.kind not in WRITE_KINDS and a.kind != ActionKind.DELETE), key=sort_key)
    return [
        *others,
        *(by_target[t] for t in dependency_order(writes, dependencies)),
        *(by_target[t] for t in reversed(dependency_order(deletes, dependencies))),
    ]


def sort_key(action: Action) -> tuple[str, str]:
    return (action.kind.value, action.target)


def order_actions(actions: Sequence[Action], dependencies: Mapping[str, Sequence[str]]) -> tuple[Action, ...]:
    """The plan's final order (see the module docstring). At most one write or delete per app."""
    by_env: dict[str, list[Action]] = defaultdict(list)
    for action in actions:
        by_env[action.env].append(action)
    return tuple(action for env in sorted(by_env) for action in order_environment(by_env[env], dependencies))
