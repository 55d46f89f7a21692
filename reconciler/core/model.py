"""The shared vocabulary (pure core): Desired, Actual, Action, Plan.

Desired comes from the spec layer, Actual from the adapters (each translates its wire models into
these), Plan from the pure planner. Everything here is an immutable value: the plan that `plan`
prints is the object that `apply` executes and the store records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

from reconciler.core.autoscale_policy import AutoscalePolicy
from reconciler.core.naming import is_managed

JsonObject = Mapping[str, Any]


@dataclass(frozen=True)
class HealPolicy:
    """Self-healing settings of one app (defaults documented in docs/spec.md)."""

    critical_for_seconds: float = 30.0
    max_unavailable: int | None = None  # None: 1 or 25% of instances, whichever is larger
    backoff_seconds: float = 30.0
    crash_loop_heals: int = 5
    crash_loop_window_seconds: float = 600.0
    enabled: bool = True


@dataclass(frozen=True)
class DesiredApp:
    """One app as the specs want it: a concrete Marathon app definition plus reconciler settings.

    `definition` is the rendered Marathon body (absolute `id`, `instances`, ownership labels but not
    the hash label, which the planner stamps). `source` is `file:line` of the spec that declared it.
    """

    app_id: str
    env: str
    name: str
    definition: JsonObject
    instances: int
    dependencies: tuple[str, ...] = ()
    force: bool = False
    heal: HealPolicy = field(default_factory=HealPolicy)
    autoscale: AutoscalePolicy | None = None
    source: str = ""


@dataclass(frozen=True)
class DesiredEnvironment:
    name: str
    group: str
    base: str | None = None
    approval_required: bool = False
    apps: tuple[str, ...] = ()  # app names this environment runs itself
    source: str = ""
    # The revision its apps come from when not the tree's: an approved state older than the specs.
    revision: str = ""


@dataclass(frozen=True)
class Desired:
    environments: Mapping[str, DesiredEnvironment]
    apps: Mapping[str, DesiredApp]  # keyed by absolute app id
    revision: str = ""

    def revision_of(self, env: str) -> str:
        """The revision environment `env`'s apps come from (core/approvals.py keeps older ones in force)."""
        environment = self.environments.get(env)
        return (environment.revision if environment else "") or self.revision


class TaskState(StrEnum):
    """Mesos task states as Marathon reports them (`state` of a task)."""

    STAGING = "TASK_STAGING"
    STARTING = "TASK_STARTING"
    RUNNING = "TASK_RUNNING"
    KILLING = "TASK_KILLING"
    KILLED = "TASK_KILLED"
    FINISHED = "TASK_FINISHED"
    FAILED = "TASK_FAILED"
    LOST = "TASK_LOST"
    UNREACHABLE = "TASK_UNREACHABLE"
    GONE = "TASK_GONE"
    DROPPED = "TASK_DROPPED"
    ERROR = "TASK_ERROR"
    UNKNOWN = "TASK_UNKNOWN"


@dataclass(frozen=True)
class ActualTask:
    task_id: str
    app_id: str
    host: str
    ports: tuple[int, ...] = ()
    state: TaskState = TaskState.RUNNING
    healthy: bool | None = None  # None: the app has no health checks or no result yet
    version: str = ""
    started_at: str | None = None
    agent_id: str = ""
    health_since: str | None = None  # when `healthy` last changed, as near as Marathon's results tell


@dataclass(frozen=True)
class ActualApp:
    """One Marathon app as observed: its definition fields (normalised, no status fields) and tasks."""

    app_id: str
    definition: JsonObject
    instances: int
    version: str = ""
    tasks: tuple[ActualTask, ...] = ()
    deployment_ids: tuple[str, ...] = ()
    # versionInfo.lastConfigChangeAt: a task whose version is not older runs the current definition
    # (a scale changes `version`, not this). Empty when Marathon does not say.
    config_version: str = ""

    # Computed once per app object: a cycle at 10,000 apps asks each app a dozen times, and an unchanged
    # app is the same object from cycle to cycle (marathon/app_memo.py).
    @cached_property
    def labels(self) -> Mapping[str, str]:
        labels = self.definition.get("labels") or {}
        return labels if type(labels) is dict or isinstance(labels, Mapping) else {}

    @cached_property
    def managed(self) -> bool:
        return is_managed(self.labels)


