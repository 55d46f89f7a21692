"""Response bodies (sandbox layer): apps, tasks, groups and the queue as Marathon 1.9 renders them.

App JSON is cached per app, keyed by its version and its tasks' revision, so listing thousands
of apps with their tasks joins cached fragments instead of serialising everything again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from reconciler.sandbox.marathon.appdef import render
from reconciler.sandbox.marathon.instances import counted_tasks, ending_in_place
from reconciler.sandbox.marathon.model import ENDED_STATES, AppRun, HealthResult, JsonDict, Task, TaskState
from reconciler.sandbox.marathon.placement import REASON_ORDER
from reconciler.sandbox.marathon.scheduler import Scheduler
from reconciler.sandbox.marathon.state import SandboxState, StoredApp

COMPACT = (",", ":")


def task_json(task: Task) -> JsonDict:
    if task.state in ENDED_STATES:
        return ended_task_json(task)
    body: JsonDict = {
        "id": task.id,
        "appId": task.app_id,
        "host": task.host,
        "slaveId": task.agent.slave_id,
        "ports": task.ports,
        "servicePorts": task.service_ports,
        "ipAddresses": [{"ipAddress": task.host, "protocol": "IPv4"}],
        "stagedAt": task.staged_at,
        "version": task.version,
        "state": task.state.value,
        "localVolumes": [],
        "role": "*",
    }
    if task.started_at:
        body["startedAt"] = task.started_at
    if task.health:
        body["healthCheckResults"] = [health_json(result, task) for result in task.health if result.seen]
    return body


def ended_task_json(task: Task) -> JsonDict:
    """A terminal task its instance keeps until it relaunches: TaskConversion.enrichedTaskRamlWrite
    writes `stagedAt`, `startedAt`, `ports` and `version` only for an active task; the health results
    of an inactive instance are purged (HealthCheckActor.purgeStatusOfDoneInstances)."""
    return {
        "id": task.id,
        "appId": task.app_id,
        "host": task.host,
        "slaveId": task.agent.slave_id,
        "ports": [],
        "servicePorts": task.service_ports,
        "ipAddresses": [{"ipAddress": task.host, "protocol": "IPv4"}],
        "state": task.state.value,
        "localVolumes": [],
        "role": "*",
    }


def health_json(result: HealthResult, task: Task) -> JsonDict:
    body: JsonDict = {
        "alive": result.alive,
        "consecutiveFailures": result.consecutive_failures,
        "firstSuccess": result.first_success,
        "lastSuccess": result.last_success,
        "lastFailure": result.last_failure,
        "instanceId": task.instance_id,
    }
    if result.last_failure_cause:
        body["lastFailureCause"] = result.last_failure_cause
    return body


def stored_app_json(stored: StoredApp) -> JsonDict:
    """An app as one of its versions stored it: the definition with `version` and `versionInfo`, no
    runtime fields (AppVersionsResource; group versions embed their apps so, GroupInfoService)."""
    return {**render(stored.definition), "version": stored.version, "versionInfo": stored.version_info()}


def counts(run: AppRun | None) -> JsonDict:
    return counts_of(list(run.tasks.values()) if run else [])


def counts_of(tasks: list[Task]) -> JsonDict:
    """TaskCounts as TaskForStatistics counts them."""
    return {
        "tasksStaged": sum(1 for t in tasks if t.state == TaskState.STAGING),
        "tasksRunning": sum(1 for t in tasks if t.state == TaskState.RUNNING),
        "tasksHealthy": sum(1 for t in tasks if t.health and all(r.seen and r.alive for r in t.health)),
        "tasksUnhealthy": sum(1 for t in tasks if any(r.seen and not r.alive for r in t.health)),
    }


EMBED_PREFIXES = ("group.apps.", "apps.", "app.")


@dataclass(frozen=True)
class Embeds:
    """AppInfo.Embed as InfoEmbedResolver.resolveApp reads `embed` values (one prefix of `group.apps.`,
    `apps.`, `app.` or none; unknown values ignored; `tasks` brings deployments, `failures` is deprecated)."""

    tasks: bool = False
    counts: bool = True
    last_task_failure: bool = False
    readiness: bool = False
    task_stats: bool = False

    @classmethod
    def parse(cls, values: list[str], *, single: bool = False) -> Embeds:
        """The list (AppsResource.index) always adds counts and deployments; a single app (AppsResource.show)
        also tasks and lastTaskFailure."""
        names = {_unprefixed(value) for value in values}
        failures = "failures" in names
        return cls(
            tasks=single or "tasks" in names or failures,
            counts=True,
            last_task_failure=single or "lastTaskFailure" in names or failures,
            readiness="readiness" in names,
            task_stats="taskStats" in names,
        )


def _unprefixed(value: str) -> str:
    prefix = next((p for p in EMBED_PREFIXES if value.startswith(p)), "")
    return value[len(prefix) :]


def task_stats(run: AppRun | None, stored: StoredApp, now: float) -> JsonDict:
    """TaskStatsByVersion: counts and life times of all tasks, of those started after the last scaling,
    with the latest config and with an older config; a bucket without tasks is left out."""
    tasks = list(run.tasks.values()) if run else []
    buckets = {
        "totalSummary": tasks,
        # Versions are ISO-8601 UTC with milliseconds, so text order is time order.
        "startedAfterLastScaling": [t for t in tasks if t.version >= stored.last_scaling_at],
        "withLatestConfig": [t for t in tasks if t.version >= stored.last_config_change_at],
        "withOutdatedConfig": [t for t in tasks if t.version < stored.last_config_change_at],
    }
    return {name: {"stats": _stats(chosen, now)} for name, chosen in buckets.items() if chosen}


def _stats(tasks: list[Task], now: float) -> JsonDict:
    counted = counts_of(tasks)
    stats: JsonDict = {
        "counts": {
            "staged": counted["tasksStaged"],
            "running": counted["tasksRunning"],
            "healthy": counted["tasksHealthy"],
            "unhealthy": counted["tasksUnhealthy"],
        }
    }
    lives = sorted(now - t.started_mono for t in tasks if t.started_mono is not None)
    if lives:
        stats["lifeTime"] = {"averageSeconds": sum(lives) / len(lives), "medianSeconds": lives[len(lives) // 2]}
    return stats


@dataclass
class AppViews:
    state: SandboxState
    scheduler: Scheduler
    _cache: dict[str, tuple[tuple[object, ...], str]] = field(default_factory=dict)

    def app_text(self, app_id: str, embeds: Embeds) -> str:
        """The app's JSON text; `deployments` and `tasksStats` are not cached (they move on their own)."""
        stored = self.state.apps[app_id]
        run = self.state.runs.get(app_id)
        key = (stored.version, run.revision if run else -1, embeds)
        cached = self._cache.get(app_id)
        if cached is None or cached[0] != key:
            text = json.dumps(self._app_body(stored, run, embeds), separators=COMPACT)
            cached = (key, text[:-1])
            self._cache[app_id] = cached
        extra: JsonDict = {"deployments": [{"id": d.id} for d in self.state.deployments_of(app_id)]}
        if embeds.readiness:
            extra["readinessCheckResults"] = []  # readiness checks are not emulated: never a result
        if embeds.task_stats:
            extra["tasksStats"] = task_stats(run, stored, self.state.clock.monotonic())
        return f"{cached[1]},{json.dumps(extra, separators=COMPACT)[1:]}"

    def app_json(self, app_id: str, embeds: Embeds) -> JsonDict:
        result: JsonDict = json.loads(self.app_text(app_id, embeds))
        return result

    def _app_body(self, stored: StoredApp, run: AppRun | None, embeds: Embeds) -> JsonDict:
        body = render(stored.definition)
        body["version"] = stored.version
        body["versionInfo"] = stored.version_info()
        body.update(counts(run))
        if embeds.tasks:
            body["tasks"] = [task_json(task) for task in (run.listed_tasks() if run else [])]
        if embeds.last_task_failure and run is not None and run.last_failure:
            body["lastTaskFailure"] = run.last_failure
        return body

    def forget(self, app_id: str) -> None:
        self._cache.pop(app_id, None)


