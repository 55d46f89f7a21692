"""One level-triggered reconcile pass (engine layer): load -> observe -> plan -> execute.

Each cycle starts from a complete, fresh observation and carries nothing from the event that woke
it. An incomplete observation plans nothing destructive (the planner is run without prune).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from reconciler.core.model import Actual, Desired, Plan
from reconciler.core.plan import PlanOptions, build_plan
from reconciler.engine.execute import ExecuteOptions, Execution, execute_plan
from reconciler.engine.ports import MarathonPort
from reconciler.errors import ReconcilerError, SpecError

log = logging.getLogger("reconciler.engine")
_cycle_numbers = itertools.count(1)


@dataclass(frozen=True)
class CycleResult:
    cycle_id: str
    trigger: str
    plan: Plan | None = None
    execution: Execution | None = None
    actual: Actual | None = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and not (self.execution and self.execution.failed)


def next_cycle_id() -> str:
    return f"c{next(_cycle_numbers):05d}"


async def run_cycle(
    load: Callable[[], Desired],
    marathon: MarathonPort,
    options: PlanOptions,
    *,
    trigger: str = "manual",
    execute_options: ExecuteOptions = ExecuteOptions(wait=False),
) -> CycleResult:
    """One pass. Expected failures come back in `error`; nothing raises for a remote outage."""
    cycle_id = next_cycle_id()
    started = time.monotonic()
    log.info("cycle=%s event=cycle-start trigger=%s", cycle_id, trigger)
    try:
        desired = load()
        actual = await marathon.observe()
    except SpecError as exc:
        first = exc.problems[0].render() if exc.problems else str(exc)
        log.error("cycle=%s event=spec-invalid problems=%d first=%r", cycle_id, len(exc.problems), first)
        return CycleResult(cycle_id, trigger, error=f"invalid specs: {first}")
    except ReconcilerError as exc:
        log.error("cycle=%s event=observe-failed error=%r", cycle_id, str(exc))
        return CycleResult(cycle_id, trigger, error=str(exc))
    if not actual.complete:
        options = replace(options, prune=False)
    plan = build_plan(desired, actual, options)
    execution = await execute_plan(plan, marathon, execute_options) if not plan.empty else None
    for action in (execution.actions if execution else plan.actions):
        log.info("cycle=%s %s", cycle_id, action.line())
    seconds = time.monotonic() - started
    log.info("cycle=%s event=cycle-end actions=%d seconds=%.3f", cycle_id, len(plan.pending), seconds)
    return CycleResult(cycle_id, trigger, plan=plan, execution=execution, actual=actual, seconds=seconds)
