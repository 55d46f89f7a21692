"""The sandbox's runtime records (sandbox layer): agents, tasks, per-app run state, deployments.

App *definitions* are plain JSON dicts (see appdef.py); these records hold what Marathon tracks
beside them: which tasks run where, in which Mesos state, with which health results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

JsonDict = dict[str, Any]


class TaskState(StrEnum):
    STAGING = "TASK_STAGING"
    RUNNING = "TASK_RUNNING"
    KILLING = "TASK_KILLING"
    KILLED = "TASK_KILLED"
    FAILED = "TASK_FAILED"
    FINISHED = "TASK_FINISHED"
    LOST = "TASK_LOST"
    UNREACHABLE = "TASK_UNREACHABLE"
    # What the lists show for a TASK_LOST that TaskCondition reads as Gone or Unknown
    # (Condition.toMesosTaskStateOrStaging).
    GONE = "TASK_GONE"
    UNKNOWN = "TASK_UNKNOWN"


class Condition(StrEnum):
    """Instance conditions as `instance_changed_event` names them (Marathon 1.9)."""

    PROVISIONED = "Provisioned"
    STAGING = "Staging"
    RUNNING = "Running"
    KILLING = "Killing"
    KILLED = "Killed"
    FAILED = "Failed"
    FINISHED = "Finished"
    UNREACHABLE = "Unreachable"
    UNREACHABLE_INACTIVE = "UnreachableInactive"
    GONE = "Gone"
    UNKNOWN = "Unknown"


CONDITION_OF_STATE = {
    TaskState.STAGING: Condition.STAGING,
    TaskState.RUNNING: Condition.RUNNING,
    TaskState.KILLING: Condition.KILLING,
    TaskState.KILLED: Condition.KILLED,
    TaskState.FAILED: Condition.FAILED,
    TaskState.FINISHED: Condition.FINISHED,
    TaskState.LOST: Condition.GONE,
    TaskState.UNREACHABLE: Condition.UNREACHABLE,
    TaskState.GONE: Condition.GONE,
    TaskState.UNKNOWN: Condition.UNKNOWN,
}

ACTIVE_STATES = frozenset({TaskState.STAGING, TaskState.RUNNING})
# The terminal states a task of an instance that keeps its goal can end in (Gone and Unknown: a TASK_LOST
# through the fault API; an unreachable instance is expunged instead, never ended).
ENDED_STATES = frozenset({TaskState.KILLED, TaskState.FAILED, TaskState.FINISHED, TaskState.GONE, TaskState.UNKNOWN})


@dataclass
class Agent:
    """A simulated Mesos agent with its own loopback address."""

    index: int
    slave_id: str
    cpus: float
    mem: float
    disk: float
    port_range: tuple[int, int]
    active: bool = True
    used_cpus: float = 0.0
    used_mem: float = 0.0
    used_disk: float = 0.0
    used_ports: set[int] = field(default_factory=set)

    @property
    def host(self) -> str:
        return f"127.0.0.{self.index + 1}"


@dataclass
class HealthResult:
    """One health check's running result for one task (Marathon's `Health`)."""

    alive: bool = False
    consecutive_failures: int = 0
    first_success: str | None = None
    last_success: str | None = None
    last_failure: str | None = None
    last_failure_cause: str | None = None
    seen: bool = False


@dataclass
class Task:
    """One task incarnation of one app instance."""

    id: str
    instance_id: str
    app_id: str
    agent: Agent
    ports: list[int]
    service_ports: list[int]
    version: str
    config_version: str
    staged_at: str
    staged_mono: float
    cpus: float
    mem: float
    disk: float
    state: TaskState = TaskState.STAGING
    started_at: str | None = None
    started_mono: float | None = None
    healthy_flag: bool = True
    health: list[HealthResult] = field(default_factory=list)
    unreachable_mono: float | None = None
    unreachable_inactive: bool = False  # its instance is UnreachableInactive (told by instance_changed_event)
    revision: int = 0
    # Killed or ended while its instance's goal stays Running: once terminal, the instance relaunches it
    # as its next incarnation (Instance.isScheduled), never before.
    rescheduled: bool = False
    # Its instance was expunged (a kill with wipe) while the task still ends: no list shows it, and its
    # last update is for an unknown instance (TaskStatusUpdateProcessorImpl.publish).
    expunged: bool = False

    @property
    def host(self) -> str:
        return self.agent.host

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    def considered_healthy(self) -> bool:
        """Running, and every health check (if any) has a result that is alive."""
        if self.state != TaskState.RUNNING:
            return False
        return all(result.seen and result.alive for result in self.health)


@dataclass
class AppRun:
    """What Marathon tracks for one app beside its definition: tasks, launch target, backoff."""

    app_id: str
    definition: JsonDict
    tasks: dict[str, Task] = field(default_factory=dict)
    launch_target: int = 0
    restarting: bool = False
    backoff_delay: float = 0.0
    delay_until: float = 0.0
    delay_set_at: float = 0.0  # RateLimiter.Delay.referenceTimestamp (monotonic)
    queued_since: str | None = None
    last_failure: JsonDict | None = None
    offers_processed: int = 0
    offers_unused: int = 0
    last_unused_at: str | None = None
    last_used_at: str | None = None
    reject_counts: dict[str, int] = field(default_factory=dict)
    last_round_offers: int = 0
    revision: int = 0
    # Instances whose task ended while their goal stayed Running (Instance.isScheduled), by instance id,
    # with that ended task, oldest first: each relaunches as its next incarnation, and until then the API
    # lists the ended task in its terminal state, as Marathon keeps the instance with it.
    scheduled: dict[str, Task] = field(default_factory=dict)

    def touch(self) -> None:
        self.revision += 1

    def listed_tasks(self) -> list[Task]:
        """The tasks the task lists show: every instance's current task, an ended one included while its
        instance waits to relaunch (EnrichedTask.fromInstance takes any instance with an agent and tasks)."""
        return [*self.tasks.values(), *self.scheduled.values()]


class ActionKind(StrEnum):
    START = "StartApplication"
    STOP = "StopApplication"
    SCALE = "ScaleApplication"
    RESTART = "RestartApplication"


@dataclass(frozen=True)
class PlanAction:
    kind: ActionKind
    app_id: str

    def to_json(self) -> JsonDict:
        return {"action": self.kind.value, "app": self.app_id}


@dataclass
class Deployment:
    """A running deployment plan; it disappears from the state when its last step is done."""

    id: str
    version: str
    steps: list[list[PlanAction]]
    original: dict[str, JsonDict | None]
    current_step: int = 0
    step_done: set[str] = field(default_factory=set)
    affected_apps: list[str] = field(default_factory=list)
    affected: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        # Computed once: app listings ask every deployment about every app.
        self.affected = frozenset(action.app_id for step in self.steps for action in step)
        self.affected_apps = sorted(self.affected)

    def steps_json(self) -> list[JsonDict]:
        return [{"actions": [action.to_json() for action in step]} for step in self.steps]

    def light_plan(self) -> JsonDict:
        return {"id": self.id, "steps": self.steps_json(), "version": self.version}

    def current_actions(self) -> list[PlanAction]:
        if self.current_step < 1 or self.current_step > len(self.steps):
            return []
        return self.steps[self.current_step - 1]

    def to_json(self) -> JsonDict:
        return {
            "id": self.id,
            "version": self.version,
            "affectedApps": self.affected_apps,
            "affectedPods": [],
            "steps": self.steps_json(),
            "currentActions": [{**action.to_json(), "readinessCheckResults": []} for action in self.current_actions()],
            "currentStep": self.current_step,
            "totalSteps": len(self.steps),
        }
