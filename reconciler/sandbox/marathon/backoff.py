"""What a task's end does to its app's launch delay and `lastTaskFailure` (sandbox layer).

Marathon 1.9 decides the two apart: NotifyRateLimiterStepImpl delays the app for the instance's
condition (`limitWorthy`), TaskFailure.FromMesosStatusUpdateEvent records the failure for the Mesos state
of the status update (`isFailureState`). A TASK_LOST that Marathon reads as Unreachable is recorded but
delays nothing; a TASK_FINISHED delays (and the sandbox records it too, as it always has).
"""

from __future__ import annotations

from reconciler.sandbox.marathon.model import AppRun, JsonDict, Task, TaskState

# NotifyRateLimiterStep.limitWorthy (Dropped, Error, Failed, Gone, Finished), as the sandbox's states.
DELAYING_STATES = frozenset({TaskState.FAILED, TaskState.FINISHED, TaskState.GONE})
# TaskFailure.isFailureState, by the status update's Mesos state.
FAILURE_UPDATES = frozenset({TaskState.FAILED, TaskState.FINISHED, TaskState.LOST, TaskState.GONE, TaskState.UNKNOWN})


def add_delay(run: AppRun, now: float, seconds_scale: float) -> None:
    """RateLimiter.addDelay: the first delay is `backoffSeconds min maxLaunchDelaySeconds`, each next
    one the last times `backoffFactor`, capped. A delay older than maxLaunchDelaySeconds is dropped
    (RateLimiter.cleanUpOverdueDelays: `now > referenceTimestamp + maxLaunchDelay`), so a failure after
    that quiet time starts over. The reference is the last failure or the last task to start running
    since (advanceDelay, which also moves the deadline: not emulated). Marathon sweeps overdue delays
    every 10 s; the sandbox decides at the failure. `seconds_scale` turns app seconds into sandbox ones."""
    defn = run.definition
    max_delay = float(defn["maxLaunchDelaySeconds"])
    if run.backoff_delay <= 0 or now > run.delay_set_at + max_delay * seconds_scale:
        run.backoff_delay = min(float(defn["backoffSeconds"]), max_delay)
    else:
        run.backoff_delay = min(run.backoff_delay * float(defn["backoffFactor"]), max_delay)
    run.delay_set_at = now
    run.delay_until = now + run.backoff_delay * seconds_scale


def task_failure(task: Task, message: str, reported: TaskState, timestamp: str) -> JsonDict:
    """The app's `lastTaskFailure` (TaskFailure), with the status update's Mesos state."""
    return {
        "appId": task.app_id,
        "host": task.host,
        "message": message,
        "state": reported.value,
        "taskId": task.id,
        "timestamp": timestamp,
        "version": task.version,
        "slaveId": task.agent.slave_id,
    }