def queue_json(state: SandboxState, scheduler: Scheduler, views: AppViews) -> JsonDict:
    entries = []
    now = state.clock.monotonic()
    for run in state.runs.values():
        waiting = _waiting(run, scheduler)
        if waiting <= 0 or run.app_id not in state.apps:
            continue
        left = max(0.0, run.delay_until - now) / (scheduler.timings.seconds_scale or 1)
        entries.append(
            {
                "app": views.app_json(run.app_id, Embeds()),
                "count": waiting,
                "delay": {"timeLeftSeconds": round(left, 3), "overdue": left <= 0},
                "since": run.queued_since or state.clock.iso(),
                "role": "*",
                "processedOffersSummary": _offers_summary(run),
            }
        )
    return {"queue": entries}


def _waiting(run: AppRun, scheduler: Scheduler) -> int:
    """TaskLauncherActor.instancesToLaunch: the scheduled instances. An Unreachable one is active, not
    scheduled; once UnreachableInactive it is replaced by a new instance, which is."""
    active = counted_tasks(run, scheduler.state.clock.monotonic(), scheduler.timings)
    return run.launch_target - len(active) - len(ending_in_place(run))


def _offers_summary(run: AppRun) -> JsonDict:
    summary: JsonDict = {
        "processedOffersCount": run.offers_processed,
        "unusedOffersCount": run.offers_unused,
        "rejectSummaryLastOffers": _reject_funnel(run),
    }
    if run.last_unused_at:
        summary["lastUnusedOfferAt"] = run.last_unused_at
    if run.last_used_at:
        summary["lastUsedOfferAt"] = run.last_used_at
    return summary


def _reject_funnel(run: AppRun) -> list[JsonDict]:
    """Each check sees the offers the earlier checks let through (Marathon's summary is a funnel)."""
    rows = []
    processed = run.last_round_offers
    for reason in REASON_ORDER:
        declined = run.reject_counts.get(reason, 0)
        rows.append({"reason": reason, "declined": declined, "processed": processed})
        processed -= declined
    return rows
