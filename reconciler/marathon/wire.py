"""Marathon's REST API v2 bodies as typed wire models (adapter layer).

One model per body the reconciler reads, lenient enough for every Marathon version from 0.7 to 1.10:
empty collections may be omitted or null, old and new field names are both accepted (`ports` and
`portDefinitions`, `taskId` and `instanceId`, step actions keyed `action` or `type`), and fields we
do not model are kept as Marathon sent them (extra="allow") so that nothing is lost on the way in.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field


def _none_as_empty_list(value: Any) -> Any:
    # Marathon up to 1.4 sends `null` where 1.5+ omits the field; both mean "empty".
    return [] if value is None else value


def _bare_list_as_step(value: Any) -> Any:
    # Marathon 0.x sends a step as a bare list of actions, 1.x as {"actions": [...]}.
    return {"actions": value} if isinstance(value, list) else value


StrList = Annotated[list[str], BeforeValidator(_none_as_empty_list)]
IntList = Annotated[list[int], BeforeValidator(_none_as_empty_list)]
JsonList = Annotated[list[dict[str, Any]], BeforeValidator(_none_as_empty_list)]


# Fields of an app that are Marathon's report about it, not its definition (never send them back:
# `version` with any other field in a PUT is a rollback request and Marathon answers 422).
APP_STATUS_FIELDS = frozenset(
    {
        "version",
        "version_info",
        "tasks",
        "tasks_staged",
        "tasks_running",
        "tasks_healthy",
        "tasks_unhealthy",
        "deployments",
        "last_task_failure",
        "readiness_check_results",
        "task_stats",
    }
)


class WireModel(BaseModel):
    """Base of every wire model: camelCase aliases, unknown fields kept."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class HealthResult(WireModel):
    """One health check result of a task; 0.x to 1.3 name the task `taskId`, 1.4+ `instanceId`."""

    alive: bool
    consecutive_failures: int = Field(0, alias="consecutiveFailures")
    first_success: str | None = Field(None, alias="firstSuccess")
    last_success: str | None = Field(None, alias="lastSuccess")
    last_failure: str | None = Field(None, alias="lastFailure")
    last_failure_cause: str | None = Field(None, alias="lastFailureCause")
    task_id: str | None = Field(None, alias="taskId")
    instance_id: str | None = Field(None, alias="instanceId")


class IpAddress(WireModel):
    ip_address: str = Field(alias="ipAddress")
    protocol: str = "IPv4"


class Task(WireModel):
    """A task as `/v2/tasks`, `/v2/apps/{id}/tasks` and embedded app tasks show it.

    `state` is absent before Marathon ~1.2; task ids are `app.<uuid>` up to 1.8 and
    `app.instance-<uuid>._app.<n>` from 1.9 on: treat them as opaque.
    """

    id: str
    app_id: str = Field("", alias="appId")
    host: str = ""
    ports: IntList = Field(default_factory=list)
    service_ports: IntList = Field(default_factory=list, alias="servicePorts")
    ip_addresses: Annotated[list[IpAddress], BeforeValidator(_none_as_empty_list)] = Field(
        default_factory=list, alias="ipAddresses"
    )
    slave_id: str | None = Field(None, alias="slaveId")
    staged_at: str | None = Field(None, alias="stagedAt")
    started_at: str | None = Field(None, alias="startedAt")
    version: str | None = None
    state: str | None = None
    health_check_results: Annotated[list[HealthResult], BeforeValidator(_none_as_empty_list)] = Field(
        default_factory=list, alias="healthCheckResults"
    )


class VersionInfo(WireModel):
    last_scaling_at: str | None = Field(None, alias="lastScalingAt")
    last_config_change_at: str | None = Field(None, alias="lastConfigChangeAt")


class DeploymentRef(WireModel):
    id: str


class App(WireModel):
    """An app: its definition (typed where the reconciler reads it, the rest kept as sent) plus status.

    APP_STATUS_FIELDS names the fields that are Marathon's report about the app, not its definition.
    """

    id: str
    instances: int = 1
    labels: dict[str, str] | None = None
    version: str | None = None
    version_info: VersionInfo | None = Field(None, alias="versionInfo")
    tasks: list[Task] | None = None
    tasks_staged: int = Field(0, alias="tasksStaged")
    tasks_running: int = Field(0, alias="tasksRunning")
    tasks_healthy: int = Field(0, alias="tasksHealthy")
    tasks_unhealthy: int = Field(0, alias="tasksUnhealthy")
    deployments: Annotated[list[DeploymentRef], BeforeValidator(_none_as_empty_list)] = Field(default_factory=list)
    last_task_failure: dict[str, Any] | None = Field(None, alias="lastTaskFailure")
    readiness_check_results: JsonList | None = Field(None, alias="readinessCheckResults")
    task_stats: dict[str, Any] | None = Field(None, alias="taskStats")

    def definition(self) -> dict[str, Any]:
        """The app's definition fields exactly as Marathon sent them, without the status fields."""
        return self.model_dump(by_alias=True, exclude_unset=True, exclude=set(APP_STATUS_FIELDS))


