"""A run's instances as the scheduler counts them (sandbox layer): which tasks hold a place toward the
launch target, which instance relaunches as which incarnation, which tasks a scale-down kills first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.sandbox.marathon.appdef import unreachable_after
from reconciler.sandbox.marathon.model import AppRun, Task, TaskState

if TYPE_CHECKING:
    from reconciler.sandbox.marathon.scheduler import Timings


def counted_tasks(run: AppRun, now: float, timings: Timings) -> list[Task]:
    """Tasks that count toward the instance target: active, or unreachable but not yet inactive."""
    after = unreachable_after(run.definition, "inactiveAfterSeconds")
    inactive_after = float("inf") if after is None else timings.scaled(after)  # "disabled": never inactive
    return [
        task
        for task in run.tasks.values()
        if task.active
        or (
            task.state == TaskState.UNREACHABLE
            and task.unreachable_mono is not None
            and now - task.unreachable_mono < inactive_after
        )
    ]


def ending_in_place(run: AppRun) -> list[Task]:
    """Tasks being killed whose instance keeps its goal: the instance relaunches once they end."""
    return [task for task in run.tasks.values() if task.state == TaskState.KILLING and task.rescheduled]


def next_incarnation(task: Task) -> tuple[str, int]:
    """The task's instance and the incarnation after the task's own (Task.Id: `<instance>._app.<n>`)."""
    _, _, number = task.id.rpartition("._app.")
    return task.instance_id, (int(number) if number.isdigit() else 1) + 1


def pick_victims(tasks: list[Task], count: int, kill_selection: str) -> list[Task]:
    """Staging tasks go first, then the youngest (or oldest) by staging time."""
    youngest_first = kill_selection != "OLDEST_FIRST"
    ordered = sorted(
        tasks, key=lambda t: (t.state == TaskState.RUNNING, -t.staged_mono if youngest_first else t.staged_mono)
    )
    return ordered[:count]
