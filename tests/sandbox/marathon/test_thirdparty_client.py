"""The PyPI `marathon` client against the sandbox over real HTTP (sandbox layer tests).

A third-party client written for the real Marathon must work unchanged: create an app, list apps
with tasks, scale, kill a task, read deployments and read the event stream. The client is
synchronous, so it runs in threads while the sandbox serves on the test's event loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from marathon import MarathonApp, MarathonClient
from marathon.models.events import MarathonDeploymentSuccess, MarathonStatusUpdateEvent

from reconciler.sandbox.marathon import MarathonSandbox

DEADLINE_SECONDS = 30.0
EVENT_TYPES = ["event_stream_attached", "status_update_event", "deployment_success"]


class BoundedSession(requests.Session):
    """A requests session whose reads give up: the client sets no timeout on its event stream."""

    def request(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs.setdefault("timeout", 15)
        return super().request(*args, **kwargs)


@pytest.fixture
def client(marathon_sandbox: MarathonSandbox) -> MarathonClient:
    return MarathonClient([marathon_sandbox.url], timeout=10, sse_session=BoundedSession())


async def eventually(probe: Callable[[], Any], what: str) -> Any:
    """Run the blocking `probe` in a thread until it returns something truthy or the deadline passes."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        result = await asyncio.to_thread(probe)
        if result:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {DEADLINE_SECONDS}s waiting for {what}")


class EventReader:
    """Reads the client's event stream in a thread until it has seen `wanted`, a bounded number of events."""

    def __init__(self, client: MarathonClient, wanted: Callable[[list[Any]], bool], limit: int = 500) -> None:
        self.client, self.wanted, self.limit = client, wanted, limit
        self.events: list[Any] = []
        self.attached = threading.Event()

    def run(self) -> list[Any]:
        for event in self.client.event_stream(event_types=EVENT_TYPES):
            self.events.append(event)
            self.attached.set()
            if self.wanted(self.events) or len(self.events) >= self.limit:
                break
        return self.events


def running(client: MarathonClient, app_id: str, count: int) -> list[Any]:
    """The app's running tasks when there are exactly `count` of them (as the client sees them)."""
    apps = {a.id: a for a in client.list_apps(embed_tasks=True)}
    tasks = [t for t in apps[app_id].tasks if t.state == "TASK_RUNNING"] if app_id in apps else []
    return tasks if len(tasks) == count else []


def saw_kill_and_success(killed: list[str]) -> Callable[[list[Any]], bool]:
    def wanted(events: list[Any]) -> bool:
        kinds = {type(e) for e in events}
        killed_seen = any(isinstance(e, MarathonStatusUpdateEvent) and e.task_id in killed for e in events)
        return MarathonDeploymentSuccess in kinds and killed_seen
    return wanted


async def test_thirdparty_client_drives_the_sandbox(client: MarathonClient) -> None:
    killed: list[str] = []
    reader = EventReader(client, saw_kill_and_success(killed))
    reading = asyncio.create_task(asyncio.to_thread(reader.run))
    assert await asyncio.to_thread(reader.attached.wait, DEADLINE_SECONDS), "no event_stream_attached frame"

    created = await asyncio.to_thread(client.create_app, "/thirdparty/web", MarathonApp(
        cmd="sleep 1000", cpus=0.1, mem=16, instances=1))
    assert created.id == "/thirdparty/web"
    await eventually(lambda: running(client, "/thirdparty/web", 1), "1 running task")

    scaled = await asyncio.to_thread(client.scale_app, "/thirdparty/web", instances=2)
    assert set(scaled) >= {"deploymentId", "version"}
    tasks = await eventually(lambda: running(client, "/thirdparty/web", 2), "2 running tasks")
    assert all(t.app_id == "/thirdparty/web" and t.host and t.ports for t in tasks)

    victim = tasks[0].id
    killed.append(victim)
    answer = await asyncio.to_thread(client.kill_task, "/thirdparty/web", victim)
    assert answer.id == victim

    def replaced() -> list[Any]:
        now = running(client, "/thirdparty/web", 2)
        return now if victim not in {t.id for t in now} else []

    await eventually(replaced, "a replacement for the killed task")

    # Nothing offers 1000 cpus, so this deployment stays and the client can read it.
    await asyncio.to_thread(client.create_app, "/thirdparty/huge", MarathonApp(cmd="sleep 1", cpus=1000, instances=1))
    deployments = await eventually(client.list_deployments, "a running deployment")
    assert any("/thirdparty/huge" in d.affected_apps for d in deployments)
    assert all(d.id and d.version and d.steps for d in deployments)

    events = await asyncio.wait_for(reading, DEADLINE_SECONDS)
    updates = [e for e in events if isinstance(e, MarathonStatusUpdateEvent)]
    assert {e.app_id for e in updates} == {"/thirdparty/web"}
    assert any(e.task_id == victim and e.task_status in ("TASK_KILLED", "TASK_KILLING") for e in updates)
    assert any(isinstance(e, MarathonDeploymentSuccess) for e in events)
