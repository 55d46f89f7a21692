"""Marathon-level health checks in the simulated runtime (sandbox layer).

A probe's outcome is the task's simulated health flag. Grace period, interval and
maxConsecutiveFailures behave as in HealthCheckActor: failures before the first success are
ignored during the grace period, and too many in a row kill the task so Marathon replaces it.
"""

from __future__ import annotations

import asyncio

from reconciler.sandbox.marathon.model import HealthResult, JsonDict, Task, TaskState
from reconciler.sandbox.marathon.scheduler import Scheduler


class HealthProber:
    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self._timers: dict[str, list[asyncio.TimerHandle]] = {}
        scheduler.on_running.append(self.watch)
        scheduler.on_gone.append(self.forget)

    def checks_of(self, task: Task) -> list[JsonDict]:
        run = self.scheduler.state.runs.get(task.app_id)
        return list(run.definition.get("healthChecks") or []) if run else []

    def watch(self, task: Task) -> None:
        checks = self.checks_of(task)
        if not checks:
            return
        task.health = [HealthResult() for _ in checks]
        first = self.scheduler.timings.health_delay_ms / 1000
        loop = asyncio.get_running_loop()
        self._timers[task.id] = [loop.call_later(first, self._probe, task, index) for index in range(len(checks))]

    def forget(self, task: Task) -> None:
        for handle in self._timers.pop(task.id, []):
            handle.cancel()

    def _probe(self, task: Task, index: int) -> None:
        if task.state != TaskState.RUNNING:
            return
        checks = self.checks_of(task)
        if index >= len(checks) or index >= len(task.health):
            return
        check = checks[index]
        self._record(task, index, check, task.healthy_flag)
        if task.state == TaskState.RUNNING and task.id in self._timers:
            interval = self.scheduler.timings.scaled(float(check["intervalSeconds"]))
            self._timers[task.id][index] = asyncio.get_running_loop().call_later(interval, self._probe, task, index)

    def _record(self, task: Task, index: int, check: JsonDict, ok: bool) -> None:
        result = task.health[index]
        now = self.scheduler.state.clock.iso()
        was_alive = result.alive if result.seen else None
        if ok:
            result.alive, result.consecutive_failures, result.last_success, result.seen = True, 0, now, True
            result.first_success = result.first_success or now
        elif self._in_grace(task, check, result):
            return
        else:
            result.alive, result.seen, result.last_failure = False, True, now
            result.consecutive_failures += 1
            result.last_failure_cause = "simulated task is unhealthy"
            self._publish_failure(task, check)
        self.scheduler.touch_task(task)
        if was_alive is not result.alive:
            self.scheduler.state.bus.health_changed(task, result.alive)
            self.scheduler.kick()
        if not ok and _kills_now(check, result.consecutive_failures):
            self._kill_unhealthy(task, check)

    def _in_grace(self, task: Task, check: JsonDict, result: HealthResult) -> bool:
        started = task.started_mono or task.staged_mono
        elapsed = self.scheduler.state.clock.monotonic() - started
        return result.first_success is None and elapsed < self.scheduler.timings.scaled(
            float(check["gracePeriodSeconds"])
        )

    def _publish_failure(self, task: Task, check: JsonDict) -> None:
        # api/v2/json/Formats.FailedHealthCheckWrites: appId, healthCheck and the *instance* id under
        # the key `taskId` (FailedHealthCheck carries no task id and no version).
        self.scheduler.state.bus.publish(
            "failed_health_check_event",
            {"appId": task.app_id, "taskId": task.instance_id, "healthCheck": check},
        )

    def _kill_unhealthy(self, task: Task, check: JsonDict) -> None:
        self.scheduler.state.bus.publish(
            "unhealthy_instance_kill_event",
            {
                "appId": task.app_id,
                "taskId": task.id,
                "instanceId": task.instance_id,
                "version": task.version,
                "reason": f"{check.get('protocol')} check failed {check['maxConsecutiveFailures']} times in a row",
                "host": task.host,
                "slaveId": task.agent.slave_id,
            },
        )
        self.scheduler.kill(task, TaskState.KILLED, "killed: unhealthy", reschedule=True)


def _kills_now(check: JsonDict, failures: int) -> bool:
    """0 disables killing for Marathon-level checks; Mesos-level ones then kill on the first failure."""
    limit = int(check["maxConsecutiveFailures"])
    if limit == 0:
        return str(check.get("protocol", "")).startswith("MESOS_")
    return failures >= limit