class DeploymentAction(WireModel):
    """One action of a step; heavy (<= 1.6) event plans key it `type`, everything else `action`."""

    action: str = Field(validation_alias=AliasChoices("action", "type"))
    app: str | None = None
    pod: str | None = None


class CurrentAction(DeploymentAction):
    readiness_check_results: JsonList = Field(default_factory=list, alias="readinessCheckResults")


class DeploymentStep(WireModel):
    actions: list[DeploymentAction] = Field(default_factory=list)


Step = Annotated[DeploymentStep, BeforeValidator(_bare_list_as_step)]


class Deployment(WireModel):
    """An element of `GET /v2/deployments`; `current_step` is 1-based, 0 before the first step."""

    id: str
    version: str = ""
    affected_apps: StrList = Field(default_factory=list, alias="affectedApps")
    affected_pods: StrList = Field(default_factory=list, alias="affectedPods")
    steps: list[Step] = Field(default_factory=list)
    current_actions: list[CurrentAction] = Field(default_factory=list, alias="currentActions")
    current_step: int = Field(0, alias="currentStep")
    total_steps: int = Field(0, alias="totalSteps")


class DeploymentResult(WireModel):
    """What every write that starts a deployment answers: `{"deploymentId", "version"}`."""

    deployment_id: str = Field(alias="deploymentId")
    version: str = ""


class Group(WireModel):
    id: str
    apps: Annotated[list[App], BeforeValidator(_none_as_empty_list)] = Field(default_factory=list)
    groups: Annotated[list[Group], BeforeValidator(_none_as_empty_list)] = Field(default_factory=list)
    pods: JsonList = Field(default_factory=list)
    dependencies: StrList = Field(default_factory=list)
    version: str | None = None

    def all_apps(self) -> list[App]:
        """Every app of this group and its subgroups, depth first."""
        found = list(self.apps)
        for group in self.groups:
            found.extend(group.all_apps())
        return found


class QueueDelay(WireModel):
    time_left_seconds: float = Field(0.0, alias="timeLeftSeconds")
    overdue: bool = False


class QueueItem(WireModel):
    """An element of `GET /v2/queue`: an app (or pod) with instances still to launch."""

    app: App | None = None
    pod: dict[str, Any] | None = None
    count: int = 0
    delay: QueueDelay | None = None
    since: str | None = None
    role: str | None = None
    processed_offers_summary: dict[str, Any] | None = Field(None, alias="processedOffersSummary")


class Info(WireModel):
    name: str = "marathon"
    version: str = ""
    buildref: str | None = None
    elected: bool = False
    leader: str | None = None
    framework_id: str | None = Field(None, alias="frameworkId")
    marathon_config: dict[str, Any] = Field(default_factory=dict)
    zookeeper_config: dict[str, Any] = Field(default_factory=dict)
    http_config: dict[str, Any] = Field(default_factory=dict)


class DeploymentPlan(WireModel):
    """The plan inside deployment events: heavy (<= 1.6, with `original`/`target` groups) or light."""

    id: str
    version: str = ""
    steps: list[Step] = Field(default_factory=list)
    original: Group | None = None
    target: Group | None = None

    @property
    def heavy(self) -> bool:
        return self.original is not None or self.target is not None

    def affected_apps(self) -> list[str]:
        """App ids named by the plan's steps, in order, without repeats."""
        seen: dict[str, None] = {}
        for step in self.steps:
            seen.update((action.app, None) for action in step.actions if action.app)
        return list(seen)


class Event(WireModel):
    """One event of `/v2/events`; fields not listed here stay available through `model_extra`."""

    event_type: str = Field(alias="eventType")
    timestamp: str = ""
    app_id: str | None = Field(None, validation_alias=AliasChoices("appId", "runSpecId"))
    task_id: str | None = Field(None, alias="taskId")
    instance_id: str | None = Field(None, alias="instanceId")
    task_status: str | None = Field(None, alias="taskStatus")
    plan: DeploymentPlan | None = None
    current_step: Step | None = Field(None, alias="currentStep")


class TaskList(WireModel):
    tasks: list[Task] = Field(default_factory=list)


class AppList(WireModel):
    apps: list[App] = Field(default_factory=list)


class QueueList(WireModel):
    queue: list[QueueItem] = Field(default_factory=list)
