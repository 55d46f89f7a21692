"""The sandbox's whole state (sandbox layer): the root group's apps and groups, their versions,
agents, tasks and running deployments. Tests may read it directly; only the scheduler, the
deployment runner and the write path change it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from reconciler.sandbox.marathon.clock import Clock
from reconciler.sandbox.marathon.events import EventBus
from reconciler.sandbox.marathon.model import Agent, AppRun, Deployment, JsonDict, Task


@dataclass
class StoredApp:
    """One app definition in the root group, with its version and versionInfo."""

    definition: JsonDict
    version: str
    last_scaling_at: str
    last_config_change_at: str

    def version_info(self) -> JsonDict:
        return {"lastScalingAt": self.last_scaling_at, "lastConfigChangeAt": self.last_config_change_at}


@dataclass(frozen=True)
class RootVersion:
    """One kept version of the root group: its apps as stored then, its explicit groups and every
    group id it held (GET /v2/groups/{id}/versions[/{version}], group rollback)."""

    apps: dict[str, StoredApp]
    groups: dict[str, JsonDict]
    group_ids: frozenset[str]

    def definitions(self) -> dict[str, JsonDict]:
        return {app_id: stored.definition for app_id, stored in self.apps.items()}


@dataclass
class SandboxState:
    clock: Clock
    bus: EventBus
    rng: random.Random
    agents: list[Agent] = field(default_factory=list)
    apps: dict[str, StoredApp] = field(default_factory=dict)
    app_history: dict[str, dict[str, StoredApp]] = field(default_factory=dict)
    groups: dict[str, JsonDict] = field(default_factory=dict)
    root_version: str = ""
    root_history: dict[str, RootVersion] = field(default_factory=dict)
    runs: dict[str, AppRun] = field(default_factory=dict)
    deployments: dict[str, Deployment] = field(default_factory=dict)
    frozen: bool = False

    def definitions(self) -> dict[str, JsonDict]:
        return {app_id: stored.definition for app_id, stored in self.apps.items()}

    def all_tasks(self) -> list[Task]:
        return [task for run in self.runs.values() for task in run.tasks.values()]

    def listed_tasks(self) -> list[Task]:
        """Every task the task lists show (ended ones of instances waiting to relaunch included)."""
        return [task for run in self.runs.values() for task in run.listed_tasks()]

    def find_task(self, task_id: str) -> Task | None:
        for run in self.runs.values():
            if task_id in run.tasks:
                return run.tasks[task_id]
        return None

    def agent(self, index: int) -> Agent:
        for agent in self.agents:
            if agent.index == index:
                return agent
        raise KeyError(f"agent {index} does not exist; agents are {[a.index for a in self.agents]}")

    def deployments_of(self, app_id: str) -> list[Deployment]:
        return [d for d in self.deployments.values() if app_id in d.affected]

    def group_ids(self) -> set[str]:
        """Explicit groups plus every group implied by an app id (intermediate groups)."""
        ids = {"/"} | set(self.groups)
        for app_id in self.apps:
            parts = app_id.strip("/").split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                ids.add("/" + "/".join(parts[:depth]))
        return ids
