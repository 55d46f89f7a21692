"""The simulated Marathon without its HTTP face (sandbox layer): state, scheduler, deployment
runner, health prober, write path and views wired together, plus agent operations.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from reconciler.sandbox.marathon.appdef import unreachable_after
from reconciler.sandbox.marathon.clock import Clock
from reconciler.sandbox.marathon.deployments import DeploymentRunner
from reconciler.sandbox.marathon.events import EventBus
from reconciler.sandbox.marathon.health import HealthProber
from reconciler.sandbox.marathon.instances import counted_tasks
from reconciler.sandbox.marathon.model import CONDITION_OF_STATE, Agent, Condition, Task, TaskState
from reconciler.sandbox.marathon.scheduler import Scheduler, Timings
from reconciler.sandbox.marathon.state import SandboxState
from reconciler.sandbox.marathon.views import AppViews
from reconciler.sandbox.marathon.writes import Writer
from reconciler.sandbox.runtime import TaskRuntime


@dataclass(frozen=True)
class AgentShape:
    cpus: float
    mem: float
    disk: float
    port_range: tuple[int, int]


class MarathonCore:
    def __init__(self, timings: Timings, listeners: TaskRuntime, clock: Clock, seed: int | None) -> None:
        self.framework_id = f"{uuid.uuid4()}-0000"
        self.state = SandboxState(clock=clock, bus=EventBus(clock.iso), rng=random.Random(seed))
        self.state.root_version = clock.next_version()
        self.scheduler = Scheduler(self.state, timings, listeners)
        self.runner = DeploymentRunner(self.scheduler)
        self.prober = HealthProber(self.scheduler)
        self.writer = Writer(self.state, self.runner)
        self.views = AppViews(self.state, self.scheduler)
        self._expunge_timers: list[asyncio.TimerHandle] = []
        self.features: frozenset[str] = frozenset()  # --enable_features: what app validation accepts
        # Called for an agent added while running (fault API): the stack gives it its Consul agent.
        self.agent_added: list[Callable[[Agent], Awaitable[None]]] = []

    def add_agent(self, shape: AgentShape) -> Agent:
        index = max((a.index for a in self.state.agents), default=0) + 1
        if index > 254:
            raise ValueError("at most 254 agents fit in 127.0.0.2-127.0.0.255")
        agent = Agent(
            index, f"{self.framework_id[:-5]}-S{index - 1}", shape.cpus, shape.mem, shape.disk, shape.port_range
        )
        self.state.agents.append(agent)
        self.scheduler.kick()
        return agent

    async def announce_agent(self, agent: Agent) -> None:
        """Tell whoever wires agents (the sandbox stack) that `agent` joined; returns once they are done."""
        for hook in self.agent_added:
            await hook(agent)

    def lose_agent(self, index: int) -> list[str]:
        """The agent disappears: its tasks become unreachable and are replaced elsewhere."""
        agent = self.state.agent(index)
        agent.active = False
        lost = [task for task in self.state.all_tasks() if task.agent is agent and task.active]
        for task in lost:
            self.make_unreachable(task, "agent lost")
        self.scheduler.kick()
        return [task.id for task in lost]

    def make_unreachable(self, task: Task, message: str, reported: TaskState = TaskState.UNREACHABLE) -> None:
        """The task's agent no longer answers the master (TASK_UNREACHABLE, or a TASK_LOST that
        TaskCondition reads as Unreachable): condition Unreachable, no listener. After the app's
        unreachableStrategy `inactiveAfterSeconds` the instance is UnreachableInactive and a new one replaces
        it (ScaleAppUpdateStepImpl: scalingWorthy); after `expungeAfterSeconds` it is expunged
        (ExpungeOverdueLostTasksActor). "disabled" keeps it unreachable until its agent comes back."""
        task.state, task.unreachable_inactive = TaskState.UNREACHABLE, False
        task.unreachable_mono = since = self.state.clock.monotonic()
        self.scheduler.listeners.close(task.id)
        self.prober.forget(task)
        self.scheduler.touch_task(task)
        self.state.bus.status_update(task, message, reported)
        run = self.state.runs.get(task.app_id)
        if run is not None and reported == TaskState.LOST:
            self.scheduler.note_failure(run, task, message, reported)
        for key, step in (("inactiveAfterSeconds", self._inactive), ("expungeAfterSeconds", self._expunge)):
            after = unreachable_after(run.definition, key) if run else 0.0
            if after is not None:  # "disabled": kept unreachable until its agent comes back
                delay = self.scheduler.timings.scaled(after) + 0.001  # past the bound counted_tasks checks
                self._expunge_timers.append(asyncio.get_running_loop().call_later(delay, step, task, since))

    def _still_unreachable(self, task: Task, since: float) -> bool:
        run = self.state.runs.get(task.app_id)
        return (
            run is not None and run.tasks.get(task.id) is task
            and task.state == TaskState.UNREACHABLE and task.unreachable_mono == since
        )

    def _inactive(self, task: Task, since: float) -> None:
        """Instance.InstanceState.conditionFromTasks: Unreachable past inactiveAfter is UnreachableInactive;
        the lists still say TASK_UNREACHABLE (Condition.toMesosTaskState). Marathon sees it at the next
        update of the task (reconciliation); the sandbox at once."""
        if self._still_unreachable(task, since) and not task.unreachable_inactive:
            task.unreachable_inactive = True
            self.state.bus.instance_changed(task, Condition.UNREACHABLE_INACTIVE)
            self.scheduler.kick()

    def _expunge(self, task: Task, since: float) -> None:
        """ExpungeOverdueLostTasksActor.triggerExpunge -> InstanceUpdater.forceExpunge: the instance goes
        with condition Killed (its instance_changed_event), and no status update. Only an UnreachableInactive
        instance is expunged (shouldExpunge), so with equal bounds that comes first."""
        self._inactive(task, since)
        if self._still_unreachable(task, since):
            self.state.bus.instance_changed(task, Condition.KILLED)
            self.scheduler.expunge(task)

    def wipe(self, task: Task) -> None:
        """A kill with wipe (api/TaskKiller.kill): the instance's goal becomes Decommissioned, then
        doForceExpunge removes it at once (InstanceUpdater.forceExpunge, condition Killed), whatever its task
        is doing; nothing relaunches in it and the scale check launches a new instance. KillServiceActor
        kills a task still active on the goal change; one already being killed goes on ending, unlisted, and
        its terminal update is for an unknown instance. An instance whose task ended is expunged by the goal
        change itself (InstanceUpdater.changeGoal: shouldBeExpunged)."""
        run = self.state.runs.get(task.app_id)
        if run is None:
            return
        condition = CONDITION_OF_STATE[task.state]
        if run.scheduled.get(task.instance_id) is task:
            self.state.bus.instance_changed(task, condition)
            self.scheduler.forget_scheduled(task)
            return
        if run.tasks.get(task.id) is not task:
            return
        self.state.bus.instance_changed(task, condition)
        self.state.bus.instance_changed(task, Condition.KILLED)
        task.expunged, task.rescheduled = True, False
        del run.tasks[task.id]
        run.touch()
        self.scheduler.kill(task, TaskState.KILLED, "killed through the API")  # a task already killing goes on
        self.scheduler.kick()

    def restore_agent(self, index: int) -> None:
        """The agent comes back; tasks not yet expunged report running again."""
        agent = self.state.agent(index)
        agent.active = True
        for task in self.state.all_tasks():
            if task.agent is agent and task.state == TaskState.UNREACHABLE:
                task.state, task.unreachable_inactive = TaskState.RUNNING, False
                task.unreachable_mono = None
                self.scheduler.touch_task(task)
                self.state.bus.status_update(task, "agent restored")
        self.scheduler.kick()

    def idle(self) -> bool:
        """No deployment running and nothing waiting to launch or start."""
        if self.state.deployments or self.scheduler.launching:
            return False
        for run in self.state.runs.values():
            # counted: active, or unreachable but not yet inactive (never, with a disabled strategy)
            active = counted_tasks(run, self.state.clock.monotonic(), self.scheduler.timings)
            if len(active) != run.launch_target or any(t.state == TaskState.STAGING for t in active):
                return False
            if any(t.state == TaskState.KILLING for t in run.tasks.values()):
                return False
        return True

    async def close(self) -> None:
        for handle in self._expunge_timers:
            handle.cancel()
        await self.scheduler.close()
