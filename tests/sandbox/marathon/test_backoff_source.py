"""Launch delays after failing tasks checked against Marathon's source (mesosphere/marathon master
@ 90619da70d79, `src/main/scala/mesosphere/marathon/core/launchqueue/impl/RateLimiter.scala`).
"""

from __future__ import annotations

from typing import Any

import httpx

from reconciler.sandbox.marathon import MarathonSandbox
from tests.sandbox.marathon.fixtures import fast_config, until

SCALE = 0.03  # one app second is 30 ms: the shortest delay here (20 s) is 0.6 s


async def running_task(api: httpx.AsyncClient) -> dict[str, Any] | None:
    tasks = (await api.get("/v2/apps/b/tasks")).json()["tasks"]
    return next((t for t in tasks if t["state"] == "TASK_RUNNING"), None)


async def queued_delay(api: httpx.AsyncClient) -> float | None:
    queue = (await api.get("/v2/queue")).json()["queue"]
    return next((float(e["delay"]["timeLeftSeconds"]) for e in queue if e["app"]["id"] == "/b"), None)


async def fail_and_read_delay(api: httpx.AsyncClient, sandbox: MarathonSandbox) -> float:
    task = await until(lambda: running_task(api), "a running task")
    sandbox.kill_task(str(task["id"]), "TASK_FAILED", "failed by a test")
    return float(await until(lambda: queued_delay(api), "the app queued with its delay"))


async def test_a_failure_after_a_quiet_max_launch_delay_starts_the_backoff_over() -> None:
    # RateLimiter.addDelay: no delay -> Delay(now, backoff min maxLaunchDelay); a delay -> increased
    # (currentDelay * factor, capped). RateLimiter.cleanUpOverdueDelays drops a delay once
    # `now > referenceTimestamp + maxLaunchDelay`, so a failure after that much quiet starts at backoff.
    app = {
        "id": "/b", "cmd": "run", "cpus": 0.1, "mem": 16, "instances": 1,
        "backoffSeconds": 20, "backoffFactor": 4, "maxLaunchDelaySeconds": 100,
    }
    async with (
        MarathonSandbox(fast_config(seconds_scale=SCALE)) as sandbox,
        httpx.AsyncClient(base_url=sandbox.url, timeout=10.0) as api,
    ):
        assert (await api.post("/v2/apps", json=app)).status_code == 201
        assert 0 < await fail_and_read_delay(api, sandbox) <= 20
        assert 20 < await fail_and_read_delay(api, sandbox) <= 80
        # Quiet: the relaunched task runs for longer than maxLaunchDelaySeconds (100 app seconds).
        task = await until(lambda: running_task(api), "a running task again")
        clock = sandbox.state.clock
        since = clock.monotonic()
        await until(lambda: clock.monotonic() > since + 1.5 * 100 * SCALE, "a quiet max launch delay", timeout=30)
        assert (await running_task(api) or {}).get("id") == task["id"]
        assert 0 < await fail_and_read_delay(api, sandbox) <= 20


async def test_the_first_delay_never_exceeds_max_launch_delay() -> None:
    # RateLimiter.Delay.apply: `runSpec.backoffStrategy.backoff min runSpec.backoffStrategy.maxLaunchDelay`.
    app = {
        "id": "/b", "cmd": "run", "cpus": 0.1, "mem": 16, "instances": 1,
        "backoffSeconds": 500, "backoffFactor": 1.15, "maxLaunchDelaySeconds": 60,
    }
    async with (
        MarathonSandbox(fast_config(seconds_scale=SCALE)) as sandbox,
        httpx.AsyncClient(base_url=sandbox.url, timeout=10.0) as api,
    ):
        assert (await api.post("/v2/apps", json=app)).status_code == 201
        assert 0 < await fail_and_read_delay(api, sandbox) <= 60
