"""Mesos agent statistics of the simulated agents (sandbox layer): `GET /monitor/statistics` (and the
older `/monitor/statistics.json`) on every active agent's address, one port shared by all agents.

The answer has a real agent's shape (Mesos' `/monitor/statistics` endpoint help; a command executor's
`executor_id` and `source` are the Marathon task id): one entry per running task with cumulative
`cpus_user_time_secs` / `cpus_system_time_secs`, `mem_rss_bytes`, the limits and a wall `timestamp`.
Limits include the command executor's own allowance, as an agent adds it to the task's resources
(DEFAULT_EXECUTOR_CPUS 0.1, DEFAULT_EXECUTOR_MEM 32 MB in Mesos' src/slave/constants.hpp).
Usage is the simulated load (load.py), or the container's cgroup numbers with the docker runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from reconciler.listeners import start_site, stop_runners
from reconciler.sandbox.listen import ListenError
from reconciler.sandbox.marathon.core import MarathonCore
from reconciler.sandbox.marathon.load import LoadModel
from reconciler.sandbox.marathon.model import Task, TaskState
from reconciler.sandbox.runtime import Usage

MIB = 1024 * 1024
EXECUTOR_CPUS = 0.1
EXECUTOR_MEM_MIB = 32.0
REPORTED = frozenset({TaskState.RUNNING, TaskState.KILLING})
BIND_ATTEMPTS = 20

ContainerUsage = Callable[[str], Awaitable[Usage | None]]


class AgentStatistics:
    """One aiohttp app, one listening site per active agent address, all on the same port."""

    def __init__(
        self, core: MarathonCore, loads: LoadModel, port: int, container_usage: ContainerUsage | None = None
    ) -> None:
        self.core = core
        self.loads = loads
        self.port = port
        self._container_usage = container_usage
        self._runner: web.AppRunner | None = None
        self._sites: dict[int, web.TCPSite] = {}
        self._syncing: asyncio.Task[None] | None = None
        self._dirty = False
        core.scheduler.pass_hooks.append(self.follow_agents)
        core.scheduler.on_gone.append(lambda task: loads.forget(task.id))

    async def start(self) -> None:
        """Listen on every active agent's address; with port 0, one free port that every agent can take."""
        app = web.Application()
        app.router.add_get("/monitor/statistics", self.answer)
        app.router.add_get("/monitor/statistics.json", self.answer)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        wanted = self.port
        for _ in range(BIND_ATTEMPTS if wanted == 0 else 1):
            try:
                await self._open_all()
                return
            except ListenError as exc:
                await self._close_sites()
                if wanted != 0 or exc.errno != errno.EADDRINUSE:
                    await self.stop()
                    raise
                self.port = 0
        await self.stop()
        raise ListenError("Mesos agent statistics", "127.0.0.2", 0, OSError(errno.EADDRINUSE, "no shared free port"))

    async def _open_all(self) -> None:
        for agent in self.core.state.agents:
            if agent.active:
                await self._open(agent.index, agent.host)

    async def _open(self, index: int, host: str) -> None:
        runner = self._runner
        assert runner is not None
        site = web.TCPSite(runner, host, self.port)
        try:
            await start_site(site)
        except OSError as exc:
            raise ListenError("Mesos agent statistics", host, self.port, exc) from exc
        self._sites[index] = site
        if self.port == 0:
            self.port = runner.addresses[-1][1]

    async def _close_sites(self) -> None:
        sites, self._sites = list(self._sites.values()), {}
        for site in sites:
            with contextlib.suppress(Exception):
                await site.stop()

    def follow_agents(self) -> None:
        """Scheduler pass hook: agents added, lost or restored get (or lose) their listener soon after."""
        if self._runner is None:
            return
        active = {a.index for a in self.core.state.agents if a.active}
        if active == set(self._sites):
            return
        self._dirty = True
        if self._syncing is None or self._syncing.done():
            self._syncing = asyncio.get_running_loop().create_task(self._sync())

    async def _sync(self) -> None:
        while self._dirty and self._runner is not None:
            self._dirty = False
            agents = {a.index: a for a in self.core.state.agents if a.active}
            for index in set(self._sites) - set(agents):
                with contextlib.suppress(Exception):
                    await self._sites.pop(index).stop()
            for index in set(agents) - set(self._sites):
                if self._runner is None:  # stopping
                    return
                with contextlib.suppress(ListenError):  # taken outside the sandbox: that agent has no statistics
                    await self._open(index, agents[index].host)

    async def stop(self) -> None:
        # The runner goes first: a scheduler pass calling follow_agents meanwhile starts no _sync, and a
        # _sync between two sites opens no more on a runner being cleaned up (it would listen on after it).
        runner, self._runner = self._runner, None
        if self._syncing is not None:
            self._syncing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._syncing
        self._sites = {}
        if runner is not None:
            await stop_runners(runner)  # its sites, and the connections they accepted

    async def answer(self, request: web.Request) -> web.Response:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        host = sockname[0] if sockname else ""
        tasks = [t for t in self.core.state.all_tasks() if t.host == host and t.state in REPORTED]
        # One instant for the whole answer: the counters' time and the reported timestamp move together.
        clock = self.core.state.clock
        now, wall = clock.monotonic(), clock.wall()
        entries = await asyncio.gather(*(self._entry(task, now, wall) for task in tasks))
        return web.json_response([entry for entry in entries if entry is not None])

    async def _entry(self, task: Task, now: float, wall: float) -> dict[str, Any] | None:
        if self._container_usage is not None:
            usage = await self._container_usage(task.id)
            if usage is None:
                return None
            wall = self.core.state.clock.wall()  # the container's counters are read now, not at `now`
        else:
            started = task.started_mono if task.started_mono is not None else now
            usage = self.loads.usage(task.id, task.app_id, started, now)
        return statistics_entry(task, self.core.framework_id, usage, wall)


def statistics_entry(task: Task, framework_id: str, usage: Usage, timestamp: float) -> dict[str, Any]:
    """One executor of `/monitor/statistics`: Marathon's command executor runs one task, named after it."""
    return {
        "executor_id": task.id,
        "executor_name": f"Command Executor (Task: {task.id}) (Command: sh -c '...')",
        "framework_id": framework_id,
        "source": task.id,
        "statistics": {
            "cpus_limit": round(task.cpus + EXECUTOR_CPUS, 6),
            "cpus_user_time_secs": round(usage.cpu_user_seconds, 6),
            "cpus_system_time_secs": round(usage.cpu_system_seconds, 6),
            "mem_limit_bytes": round((task.mem + EXECUTOR_MEM_MIB) * MIB),
            "mem_rss_bytes": round(usage.mem_mib * MIB),
            "timestamp": round(timestamp, 6),
        },
    }
