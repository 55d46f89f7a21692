"""Replaying the autoscaling decision over a series of steps (pure core): the backtest behind
`reconciler autoscale simulate`, with exactly the decision function the controller uses.

Each step decides from the count the previous step left, with the memory (recommendations, scale
events) the previous step returned, as the controller carries them between ticks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from reconciler.core.autoscale import Decision, ScaleHistory, decide
from reconciler.core.autoscale_metrics import TaskView
from reconciler.core.autoscale_policy import AutoscalePolicy


@dataclass(frozen=True)
class Step:
    at: float
    tasks: tuple[TaskView, ...] = ()
    external: Mapping[str, float] = field(default_factory=dict)


def replay(
    policy: AutoscalePolicy, instances: int, steps: Sequence[Step], history: ScaleHistory | None = None
) -> tuple[tuple[Step, Decision], ...]:
    """The decision at every step. `history` None: the first step seeds it as the HPA does."""
    outcomes: list[tuple[Step, Decision]] = []
    for step in steps:
        decision = decide(policy, instances, step.tasks, now=step.at, history=history, external=step.external)
        outcomes.append((step, decision))
        instances, history = decision.instances, decision.history
    return tuple(outcomes)
