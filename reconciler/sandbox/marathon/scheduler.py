"""The simulated Marathon scheduler (sandbox layer): launches, kills and replaces tasks.

Everything runs on the event loop: timers move tasks from staging to running, a coalesced pass
keeps every app at its launch target (with backoff and offer matching), and hooks let the
deployment runner drive its steps from the same pass.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from reconciler.sandbox.marathon.appdef import service_ports
from reconciler.sandbox.marathon.backoff import DELAYING_STATES, FAILURE_UPDATES, add_delay, task_failure
from reconciler.sandbox.marathon.instances import counted_tasks, ending_in_place, next_incarnation, pick_victims
from reconciler.sandbox.marathon.model import CONDITION_OF_STATE, AppRun, Task, TaskState
from reconciler.sandbox.marathon.placement import REASON_ORDER, Match, RejectReason, match_offer, pick_ports
from reconciler.sandbox.marathon.state import SandboxState
from reconciler.sandbox.marathon.task_env import task_environment
from reconciler.sandbox.runtime import Launch, PortInUse, TaskRuntime

PORT_MOVES = 5  # how often a staging task moves off ports held outside the sandbox before it fails


@dataclass(frozen=True)
class Timings:
    start_delay_ms: int = 50
    health_delay_ms: int = 50
    seconds_scale: float = 1.0
    offer_retry_ms: int = 50
    kill_delay_ms: int = 0

    def scaled(self, seconds: float) -> float:
        """App-level seconds (health intervals, backoff) in sandbox seconds."""
        return seconds * self.seconds_scale


class Scheduler:
    def __init__(self, state: SandboxState, timings: Timings, listeners: TaskRuntime) -> None:
        self.state = state
        self.timings = timings
        self.listeners = listeners
        self.pass_hooks: list[Callable[[], None]] = []
        self.on_running: list[Callable[[Task], None]] = []
        self.on_gone: list[Callable[[Task], None]] = []
        self._pass_scheduled = False
        self._retry_handle: asyncio.TimerHandle | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._kill_timers: dict[str, asyncio.TimerHandle] = {}
        self._closed = False
        self.launching = 0

    # --- the pass -------------------------------------------------------------------------
    def kick(self) -> None:
        """Run one pass soon; many kicks in one loop iteration make one pass."""
        if not self._pass_scheduled:
            self._pass_scheduled = True
            asyncio.get_running_loop().call_soon(self._run_pass)

    def _run_pass(self) -> None:
        self._pass_scheduled = False
        for hook in self.pass_hooks:
            hook()
        starved = False
        for run in list(self.state.runs.values()):
            if not run.restarting:
                starved |= self.keep_instances(run)
        if starved:
            self._retry_later(self.timings.offer_retry_ms / 1000)

    def _retry_later(self, delay: float) -> None:
        if self._retry_handle is None or self._retry_handle.cancelled():
            loop = asyncio.get_running_loop()
            self._retry_handle = loop.call_later(max(delay, 0.001), self._retry_fired)

    def _retry_fired(self) -> None:
        self._retry_handle = None
        self.kick()

    def keep_instances(self, run: AppRun) -> bool:
        """Launch or kill so that `launch_target` tasks are active; True if launches are pending.

        A task being killed while its instance keeps its goal (TASK_KILLING, `rescheduled`) holds its
        instance's place: Marathon relaunches that instance once the task is terminal and starts no other
        for it (Instance.isScheduled: goal Running and a terminal condition; Killing is active)."""
        active = counted_tasks(run, self.state.clock.monotonic(), self.timings)
        missing = run.launch_target - len(active) - len(ending_in_place(run))
        self._drop_scheduled(run, max(missing, 0))
        if missing < 0:
            for task in pick_victims(active, -missing, run.definition.get("killSelection", "YOUNGEST_FIRST")):
                self.kill(task, TaskState.KILLED, "scaled down")
            return False
        return self.launch(run, missing) > 0 if missing else self._leave_queue(run)

    def _drop_scheduled(self, run: AppRun, keep: int) -> None:
        """Instances waiting to relaunch beyond what the target still wants are dropped with their ended
        task (a scale-down decommissions them first: they run nothing)."""
        while len(run.scheduled) > keep:
            run.scheduled.popitem()
            run.touch()

    def forget_scheduled(self, task: Task) -> None:
        """The instance of an ended task is expunged instead of relaunched (a kill with `wipe`)."""
        run = self.state.runs.get(task.app_id)
        if run is not None and run.scheduled.get(task.instance_id) is task:
            del run.scheduled[task.instance_id]
            run.touch()
            self.kick()

    def _leave_queue(self, run: AppRun) -> bool:
        run.queued_since = None
        return False

    # --- launching ------------------------------------------------------------------------
    def launch(self, run: AppRun, count: int) -> int:
        """Start up to `count` tasks now (backoff and offers permitting); returns how many wait."""
        if count <= 0:
            return 0
        run.queued_since = run.queued_since or self.state.clock.iso()
        now = self.state.clock.monotonic()
        if now < run.delay_until:
            self._retry_later(run.delay_until - now)
            return count
        while count > 0 and (match := self._offer_for(run)) is not None:
            self._start_task(run, match)
            count -= 1
        return count

    def _offer_for(self, run: AppRun) -> Match | None:
        placed = [t for t in run.tasks.values() if t.active]
        on_agent = {a.index: sum(1 for t in placed if t.agent.index == a.index) for a in self.state.agents}
        candidates = sorted((a for a in self.state.agents if a.active), key=lambda a: (on_agent[a.index], a.index))
        run.reject_counts = {}
        run.last_round_offers = len(candidates)
        for agent in candidates:
            run.offers_processed += 1
            result = match_offer(agent, run.definition, placed, self.state.rng, self.listeners.port_free)
            if isinstance(result, Match):
                run.last_used_at = self.state.clock.iso()
                return result
            run.offers_unused += 1
            run.last_unused_at = self.state.clock.iso()
            first = min(result, key=REASON_ORDER.index).value if result else RejectReason.DECLINED_SCARCE.value
            run.reject_counts[first] = run.reject_counts.get(first, 0) + 1
        return None

    def _start_task(self, run: AppRun, match: Match) -> None:
        stored = self.state.apps.get(run.app_id)
        defn = run.definition
        # InstanceOpFactoryImpl.inferNormalTaskOp: a scheduled instance that ran a task before launches
        # `Task.Id.nextIncarnationFor` that task; its ended task leaves the lists as the new one appears
        # (Instance.provisioned replaces the tasks map).
        ended = run.scheduled.pop(next(iter(run.scheduled))) if run.scheduled else None
        instance, incarnation = (
            next_incarnation(ended)
            if ended is not None
            else (f"{run.app_id.strip('/').replace('/', '_')}.instance-{uuid.uuid4()}", 1)
        )
        agent = match.agent
        task = Task(
            id=f"{instance}._app.{incarnation}",
            instance_id=instance,
            app_id=run.app_id,
            agent=agent,
            ports=match.ports,
            service_ports=service_ports(defn),
            version=stored.version if stored else "",
            config_version=stored.last_config_change_at if stored else "",
            staged_at=self.state.clock.iso(),
            staged_mono=self.state.clock.monotonic(),
            cpus=float(defn["cpus"]),
            mem=float(defn["mem"]),
            disk=float(defn["disk"]),
        )
        agent.used_cpus += task.cpus
        agent.used_mem += task.mem
        agent.used_disk += task.disk
        agent.used_ports.update(task.ports)
        run.tasks[task.id] = task
        run.touch()
        self.state.bus.status_update(task)
        loop = asyncio.get_running_loop()
        loop.call_later(self.timings.start_delay_ms / 1000, self._begin_running, task)

    def _begin_running(self, task: Task) -> None:
        if task.state != TaskState.STAGING or self._closed:
            return
        self.launching += 1
        job = asyncio.get_running_loop().create_task(self._become_running(task))
        self._background.add(job)
        job.add_done_callback(self._background.discard)

    async def _become_running(self, task: Task) -> None:
        try:
            failure = await self._open(task, movable=True) if task.healthy_flag else None
        finally:
            self.launching -= 1
        if task.state != TaskState.STAGING:
            self.listeners.close(task.id)
            return
        if failure:
            # A task that fails on its own keeps its instance's goal: the instance relaunches it.
            self.kill(task, TaskState.FAILED, failure, reschedule=True)
            return
        task.state = TaskState.RUNNING
        task.started_at = self.state.clock.iso()
        task.started_mono = self.state.clock.monotonic()
        run = self.state.runs.get(task.app_id)
        if run is not None and run.backoff_delay > 0:
            # NotifyRateLimiterStep: Running is `advanceWorthy`, RateLimiter.advanceDelay restarts the
            # delay's reference time (what cleanUpOverdueDelays measures from).
            run.delay_set_at = task.started_mono
        self.touch_task(task)
        self.state.bus.status_update(task)
        for hook in self.on_running:
            hook(task)
        self.kick()

    async def _open(self, task: Task, movable: bool) -> str | None:
        """Open the task's listeners. When a port was taken outside the sandbox since placement picked
        it, a staging task (movable) moves to other free ports of its agent, a few times at most."""
        for _ in range(PORT_MOVES if movable else 1):
            try:
                paths, launch = self.check_paths(task), self.launch_of(task)
                return await self.listeners.open(task.id, task.host, task.ports, paths, launch)
            except PortInUse as taken:
                run = self.state.runs.get(task.app_id)
                moved = (
                    pick_ports(task.agent, run.definition, self.state.rng, self.listeners.port_free)
                    if movable and run
                    else None
                )
                if moved is None or task.state != TaskState.STAGING:
                    return f"cannot listen on {taken.host}:{taken.port}: address already in use"
                task.agent.used_ports.difference_update(task.ports)
                task.agent.used_ports.update(moved)
                task.ports = moved
                self.touch_task(task)
        return f"cannot listen on {task.host}:{task.ports}: ports kept being taken outside the sandbox"

    # --- killing --------------------------------------------------------------------------
    def kill(
        self, task: Task, state: TaskState, message: str = "", *, reschedule: bool = False,
        reported: TaskState | None = None,
    ) -> None:
        """End a task in `state`; failures feed the app's backoff and lastTaskFailure. With `reschedule`
        the instance keeps its goal Running: once the task is terminal the instance is scheduled
        (Instance.isScheduled), the API lists the ended task until the instance relaunches as its next
        incarnation, and nothing else launches in its place meanwhile.

        A running task killed on purpose (state TASK_KILLED) first reports TASK_KILLING for
        `kill_delay_ms`, as an executor with the TASK_KILLING_STATE capability does: it is no longer
        active but keeps its resources and keeps answering on its ports. A replacement launches
        meanwhile only when the instance does not keep its goal (a scale-down, a restart); the same
        instance relaunches only once the task is terminal. `reported` is the Mesos state of the status
        update when it is not the one the lists show (TASK_LOST read as Gone or Unknown: TaskCondition).
        """
        if task.state not in (TaskState.STAGING, TaskState.RUNNING, TaskState.UNREACHABLE):
            return
        task.rescheduled = reschedule
        if state == TaskState.KILLED and task.state == TaskState.RUNNING and self.timings.kill_delay_ms > 0:
            task.state = TaskState.KILLING
            self.touch_task(task)
            if not task.expunged:
                self.state.bus.status_update(task, message)
            handle = asyncio.get_running_loop().call_later(
                self.timings.kill_delay_ms / 1000, self._killed, task, message
            )
            self._kill_timers[task.id] = handle
            self.kick()
            return
        self._end(task, state, message, reported or state)

    def _killed(self, task: Task, message: str) -> None:
        self._kill_timers.pop(task.id, None)
        if task.state == TaskState.KILLING:
            self._end(task, TaskState.KILLED, message, TaskState.KILLED)

    def _end(self, task: Task, state: TaskState, message: str, reported: TaskState) -> None:
        run = None if task.expunged else self.state.runs.get(task.app_id)
        task.state = state
        self._release(task)
        if task.expunged:
            self.state.bus.unknown_instance_terminated(task, CONDITION_OF_STATE[state])
        else:
            self.state.bus.status_update(task, message, reported)
        if run is not None:
            run.tasks.pop(task.id, None)
            if task.rescheduled:
                # InstanceUpdater.mesosUpdate: a terminal task of an instance whose goal is Running is no
                # reason to expunge it; the instance stays, with that task, until it is provisioned again.
                task.health = []
                run.scheduled[task.instance_id] = task
            run.touch()
            self.note_failure(run, task, message, reported)
        self.kick()

    def note_failure(self, run: AppRun, task: Task, message: str, reported: TaskState) -> None:
        """The app's launch delay and lastTaskFailure after an update in `reported` (backoff.py)."""
        if task.state in DELAYING_STATES:
            add_delay(run, self.state.clock.monotonic(), self.timings.seconds_scale)
        if reported in FAILURE_UPDATES:
            run.last_failure = task_failure(task, message, reported, self.state.clock.iso())

    def expunge(self, task: Task) -> None:
        """The instance of `task` leaves the tracker and every list at once, its resources freed."""
        task.expunged = True
        run = self.state.runs.get(task.app_id)
        if run is not None and run.tasks.pop(task.id, None) is not None:
            run.touch()
        self._release(task)
        self.kick()

    def _release(self, task: Task) -> None:
        agent = task.agent
        agent.used_cpus -= task.cpus
        agent.used_mem -= task.mem
        agent.used_disk -= task.disk
        agent.used_ports.difference_update(task.ports)
        self.listeners.close(task.id)
        for hook in self.on_gone:
            hook(task)

    def check_paths(self, task: Task) -> tuple[str, ...]:
        """The HTTP paths the app's health checks ask for (a container runtime must serve them)."""
        run = self.state.runs.get(task.app_id)
        checks = run.definition.get("healthChecks") or [] if run else []
        return tuple(str(check.get("path", "/")) for check in checks if "HTTP" in str(check.get("protocol", "")))

    def launch_of(self, task: Task) -> Launch:
        """The app's command and the environment TaskBuilder.commandInfo gives the task."""
        run = self.state.runs.get(task.app_id)
        if run is None:
            return Launch(None, task.cpus)
        command = run.definition.get("cmd")
        env = task_environment(run.definition, task.id, task.version, task.host, task.ports, self.state.rng)
        return Launch(command if isinstance(command, str) and command else None, task.cpus, tuple(env.items()))

    def reset_delay(self, run: AppRun) -> None:
        run.backoff_delay = 0.0
        run.delay_until = 0.0
        self.kick()

    def touch_task(self, task: Task) -> None:
        task.revision += 1
        run = self.state.runs.get(task.app_id)
        if run is not None:
            run.touch()

    # --- health flag (fault API) ----------------------------------------------------------
    async def set_healthy(self, task: Task, healthy: bool) -> None:
        task.healthy_flag = healthy
        self.touch_task(task)
        if not healthy:
            self.listeners.close(task.id)
        elif task.state == TaskState.RUNNING:
            failure = await self._open(task, movable=False)
            if failure:
                self.kill(task, TaskState.FAILED, failure, reschedule=True)

    async def close(self) -> None:
        self._closed = True
        if self._retry_handle is not None:
            self._retry_handle.cancel()
        for handle in self._kill_timers.values():
            handle.cancel()
        self._kill_timers.clear()
        # In-flight starts finish first (they take milliseconds); one cancelled after the wait closes
        # what it bound (TaskListeners.open).
        if self._background:
            await asyncio.wait(list(self._background), timeout=5.0)
        for job in list(self._background):
            job.cancel()
        await self.listeners.close_all()
