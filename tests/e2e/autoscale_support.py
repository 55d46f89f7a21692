"""What the autoscaling end-to-end tests share: Marathon's tasks of an app read over HTTP, sampled
through a metrics source, as the decision function's TaskViews (times in wall seconds, the axis the
agents' `timestamp` uses)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx

from reconciler.core.autoscale_metrics import TaskSample, TaskView
from reconciler.core.autoscale_policy import AutoscalePolicy
from reconciler.metrics.sources import TaskRef, TaskSource
from reconciler.spec.autoscale import AutoscaleSpec, autoscale_policy


def policy(block: dict[str, Any]) -> AutoscalePolicy:
    """The policy of a spec's `autoscale` block, through the spec layer."""
    built = autoscale_policy(AutoscaleSpec.model_validate(block))
    assert built is not None
    return built


def epoch(marathon_time: str | None) -> float | None:
    return datetime.fromisoformat(marathon_time).timestamp() if marathon_time else None


async def app_tasks(api: httpx.AsyncClient, app_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    app = (await api.get(f"/v2/apps/{app_id.strip('/')}", params={"embed": "app.tasks"})).json()["app"]
    return app, list(app["tasks"])


def views(app: dict[str, Any], tasks: list[dict[str, Any]], samples: Mapping[str, TaskSample]) -> list[TaskView]:
    result = []
    for task in tasks:
        checks = task.get("healthCheckResults") or []
        result.append(
            TaskView(
                task["id"],
                task.get("state", "TASK_STAGING"),
                all(check.get("alive") for check in checks) if checks else None,
                epoch(task.get("startedAt")),
                epoch(task.get("startedAt")),
                float(app["cpus"]),
                float(app["mem"]),
                samples.get(task["id"]),
            )
        )
    return result


async def sampled_views(api: httpx.AsyncClient, source: TaskSource, app_id: str) -> list[TaskView]:
    """One sampling of the app's running tasks (a rate needs the source's previous reading)."""
    app, tasks = await app_tasks(api, app_id)
    running = [t for t in tasks if t.get("state") == "TASK_RUNNING"]
    samples = await source.sample([TaskRef(t["id"], t["host"]) for t in running])
    return views(app, tasks, samples)
