"""The embedded Marathon sandbox (sandbox layer): Marathon's REST API v2 on loopback, backed by
simulated agents and tasks, for the local default and every test that needs a Marathon.

    async with MarathonSandbox(MarathonSandboxConfig(start_delay_ms=5)) as sandbox:
        httpx.get(f"{sandbox.url}/v2/apps")
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import html
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from aiohttp import web

from reconciler.listeners import start_site, stop_runners
from reconciler.sandbox.listen import ListenError
from reconciler.sandbox.marathon import (
    faults,
    negotiation,
    routes_apps,
    routes_groups,
    routes_load,
    routes_misc,
    routes_system,
    routes_tasks,
)
from reconciler.sandbox.marathon.agent_stats import AgentStatistics
from reconciler.sandbox.marathon.clock import Clock
from reconciler.sandbox.marathon.core import AgentShape, MarathonCore
from reconciler.sandbox.marathon.fault_bodies import AGENT_FIELDS, FAULT_FIELDS, check_body, kill_fields
from reconciler.sandbox.marathon.faults import FAULTS, FaultSettings
from reconciler.sandbox.marathon.load import LoadModel, exposition
from reconciler.sandbox.marathon.model import Agent, Task
from reconciler.sandbox.marathon.routes_apps import CORE
from reconciler.sandbox.marathon.scheduler import Timings
from reconciler.sandbox.marathon.state import SandboxState
from reconciler.sandbox.marathon.task_faults import FAULT_STATES, apply_task_fault
from reconciler.sandbox.marathon.wire import ApiError, json_response
from reconciler.sandbox.runtime import TaskRuntime
from reconciler.sandbox.runtime.docker import DockerTasks, DockerUnavailable
from reconciler.sandbox.runtime.simulated import TaskListeners
from reconciler.sandbox.write_log import WriteLog

RUNTIMES = ("simulated", "docker")
FEATURES = frozenset({"secrets"})  # the --enable_features the sandbox emulates
WRITE_LOG = web.AppKey("write_log", WriteLog)


@dataclass
class MarathonSandboxConfig:
    host: str = "127.0.0.1"
    port: int = 0
    agents: int = 3
    agent_cpus: float = 4.0
    agent_mem: float = 8192.0
    agent_disk: float = 65536.0
    agent_port_range: tuple[int, int] = (31000, 32000)
    runtime: str = "simulated"
    start_delay_ms: int = 50
    health_delay_ms: int = 50
    # A kill through the API goes TASK_RUNNING -> TASK_KILLING -> TASK_KILLED, this far apart (the
    # executor's SIGTERM grace; the task keeps answering meanwhile). 0: straight to TASK_KILLED.
    kill_delay_ms: int = 0
    task_listeners: bool = True
    # App-level seconds (health intervals, grace periods, backoff) times this = sandbox seconds.
    seconds_scale: float = 1.0
    offer_retry_ms: int = 50
    seed: int | None = None
    keep_event_history: bool = False
    # "user:password" turns on Jetty-style HTTP Basic auth on the API (FACTS.md §12); never logged.
    http_credentials: str | None = None
    http_realm: str = "Mesosphere"
    # Marathon 1.10's deprecated `text_plain_tasks` feature (--deprecated_features): off, as in 1.10.
    text_plain_tasks: bool = False
    # Where every agent serves Mesos' `/monitor/statistics` (a real agent: 5051). 0: one free port
    # that every agent address can take, so concurrent sandboxes never collide.
    agent_stats_port: int = 0
    # --max_running_deployments: a root change while this many deployments run is refused with 403.
    max_running_deployments: int = 100
    # Seconds between the bare CRLFs of `/v2/events`: Jetty's EventSourceServlet sends one every 10 s
    # (routes_misc); shorter only for tests of the heartbeat's form.
    event_stream_keepalive_seconds: float = 10.0
    # --enable_features: `secrets` lets apps declare `secrets` and env secret references (else Marathon's
    # 422). Tasks get no value for such a variable: no secrets plugin resolves one (docs/sandbox.md).
    features: frozenset[str] = frozenset()

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.__dict__.items() if k != "http_credentials"}
        return f"MarathonSandboxConfig({shown}, http_credentials={'***' if self.http_credentials else None})"

    def check(self) -> None:
        """Refuse impossible settings with one clear sentence each."""
        if self.runtime not in RUNTIMES:
            raise ValueError(f"runtime {self.runtime!r} is not available; choose one of {', '.join(RUNTIMES)}")
        if not 0 <= self.agents <= 254:
            raise ValueError(f"agents must be between 0 and 254 (127.0.0.2-127.0.0.255), not {self.agents}")
        if min(self.agent_cpus, self.agent_mem, self.agent_disk) < 0:
            raise ValueError("agent cpus, mem and disk must not be negative")
        low, high = self.agent_port_range
        if not 1 <= low <= high <= 65535:
            raise ValueError(f"agent port range {low}-{high} must lie within 1-65535, low <= high")
        unknown = sorted(set(self.features) - FEATURES)
        if unknown:
            known = ", ".join(sorted(FEATURES))
            raise ValueError(f"feature {', '.join(unknown)} is not emulated; the sandbox knows {known}")
        for name, port in (("port", self.port), ("agent_stats_port", self.agent_stats_port)):
            if not 0 <= port <= 65535:
                raise ValueError(f"{name} {port} must lie within 0-65535")
        keepalive = self.event_stream_keepalive_seconds
        if not keepalive > 0:
            raise ValueError(f"event_stream_keepalive_seconds must be above 0, not {keepalive}")


@web.middleware
async def marathon_answers(request: web.Request, handler: Callable[[web.Request], object]) -> web.StreamResponse:
    """API faults first, then content negotiation and Marathon's error mapping (unknown route = 500
    `URI not found`); answers of 32 bytes or more are gzipped for a client that takes gzip."""
    fault = request.app[FAULTS]
    refusal = basic_auth_refusal(request)
    if refusal is not None:
        return refusal
    if not request.path.startswith("/_sandbox/"):
        if fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault.next_request_fails():
            return json_response({"message": "sandbox fault: injected server error"}, fault.error_status)
    response: web.StreamResponse | None = negotiation.refusal(request)
    if response is None:
        response = await _answer(request, handler)
    negotiation.compress_if_accepted(request, response)
    request.app[routes_system.METERS].count(response.status)
    request.app[WRITE_LOG].record(request, response.status)
    return response


async def _answer(request: web.Request, handler: Callable[[web.Request], object]) -> web.StreamResponse:
    try:
        response = await handler(request)  # type: ignore[misc]
    except ApiError as exc:
        return json_response(exc.body, exc.status)
    except web.HTTPNotFound:
        return json_response({"message": "URI not found"}, 500)
    except web.HTTPMethodNotAllowed:
        return json_response({"message": "HTTP 405 Method Not Allowed"}, 405)
    assert isinstance(response, web.StreamResponse)
    return response


AUTH = web.AppKey("marathon_auth", tuple)
UNAUTHORIZED_PAGE = (
    "<html><body><h2>HTTP ERROR 401</h2><p>Problem accessing {path}. Reason: Unauthorized</p></body></html>"
)


def basic_auth_refusal(request: web.Request) -> web.Response | None:
    """401 as Jetty's security handler answers it, when credentials are configured and wrong."""
    credentials, realm = request.app[AUTH]
    if not credentials or request.path.startswith("/_sandbox/"):
        return None
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic ") and hmac.compare_digest(header[6:].strip(), credentials):
        return None
    return web.Response(
        status=401,
        text=UNAUTHORIZED_PAGE.format(path=html.escape(request.path)),
        content_type="text/html",
        headers={"WWW-Authenticate": f'basic realm="{realm}"'},
    )


