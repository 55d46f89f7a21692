"""What the autoscaling end-to-end tests share: Marathon's tasks of an app read over HTTP, sampled
through a metrics source, as the decision function's TaskViews through the engine's own conversion
(engine/autoscaling.py task_views; times in wall seconds, the axis the agents' `timestamp` uses)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from reconciler.core.autoscale_metrics import TaskSample, TaskView
from reconciler.core.autoscale_policy import AutoscalePolicy
from reconciler.engine.autoscaling import task_views
from reconciler.marathon import wire
from reconciler.marathon.translate import to_actual_app
from reconciler.metrics.sources import TaskRef, TaskSource
from reconciler.spec.autoscale import AutoscaleSpec, autoscale_policy


def policy(block: dict[str, Any]) -> AutoscalePolicy:
    """The policy of a spec's `autoscale` block, through the spec layer."""
    built = autoscale_policy(AutoscaleSpec.model_validate(block))
    assert built is not None
    return built


async def app_tasks(api: httpx.AsyncClient, app_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    app = (await api.get(f"/v2/apps/{app_id.strip('/')}", params={"embed": "app.tasks"})).json()["app"]
    return app, list(app["tasks"])


def views(app: dict[str, Any], tasks: list[dict[str, Any]], samples: Mapping[str, TaskSample]) -> list[TaskView]:
    """Through the Marathon adapter's translation and the engine's conversion, as the controller does."""
    observed = to_actual_app(wire.App.model_validate({**app, "tasks": tasks}))
    return list(task_views(observed, samples))


async def sampled_views(api: httpx.AsyncClient, source: TaskSource, app_id: str) -> list[TaskView]:
    """One sampling of the app's running tasks (a rate needs the source's previous reading)."""
    app, tasks = await app_tasks(api, app_id)
    running = [t for t in tasks if t.get("state") == "TASK_RUNNING"]
    samples = await source.sample([TaskRef(t["id"], t["host"]) for t in running])
    return views(app, tasks, samples)
