"""The write path (sandbox layer): every app or group change becomes a new root state,
a version, and a deployment plan, with Marathon's locking rules (FACTS.md §3, §5).
"""

from __future__ import annotations

import uuid

from reconciler.sandbox.marathon.appdef import ServicePorts, assign_service_ports, config_part, service_ports
from reconciler.sandbox.marathon.deployments import DeploymentRunner
from reconciler.sandbox.marathon.model import ActionKind, AppRun, Deployment, JsonDict, PlanAction
from reconciler.sandbox.marathon.plans import build_steps
from reconciler.sandbox.marathon.state import RootVersion, SandboxState, StoredApp

SERVICE_PORT_SPAN = (10000, 20000)
ROOT_VERSIONS_KEPT = 50  # Marathon's zk_max_versions default
FORCED_AWAY = "The upgrade has been cancelled: a forced deployment replaced it"


class AppLocked(Exception):
    """The change touches apps that running deployments hold; carries their ids for the 409 body."""

    def __init__(self, deployment_ids: list[str]) -> None:
        super().__init__(f"locked by deployments {', '.join(deployment_ids)}")
        self.deployment_ids = deployment_ids


class TooManyDeployments(Exception):
    """Marathon runs its maximum number of deployments (TooManyRunningDeploymentsException, a 403)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"Max number ({limit}) of running deployments is achieved. Wait for existing deployments to complete "
            "or cancel oneusing force=true parameter. You can increase max deployment number by using "
            "--max_running_deployments parameter but be advised that this can have negative effects on the performance."
        )


class Writer:
    def __init__(self, state: SandboxState, runner: DeploymentRunner) -> None:
        self.state = state
        self.runner = runner
        self.max_running = 100  # --max_running_deployments' default (GroupManagerConfig)

    def check_capacity(self) -> None:
        """Refuse any root change while the maximum number of deployments runs, forced or not, before
        the change is even computed (GroupManagerImpl.checkMaxRunningDeployments)."""
        if len(self.state.deployments) >= self.max_running:
            raise TooManyDeployments(self.max_running)

    def plan(self, target: dict[str, JsonDict], restarts: frozenset[str] = frozenset()) -> list[list[PlanAction]]:
        """The steps a change would take, without applying it (dryRun)."""
        self._assign_ports(target)
        return build_steps(self.state.definitions(), target, restarts)

    def commit(
        self,
        target: dict[str, JsonDict],
        *,
        force: bool,
        restarts: frozenset[str] = frozenset(),
        group_id: str = "/",
        groups: dict[str, JsonDict] | None = None,
    ) -> tuple[str, str]:
        """Store `target` as the root's apps and start its deployment; returns (deploymentId, version).

        `group_id` is the group `group_change_success` names: the one the caller edits, as each API
        resource passes it to GroupManager.updateRoot (an app's parent group for one-app changes).
        `groups`, when given, replaces the explicit groups; an entry without a `version` gets this
        change's. Nothing is stored when the change is refused (TooManyDeployments, AppLocked, ValueError).
        """
        self.check_capacity()
        steps = self.plan(target, restarts)
        affected = {action.app_id for step in steps for action in step}
        conflicts = [d for d in self.state.deployments.values() if affected & d.affected]
        if conflicts and not force:
            raise AppLocked([d.id for d in conflicts])
        for deployment in conflicts:
            self.runner.cancel(deployment, FORCED_AWAY)
        version = self.state.clock.next_version()
        if groups is not None:
            self.state.groups = {gid: {"version": version, **meta} for gid, meta in groups.items()}
        original = self.state.definitions()
        self._store(original, target, steps, version, restarts)
        deployment_id = str(uuid.uuid4())
        if steps:
            snapshot = {app_id: original.get(app_id) for app_id in affected}
            self.runner.start(Deployment(deployment_id, version, steps, snapshot))
        self._remember_root(version)
        self.state.bus.publish("group_change_success", {"groupId": group_id, "version": version})
        if not steps:
            # A plan without steps still runs: its DeploymentActor finishes at once and
            # MarathonSchedulerActor.deploymentSuccess publishes deployment_success for it.
            plan = Deployment(deployment_id, version, [], {}).light_plan()
            self.state.bus.publish("deployment_success", {"id": deployment_id, "plan": plan})
        return deployment_id, version

    def _remember_root(self, version: str) -> None:
        """Keep the root per version (its stored apps and groups are shared, never copied: a change
        replaces them) for group versions and rollback."""
        self.state.root_version = version
        history = self.state.root_history
        groups = frozenset(self.state.group_ids())
        history[version] = RootVersion(dict(self.state.apps), dict(self.state.groups), groups)
        while len(history) > ROOT_VERSIONS_KEPT:
            del history[next(iter(history))]

    def _assign_ports(self, target: dict[str, JsonDict]) -> None:
        """Fill service ports left at 0. Taken are the ports of both roots, the stored one and the target
        (assignDynamicServicePorts): an app this change removes keeps its ports out of the change."""
        stored = self.state.definitions()
        taken = {port for defn in (*stored.values(), *target.values()) for port in service_ports(defn) if port}
        ports = ServicePorts(taken, SERVICE_PORT_SPAN)
        for app_id, defn in target.items():
            assign_service_ports(defn, stored.get(app_id), ports)

    def _store(
        self,
        original: dict[str, JsonDict],
        target: dict[str, JsonDict],
        steps: list[list[PlanAction]],
        version: str,
        restarts: frozenset[str],
    ) -> None:
        kinds = {action.app_id: action.kind for step in steps for action in step}
        for app_id in set(original) - set(target):
            self.state.apps.pop(app_id, None)
            self.state.app_history.pop(app_id, None)
        for app_id, defn in target.items():
            kind = kinds.get(app_id)
            if kind is None:
                continue
            self._store_app(app_id, defn, kind, version, app_id in restarts)

    def _store_app(self, app_id: str, defn: JsonDict, kind: ActionKind, version: str, restarted: bool) -> None:
        previous = self.state.apps.get(app_id)
        stored = StoredApp(defn, version, *_version_info(previous, defn, restarted, version))
        self.state.apps[app_id] = stored
        self.state.app_history.setdefault(app_id, {})[version] = stored
        run = self.state.runs.get(app_id)
        if run is None:
            self.state.runs[app_id] = AppRun(app_id, defn)
            return
        run.definition = defn
        if kind == ActionKind.RESTART:
            run.backoff_delay, run.delay_until = 0.0, 0.0
        run.touch()

    def rollback_target(self, deployment: Deployment) -> dict[str, JsonDict]:
        """The root with every app the deployment touched put back as it was before it."""
        target = self.state.definitions()
        for app_id, defn in deployment.original.items():
            if defn is None:
                target.pop(app_id, None)
            else:
                target[app_id] = defn
        return target


def _version_info(previous: StoredApp | None, defn: JsonDict, restarted: bool, version: str) -> tuple[str, str]:
    """(lastScalingAt, lastConfigChangeAt) after a change (GroupVersioningUtil.updateVersionInfoForChangedApps,
    VersionInfo.scala): a new app or a config change moves both, an instances-only change moves
    lastScalingAt, a restart of the same definition moves lastConfigChangeAt only (withRestartChange)."""
    if previous is None or config_part(previous.definition) != config_part(defn):
        return version, version
    if previous.definition.get("instances") != defn.get("instances"):
        return version, previous.last_config_change_at
    if restarted:
        return previous.last_scaling_at, version
    return previous.last_scaling_at, previous.last_config_change_at
