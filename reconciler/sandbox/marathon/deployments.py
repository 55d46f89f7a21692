"""The deployment runner (sandbox layer): executes plans step by step, as Marathon's
DeploymentActor does, and announces each step on the event bus.

Scale waits for the target count of healthy tasks; restart replaces tasks following the
upgradeStrategy arithmetic of TaskReplaceActor (FACTS.md §7); stop kills every task.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from reconciler.sandbox.marathon.instances import counted_tasks, pick_victims
from reconciler.sandbox.marathon.model import ActionKind, AppRun, Deployment, PlanAction, Task, TaskState
from reconciler.sandbox.marathon.scheduler import Scheduler


@dataclass
class RestartProgress:
    """One app's rolling restart: the capacity ceiling and how many new tasks already replaced an old one."""

    max_capacity: int
    credited: int = 0


def restart_strategy(instances: int, old_running: int, min_health: float, max_over: float) -> tuple[int, int]:
    """(tasks to kill immediately, maximum capacity), as TaskReplaceActor.computeRestartStrategy."""
    min_healthy = math.ceil(instances * min_health)
    max_capacity = math.floor(instances * (1 + max_over))
    kill_now = max(0, old_running - min_healthy)
    if min_healthy == max_capacity and max_capacity <= old_running:
        max_capacity += 1
    return kill_now, max_capacity


class DeploymentRunner:
    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.state = scheduler.state
        self.restarts: dict[str, RestartProgress] = {}
        scheduler.pass_hooks.append(self.advance_all)

    def start(self, deployment: Deployment) -> None:
        self.state.deployments[deployment.id] = deployment
        self.scheduler.kick()

    def advance_all(self) -> None:
        if self.state.frozen:
            return
        for deployment in list(self.state.deployments.values()):
            self._advance(deployment)

    def _advance(self, deployment: Deployment) -> None:
        while deployment.id in self.state.deployments:
            if deployment.current_step == 0 or len(deployment.step_done) == len(deployment.current_actions()):
                if deployment.current_step > 0:
                    self.state.bus.publish("deployment_step_success", self._step_payload(deployment))
                if deployment.current_step >= len(deployment.steps):
                    self._finish(deployment)
                    return
                self._begin_step(deployment)
            if not self._progress_step(deployment):
                return

    def _begin_step(self, deployment: Deployment) -> None:
        deployment.current_step += 1
        deployment.step_done = set()
        self.state.bus.publish("deployment_info", self._step_payload(deployment))
        for action in deployment.current_actions():
            self._begin_action(action)

    def _step_payload(self, deployment: Deployment) -> dict[str, object]:
        return {
            "plan": deployment.light_plan(),
            "currentStep": {"actions": [a.to_json() for a in deployment.current_actions()]},
        }

    def _progress_step(self, deployment: Deployment) -> bool:
        """Move every action of the current step on; True when the whole step is done."""
        for action in deployment.current_actions():
            if action.app_id not in deployment.step_done and self._action_done(action):
                deployment.step_done.add(action.app_id)
        return len(deployment.step_done) == len(deployment.current_actions())

    def _begin_action(self, action: PlanAction) -> None:
        run = self.state.runs.get(action.app_id)
        if run is None:
            return
        if action.kind == ActionKind.SCALE:
            run.launch_target = int(run.definition["instances"])
        elif action.kind == ActionKind.RESTART:
            self._begin_restart(run)
        elif action.kind == ActionKind.STOP:
            self._stop(run)

    def _action_done(self, action: PlanAction) -> bool:
        run = self.state.runs.get(action.app_id)
        if action.kind in (ActionKind.START, ActionKind.STOP) or run is None:
            return True
        if action.kind == ActionKind.RESTART:
            return self._restart_step(run)
        return self._scaled(run)

    def _scaled(self, run: AppRun) -> bool:
        active = counted_tasks(run, self.state.clock.monotonic(), self.scheduler.timings)
        ready = [task for task in active if task.considered_healthy()]
        return len(active) == run.launch_target and len(ready) == run.launch_target

    # --- restart --------------------------------------------------------------------------
    def _begin_restart(self, run: AppRun) -> None:
        defn = run.definition
        instances = int(defn["instances"])
        run.launch_target = instances
        run.restarting = True
        old = self._old_tasks(run)
        strategy = defn["upgradeStrategy"]
        kill_now, max_capacity = restart_strategy(
            instances, len(old), float(strategy["minimumHealthCapacity"]), float(strategy["maximumOverCapacity"])
        )
        self.restarts[run.app_id] = RestartProgress(max_capacity)
        for task in pick_victims(old, kill_now, str(defn["killSelection"])):
            self.scheduler.kill(task, TaskState.KILLED, "replaced by a new version")

    def _old_tasks(self, run: AppRun) -> list[Task]:
        current = self.state.apps[run.app_id].last_config_change_at if run.app_id in self.state.apps else ""
        active = counted_tasks(run, self.state.clock.monotonic(), self.scheduler.timings)
        return [task for task in active if task.config_version != current]

    def _restart_step(self, run: AppRun) -> bool:
        progress = self.restarts.get(run.app_id)
        if progress is None:
            return True
        old = self._old_tasks(run)
        new = [t for t in counted_tasks(run, self.state.clock.monotonic(), self.scheduler.timings) if t not in old]
        healthy_new = sum(1 for task in new if task.considered_healthy())
        while healthy_new > progress.credited:
            progress.credited += 1
            if old:
                self.scheduler.kill(old.pop(0), TaskState.KILLED, "replaced by a new version")
        room = min(progress.max_capacity - len(old) - len(new), run.launch_target - len(new))
        self.scheduler.launch(run, room)
        if old or healthy_new < run.launch_target or len(new) > run.launch_target:
            return False
        self._end_restart(run)
        return True

    def _end_restart(self, run: AppRun) -> None:
        run.restarting = False
        self.restarts.pop(run.app_id, None)

    # --- stop, finish, cancel -------------------------------------------------------------
    def _stop(self, run: AppRun) -> None:
        for task in list(run.tasks.values()):
            self.scheduler.kill(task, TaskState.KILLED, "app removed")
        if run.scheduled:
            run.scheduled.clear()
            run.touch()
        if run.app_id not in self.state.apps:
            self.state.runs.pop(run.app_id, None)
            self.restarts.pop(run.app_id, None)
            self.state.bus.publish("app_terminated_event", {"appId": run.app_id})

    def _finish(self, deployment: Deployment) -> None:
        self.state.deployments.pop(deployment.id, None)
        self._release_apps(deployment)
        self.state.bus.publish("deployment_success", {"id": deployment.id, "plan": deployment.light_plan()})

    def cancel(self, deployment: Deployment, reason: str) -> None:
        """Stop a deployment where it stands (tasks may stay mixed old/new), as Marathon does."""
        self.state.deployments.pop(deployment.id, None)
        self._release_apps(deployment)
        self.state.bus.publish(
            "deployment_failed", {"id": deployment.id, "plan": deployment.light_plan(), "reason": reason}
        )

    def _release_apps(self, deployment: Deployment) -> None:
        for app_id in deployment.affected_apps:
            run = self.state.runs.get(app_id)
            if run is None or self.state.deployments_of(app_id):
                continue
            self._end_restart(run)
            run.launch_target = int(run.definition["instances"])
            run.touch()
        self.scheduler.kick()