async def stamp_leader(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["X-Marathon-Leader"] = f"http://{request.host}"


class MarathonSandbox:
    """Marathon's API on loopback; an async context manager."""

    def __init__(self, config: MarathonSandboxConfig | None = None, clock: Clock | None = None) -> None:
        self.config = config or MarathonSandboxConfig()
        self.config.check()
        timings = Timings(
            self.config.start_delay_ms,
            self.config.health_delay_ms,
            self.config.seconds_scale,
            self.config.offer_retry_ms,
            self.config.kill_delay_ms,
        )
        self.loads = LoadModel()
        docker = DockerTasks() if self.config.runtime == "docker" else None
        self.runtime: TaskRuntime = docker or TaskListeners(self.config.task_listeners, self._exposition)
        self.core = MarathonCore(timings, self.runtime, clock or Clock(), self.config.seed)
        self.core.state.bus.keep_history = self.config.keep_event_history
        self.core.writer.max_running = self.config.max_running_deployments
        self.core.features = frozenset(self.config.features)
        self.agent_statistics = AgentStatistics(
            self.core, self.loads, self.config.agent_stats_port, docker.usage if docker else None
        )
        self.faults = FaultSettings()
        self.writes = WriteLog()  # every write received, with its User-Agent (tests' introspection)
        self._runner: web.AppRunner | None = None
        self.url = ""

    @property
    def state(self) -> SandboxState:
        return self.core.state

    @property
    def agent_stats_port(self) -> int:
        """The port of every agent's `/monitor/statistics` (known once started)."""
        return self.agent_statistics.port

    def _exposition(self, task_id: str) -> str:
        task = self.core.state.find_task(task_id)
        now = self.core.state.clock.monotonic()
        started = task.started_mono if task is not None and task.started_mono is not None else now
        return exposition(self.loads.usage(task_id, task.app_id if task else "", started, now))

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[marathon_answers])
        app[CORE] = self.core
        app[FAULTS] = self.faults
        app[WRITE_LOG] = self.writes
        app[routes_load.LOADS] = self.loads
        app[routes_load.SIMULATED] = self.config.runtime != "docker"
        encoded = (
            base64.b64encode(self.config.http_credentials.encode()).decode() if self.config.http_credentials else ""
        )
        app[AUTH] = (encoded, self.config.http_realm)
        app[routes_misc.KEEPALIVE] = self.config.event_stream_keepalive_seconds
        app[negotiation.DEPRECATED] = frozenset({negotiation.TEXT_PLAIN_TASKS} if self.config.text_plain_tasks else ())
        app.on_response_prepare.append(stamp_leader)
        for module in (routes_apps, routes_tasks, routes_groups, routes_misc, routes_system, faults, routes_load):
            module.add_routes(app)
        return app

    async def start(self) -> None:
        """Listen on host:port; OSError when the port is taken, DockerUnavailable when docker is missing."""
        if isinstance(self.runtime, DockerTasks):
            await self.runtime.prepare()
        for _ in range(self.config.agents):
            self.add_agent()
        self._runner = web.AppRunner(self.build_app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        try:
            await start_site(site)
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise ListenError("Marathon API", self.config.host, self.config.port, exc) from exc
        port = self._runner.addresses[0][1]
        self.url = f"http://{self.config.host}:{port}"
        try:
            await self.agent_statistics.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        await self.agent_statistics.stop()
        await self.core.close()
        if self._runner is not None:
            await stop_runners(self._runner)
            self._runner = None

    async def __aenter__(self) -> MarathonSandbox:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # --- waiting ----------------------------------------------------------------------------
    async def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
        """Poll `condition` on the loop until it holds; TimeoutError naming `what` after `timeout`."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition():
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"sandbox: {what} did not happen within {timeout}s")
            await asyncio.sleep(0.005)

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Until no deployment runs and every app has its tasks started."""
        await self.wait_for(self.core.idle, timeout, "idle (no deployments, no pending launches)")

    # --- faults, in process -----------------------------------------------------------------
    def kill_task(
        self, task_id: str, state: str = "TASK_KILLED", message: str = "killed by a test", reason: str | None = None
    ) -> None:
        """As `POST /_sandbox/tasks/{id}/kill` (task_faults.py); a ValueError names what is wrong."""
        body = {"state": state, "message": message, **({"reason": reason} if reason is not None else {})}
        check_body(body, kill_fields(FAULT_STATES), "kill_task")
        apply_task_fault(self.core, self._task(task_id), state, message, reason)

    async def set_task_health(self, task_id: str, healthy: bool) -> None:
        await self.core.scheduler.set_healthy(self._task(task_id), healthy)

    def lose_agent(self, index: int) -> list[str]:
        return self.core.lose_agent(index)

    def restore_agent(self, index: int) -> None:
        self.core.restore_agent(index)

    def add_agent(self, cpus: float | None = None, mem: float | None = None, disk: float | None = None) -> Agent:
        given = {"cpus": cpus, "mem": mem, "disk": disk}
        check_body({k: v for k, v in given.items() if v is not None}, AGENT_FIELDS, "add_agent")
        shape = AgentShape(
            self.config.agent_cpus if cpus is None else cpus,
            self.config.agent_mem if mem is None else mem,
            self.config.agent_disk if disk is None else disk,
            self.config.agent_port_range,
        )
        return self.core.add_agent(shape)

    def set_latency(self, milliseconds: int) -> None:
        """ValueError (FaultBodyError) for what PUT /_sandbox/faults would refuse."""
        check_body({"latencyMs": milliseconds}, FAULT_FIELDS, "set_latency")
        self.faults.latency_ms = milliseconds

    def fail_every(self, nth: int, status: int = 503) -> None:
        check_body({"errorEvery": nth, "errorStatus": status}, FAULT_FIELDS, "fail_every")
        self.faults.error_every, self.faults.error_status = nth, status

    def freeze_deployments(self, frozen: bool = True) -> None:
        self.core.state.frozen = frozen
        self.core.scheduler.kick()

    def reset_faults(self) -> None:
        self.faults.reset()
        self.freeze_deployments(False)

    def _task(self, task_id: str) -> Task:
        task = self.core.state.find_task(task_id)
        if task is None:
            raise KeyError(f"task {task_id!r} does not exist; list them with GET /v2/tasks")
        return task


__all__ = ["DockerUnavailable", "MarathonSandbox", "MarathonSandboxConfig"]