@dataclass(frozen=True)
class ActualDeployment:
    deployment_id: str
    affected_apps: tuple[str, ...]
    current_step: int = 0
    total_steps: int = 0
    version: str = ""


@dataclass(frozen=True)
class Actual:
    """A complete, fresh observation; `complete` is False when any read failed (`problems` say why)."""

    apps: Mapping[str, ActualApp]
    deployments: tuple[ActualDeployment, ...] = ()
    complete: bool = True
    problems: tuple[str, ...] = ()


class ActionKind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    SCALE = "scale"
    DELETE = "delete"
    KILL_TASK = "kill-task"
    REGISTER = "register"
    DEREGISTER = "deregister"
    QUERY_CREATE = "query-create"
    QUERY_UPDATE = "query-update"
    QUERY_DELETE = "query-delete"
    WARN = "warn"


class Outcome(StrEnum):
    PLANNED = "planned"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUSED = "refused"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"  # the connection dropped after the write was sent: it may or may not have landed


@dataclass(frozen=True)
class FieldChange:
    """One field that differs: `path` is a JSON-pointer-like path (`/container/docker/image`)."""

    path: str
    actual: Any
    desired: Any


@dataclass(frozen=True)
class Action:
    """One thing to do, with the reason. `body` is what the adapter sends (for Marathon writes)."""

    kind: ActionKind
    target: str
    reason: str
    env: str = ""
    changes: tuple[FieldChange, ...] = ()
    body: JsonObject | None = None
    instances_from: int | None = None
    instances_to: int | None = None
    force: bool = False
    outcome: Outcome = Outcome.PLANNED
    detail: str = ""

    def line(self) -> str:
        """One compact, greppable line: `kind target outcome reason`."""
        text = f"{self.kind} {self.target} outcome={self.outcome} reason={self.reason!r}"
        if self.instances_to is not None:
            text += f" instances={self.instances_from}->{self.instances_to}"
        if self.changes:
            text += " fields=" + ",".join(change.path for change in self.changes)
        return text + (f" detail={self.detail!r}" if self.detail else "")


@dataclass(frozen=True)
class Plan:
    """Ordered actions. Refused actions stay in the plan (outcome `refused`) so they are shown."""

    actions: tuple[Action, ...] = ()
    revision: str = ""
    prunable: tuple[str, ...] = ()  # managed apps in scope that left the specs: --prune deletes them
    progressing: tuple[str, ...] = ()  # managed apps in scope that a running deployment still changes

    @property
    def pending(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.outcome == Outcome.PLANNED and a.kind != ActionKind.WARN)

    @property
    def refused(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.outcome == Outcome.REFUSED)

    @property
    def empty(self) -> bool:
        return not self.pending

    @property
    def unfinished(self) -> tuple[Action, ...]:
        """Actions that did not happen although planned: failed, skipped, or of unknown outcome."""
        return tuple(a for a in self.actions if a.outcome in UNFINISHED_OUTCOMES and a.kind != ActionKind.WARN)

    @property
    def changes_pending(self) -> bool:
        """Something still differs: a pending action, a write that did not happen, or a refused Marathon write."""
        refused = any(a.kind in MARATHON_WRITE_KINDS for a in self.refused)
        return bool(self.pending or self.unfinished or refused)


UNFINISHED_OUTCOMES = frozenset({Outcome.FAILED, Outcome.SKIPPED, Outcome.UNKNOWN})
MARATHON_WRITE_KINDS = frozenset({ActionKind.CREATE, ActionKind.UPDATE, ActionKind.SCALE, ActionKind.DELETE})
