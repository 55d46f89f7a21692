"""The embedded Consul: agent HTTP listeners, DNS and check runner over one shared state (sandbox layer).

The server agent listens on `host:port`; every extra node runs its own agent listener on its own
loopback address (same port when free). `stop_http`/`start_http` make Consul unreachable and back
without losing state; fault setters add latency, 5xx answers and forced check statuses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType

from aiohttp import web

from reconciler.listeners import start_site, stop_runners
from reconciler.sandbox.consul import api_agent, api_catalog, api_events, api_kv, api_query, api_txn
from reconciler.sandbox.consul.catalog import Check, CheckStatus
from reconciler.sandbox.consul.dns_server import DnsServer
from reconciler.sandbox.consul.faults import HttpFaults
from reconciler.sandbox.consul.http_wire import FAULTS_KEY, SERVER_AGENT_KEY, WRITES_KEY, consul_middleware
from reconciler.sandbox.consul.scoping import datacenter_guard
from reconciler.sandbox.consul.state import NODE_KEY, STATE_KEY, ConsulState
from reconciler.sandbox.listen import ListenError

SHUTDOWN_TIMEOUT = 0.5


@dataclass
class ConsulSandboxConfig:
    host: str = "127.0.0.1"
    port: int = 0
    dns_port: int = 0
    datacenter: str = "dc1"
    domain: str = "consul"
    # Extra client-agent nodes: (node name, loopback address), e.g. (("agent-1", "127.0.0.2"),).
    nodes: tuple[tuple[str, str], ...] = ()
    # Multiplies check Interval/TTL/DeregisterCriticalServiceAfter (and the reaper period).
    check_interval_scale: float = 1.0
    # Multiplies session TTLs and lock-delays (the nominal values are still shown).
    session_time_scale: float = 1.0
    server_node: str = "consul-server"
    # dns_config.enable_truncate: set the TC bit on a trimmed UDP answer (off by default, as in Consul).
    dns_enable_truncate: bool = False
    faults: HttpFaults = field(default_factory=HttpFaults)


def agent_nodes(count: int) -> tuple[tuple[str, str], ...]:
    """Client agents `agent-1`.. on 127.0.0.2.. (the Marathon sandbox's agent addresses).

    So the Consul agent of a task's host is `http://<task host>:<consul port>`, as marathon-consul expects.
    """
    return tuple((f"agent-{n}", f"127.0.0.{n + 1}") for n in range(1, count + 1))


def build_app(state: ConsulState, node: str, faults: HttpFaults) -> web.Application:
    app = web.Application(middlewares=[consul_middleware, datacenter_guard])
    app[STATE_KEY] = state
    app[NODE_KEY] = node
    app[FAULTS_KEY] = faults
    app[SERVER_AGENT_KEY] = node == state.server_node
    app[WRITES_KEY] = state.writes
    for module in (api_agent, api_catalog, api_kv, api_query, api_events, api_txn):
        app.router.add_routes(module.routes)
    return app


class ConsulSandbox:
    """An async context manager running the emulated Consul datacenter on loopback."""

    def __init__(self, config: ConsulSandboxConfig | None = None) -> None:
        self.config = config or ConsulSandboxConfig()
        cfg = self.config
        self.state = ConsulState.build(cfg.datacenter, cfg.domain, cfg.server_node, cfg.check_interval_scale,
                                       cfg.session_time_scale)
        self.faults = cfg.faults
        self._addresses = {cfg.server_node: cfg.host, **dict(cfg.nodes)}
        self._ports: dict[str, int] = {}
        self._runners: dict[str, web.AppRunner] = {}
        self._http_stops = 0  # how many times the HTTP listeners closed: a listen started before one is undone
        self._dns = DnsServer(self.state, cfg.host, cfg.dns_port, cfg.dns_enable_truncate)

    # -- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> ConsulSandbox:
        await self.start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await self.stop()

    async def start(self) -> None:
        for node, address in self._addresses.items():
            self.state.catalog.add_agent_node(node, address)
        self.state.checks.start()
        try:
            await self._dns.start()
            await self.start_http()
        except BaseException:
            await self.stop()  # a failed start leaves no listener or check loop behind
            raise

    async def add_agent_node(self, node: str, address: str) -> None:
        """A client agent joins (a Marathon agent added while running): in the catalog at once, and
        listening on its address when the HTTP listeners are up (or when they come back)."""
        if node in self._addresses:
            return
        self._addresses[node] = address
        self.state.catalog.add_agent_node(node, address)
        if self._runners:
            await self._listen(node, address, self._http_stops)

    async def stop(self) -> None:
        await self.stop_http()
        await self._dns.stop()
        await self.state.checks.stop()
        self.state.sessions.close()

    async def start_http(self) -> None:
        """(Re)open every agent's HTTP listener on the port it had (Consul comes back)."""
        stops = self._http_stops
        for node, address in list(self._addresses.items()):
            if node not in self._runners and self._http_stops == stops:
                await self._listen(node, address, stops)

    async def stop_http(self) -> None:
        """Close every HTTP listener: connections are refused until `start_http`; state is kept."""
        runners, self._runners = self._runners, {}
        self._http_stops += 1
        await stop_runners(*runners.values())

    async def _listen(self, node: str, address: str, stops: int) -> None:
        """Listen for `node` unless the HTTP listeners closed since `stops` (then nothing stays open)."""
        runner = web.AppRunner(build_app(self.state, node, self.faults), shutdown_timeout=SHUTDOWN_TIMEOUT,
                               access_log=None)
        await runner.setup()
        wanted = self._ports.get(node, self.config.port if node == self.config.server_node else self.port)
        site = web.TCPSite(runner, address, wanted)
        try:
            await start_site(site)
        except OSError as exc:
            # A client agent whose port is taken on its address moves to a free one; the server's own
            # port (the one users and the DNS docs name) and a port already handed out never move.
            if node in self._ports or node == self.config.server_node:
                await runner.cleanup()
                raise ListenError(f"Consul HTTP ({node})", address, wanted, exc) from exc
            site = web.TCPSite(runner, address, 0)
            await start_site(site)
        if self._http_stops != stops:  # the listeners closed (Consul down, the sandbox stopping) meanwhile
            await stop_runners(runner)
            return
        self._ports[node] = runner.addresses[0][1]
        self._runners[node] = runner

    # -- addresses -------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._ports.get(self.config.server_node, self.config.port)

    @property
    def url(self) -> str:
        return self.agent_url(self.config.server_node)

    @property
    def dns_port(self) -> int:
        return self._dns.port

    def agent_url(self, node: str) -> str:
        if node not in self._addresses:
            raise KeyError(f"no agent node {node!r} in this sandbox; configure it in ConsulSandboxConfig.nodes")
        return f"http://{self._addresses[node]}:{self._ports.get(node, 0)}"

    # -- faults ----------------------------------------------------------------------------------

    def set_latency(self, seconds: float) -> None:
        self.faults.latency = seconds

    def set_error_fraction(self, fraction: float, status: int = 500) -> None:
        self.faults.error_fraction, self.faults.error_status = fraction, status

    def clear_faults(self) -> None:
        self.faults.clear()
        self.state.checks.forced.clear()

    def force_check_status(self, check_id: str, status: CheckStatus | str | None, *, node: str | None = None,
                           output: str = "forced by the sandbox fault API") -> None:
        """Pin a check to `status` whatever its probes say (None releases it to its probes again)."""
        check = self._check(check_id, node)
        self.state.checks.force(check, CheckStatus(status) if status is not None else None, output)

    def _check(self, check_id: str, node: str | None) -> Check:
        matches = [c for c in self.state.catalog.checks.values()
                   if c.check_id == check_id and node in (None, c.node)]
        if len(matches) != 1:
            where = f" on node {node!r}" if node else ""
            raise KeyError(f"{len(matches)} checks named {check_id!r}{where}; pass node= to pick one")
        return matches[0]

    def checks_of_service(self, service_id: str) -> list[Check]:
        return [c for c in self.state.catalog.checks.values() if c.service_id == service_id]


