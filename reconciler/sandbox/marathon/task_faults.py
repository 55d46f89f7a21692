"""Ending a task through the fault API (sandbox layer): the Mesos states a task can report, and what
Marathon 1.9 makes of each (core/task/TaskCondition.scala, core/task/state/TaskConditionMapping.scala).

TASK_KILLED, TASK_FAILED and TASK_FINISHED end the task; its instance keeps its goal and relaunches.
TASK_UNREACHABLE makes it unreachable. TASK_LOST is read by its reason: REASON_RECONCILIATION,
REASON_SLAVE_DISCONNECTED and REASON_SLAVE_REMOVED as Unreachable, REASON_TASK_UNKNOWN (or a message
starting "Reconciliation: Task is unknown to the") as Unknown, any other reason as Gone. Without a reason
it is Gone too: a TaskStatus without one answers getReason with the enum's first value,
REASON_COMMAND_EXECUTOR_FAILED. Gone and Unknown end the task as a failure, listed TASK_GONE / TASK_UNKNOWN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.sandbox.marathon.model import Task, TaskState

if TYPE_CHECKING:
    from reconciler.sandbox.marathon.core import MarathonCore

ENDING_STATES = {"TASK_FAILED": TaskState.FAILED, "TASK_KILLED": TaskState.KILLED, "TASK_FINISHED": TaskState.FINISHED}
FAULT_STATES = sorted([*ENDING_STATES, "TASK_LOST", "TASK_UNREACHABLE"])
UNREACHABLE_REASONS = frozenset({"REASON_RECONCILIATION", "REASON_SLAVE_DISCONNECTED", "REASON_SLAVE_REMOVED"})
UNKNOWN_REASONS = frozenset({"REASON_TASK_UNKNOWN"})
UNKNOWN_MESSAGE = "Reconciliation: Task is unknown to the"  # TaskCondition.MessageIndicatingUnknown


class TaskFaultError(ValueError):
    """A fault the task cannot take; the text says why."""


def lost_state(reason: str | None, message: str) -> TaskState:
    """TaskCondition.inferStateForLost, as the state the sandbox keeps (UNREACHABLE, UNKNOWN or GONE)."""
    if message.startswith(UNKNOWN_MESSAGE) or reason in UNKNOWN_REASONS:
        return TaskState.UNKNOWN
    if reason in UNREACHABLE_REASONS:
        return TaskState.UNREACHABLE
    return TaskState.GONE


def apply_task_fault(core: MarathonCore, task: Task, state: str, message: str, reason: str | None = None) -> None:
    """End `task` in `state` (one of FAULT_STATES) as a Mesos status update would."""
    if reason is not None and state != "TASK_LOST":
        raise TaskFaultError(f"reason is read for TASK_LOST only, not for {state}")
    if state in ENDING_STATES:
        core.scheduler.kill(task, ENDING_STATES[state], message, reschedule=True)
        return
    if not task.active:
        raise TaskFaultError(f"task {task.id} is {task.state.value}: only a staging or running task can be {state}")
    kept = lost_state(reason, message) if state == "TASK_LOST" else TaskState.UNREACHABLE
    reported = TaskState.LOST if state == "TASK_LOST" else TaskState.UNREACHABLE
    if kept == TaskState.UNREACHABLE:
        core.make_unreachable(task, message, reported)
    else:
        core.scheduler.kill(task, kept, message, reschedule=True, reported=reported)
