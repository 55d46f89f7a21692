"""Checks that run for real: HTTP and TCP probes, TTL expiry, and the critical-service reaper.

Sandbox layer, Consul emulator. HTTP and TCP probes start after a random stagger within their
interval, as Consul's do. Probes go over real loopback sockets only: a target outside
127.0.0.0/8 (or ::1, localhost) is never contacted and the check turns critical saying why.
Interval, TTL and DeregisterCriticalServiceAfter run `scale` times their nominal length.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import socket
from urllib.parse import urlsplit

import aiohttp

from reconciler.sandbox.consul.catalog import Catalog, Check, CheckStatus
from reconciler.sandbox.consul.registration import MIN_DEREGISTER_AFTER

REAP_PERIOD = 30.0
# Probes in flight at once, for every agent together. Real Consul runs each agent in its own process
# (agent/checks/check.go: one goroutine per check); here one process holds every agent, every task's
# listener and both ends of every probe's socket, so at 10,000 checks a loop falling behind opened
# probes until the process ran out of file descriptors. A probe waiting for a slot has not started:
# its timeout runs from the connect, as Consul's does.
MAX_PROBES_IN_FLIGHT = 256
DEFAULT_TIMEOUT = 10.0
STOP_ROUNDS = 30  # seconds at most to end the check loops
OUTPUT_MAX = 4096  # structs.CheckType OutputMaxSize default (checks.DefaultBufSize)
TTL_EXPIRED = "TTL expired"


def ttl_output(output: str) -> str:
    """agent/checks/check.go CheckTTL.SetStatus: an output longer than OutputMaxSize bytes keeps its
    first OutputMaxSize bytes and says how much it cut."""
    raw = output.encode()
    if len(raw) <= OUTPUT_MAX:
        return output
    kept = raw[:OUTPUT_MAX].decode(errors="replace")
    return f"{kept} ... (captured {OUTPUT_MAX} of {len(raw)} bytes)"


def expired_output(last_output: str) -> str:
    """agent/checks/check.go CheckTTL.getExpiredOutput: the last output set, if any, after the notice."""
    return f"{TTL_EXPIRED} (last output before timeout follows): {last_output}" if last_output else TTL_EXPIRED
Key = tuple[str, str]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def http_status(code: int) -> CheckStatus:
    """Consul's rule: 2xx passing, 429 warning, anything else critical."""
    if 200 <= code < 300:
        return CheckStatus.PASSING
    return CheckStatus.WARNING if code == 429 else CheckStatus.CRITICAL


async def probe_tcp(address: str, timeout: float) -> tuple[CheckStatus, str]:
    host, _, port = address.rpartition(":")
    if not is_loopback(host):
        return CheckStatus.CRITICAL, f"sandbox refuses to probe {address}: only loopback targets are checked"
    try:
        async with asyncio.timeout(timeout):
            await _dial(host.strip("[]"), int(port))
    except (OSError, TimeoutError, ValueError) as exc:
        return CheckStatus.CRITICAL, f"dial tcp {address}: connect: {_reason(exc)}"
    return CheckStatus.PASSING, f"TCP connect {address}: Success"


async def _dial(host: str, port: int) -> None:
    """Connect and close, as CheckTCP.check's net.DialTimeout then conn.Close (agent/checks/check.go).
    An address goes through a bare socket: at 10,000 checks a probe's stream reader, writer and
    transport were most of the sandbox's CPU. A name (localhost) is resolved by open_connection."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        _, writer = await asyncio.open_connection(host, port)
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "i/o timeout"
    return str(exc) or type(exc).__name__


async def probe_http(session: aiohttp.ClientSession, check: Check, timeout: float) -> tuple[CheckStatus, str]:
    definition = check.definition
    url, method = definition.http, definition.method or "GET"
    host = urlsplit(url).hostname or ""
    if not is_loopback(host):
        return CheckStatus.CRITICAL, f"sandbox refuses to probe {url}: only loopback targets are checked"
    headers = {k: ", ".join(v) for k, v in (definition.header or {}).items()}
    try:
        async with session.request(method, url, headers=headers, data=definition.body or None,
                                   timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            # CheckHTTP.check copies the body into a circbuf of OutputMaxSize bytes: the *last* ones stay.
            body = (await response.read())[-OUTPUT_MAX:].decode(errors="replace")
            output = f"HTTP {method} {url}: {response.status} {response.reason} Output: {body}"
            return http_status(response.status), output
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return CheckStatus.CRITICAL, f'{method.title()} "{url}": {_reason(exc.__cause__ or exc)}'


class CheckRunner:
    """Runs every agent check of the catalog; observes the catalog to start and stop probes."""

    def __init__(self, catalog: Catalog, scale: float = 1.0, seed: int = 0) -> None:
        self.catalog = catalog
        self.scale = scale
        self._stagger = random.Random(seed)
        self.forced: dict[Key, tuple[CheckStatus, str]] = {}
        self._running: dict[Key, tuple[asyncio.Task[None], Check]] = {}
        self._ttl_reset: dict[Key, asyncio.Event] = {}
        self._ttl_last_output: dict[Key, str] = {}
        self._session: aiohttp.ClientSession | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._probing = asyncio.Semaphore(MAX_PROBES_IN_FLIGHT)
        self._stopped = False
        catalog.observers.append(self)

    def start(self) -> None:
        self._stopped = False
        self._session = aiohttp.ClientSession()
        self._reaper = asyncio.create_task(self._reap_forever())
        for check in list(self.catalog.checks.values()):
            self.check_changed(check, removed=False)

    async def stop(self) -> None:
        """Ends every check loop. Python 3.11's asyncio.wait_for can swallow a cancellation that arrives
        as its inner await completes (cpython gh-86296): a probe loop that missed one would run on, and
        waiting for it would never end. So the loops also stop at their next turn, and are cancelled
        again, for a bounded time, until they are all done."""
        self._stopped = True
        tasks = {t for t, _ in self._running.values()} | ({self._reaper} if self._reaper else set())
        for _ in range(STOP_ROUNDS):
            if not tasks:
                break
            for task in tasks:
                task.cancel()
            _, tasks = await asyncio.wait(tasks, timeout=1.0)
        self._running.clear()
        if self._session is not None:
            await self._session.close()

    # -- catalog observer --------------------------------------------------------------------

    def check_changed(self, check: Check, removed: bool) -> None:
        key = (check.node, check.check_id)
        running = self._running.get(key)
        if running is not None and (removed or running[1] is not check):
            running[0].cancel()
            del self._running[key]
            running = None
        if removed:
            self.forced.pop(key, None)
            self._ttl_last_output.pop(key, None)
        elif running is None and self._session is not None and check.runs_on_agent and check.definition.kind:
            self._running[key] = (asyncio.create_task(self._run(check)), check)

    def node_removed(self, node: str) -> None:
        return None

    # -- results -----------------------------------------------------------------------------

    def record(self, check: Check, status: CheckStatus, output: str) -> None:
        """Store a result unless a fault forces this check's status."""
        key = (check.node, check.check_id)
        if key in self.forced:
            status, output = self.forced[key]
        self.catalog.set_check_status(check.node, check.check_id, status, output)

    def update_ttl(self, check: Check, status: CheckStatus, output: str) -> None:
        """A pass/warn/fail/update call: store the status (output truncated) and restart the TTL clock."""
        output = ttl_output(output)
        self._ttl_last_output[(check.node, check.check_id)] = output
        self.record(check, status, output)
        reset = self._ttl_reset.get((check.node, check.check_id))
        if reset is not None:
            reset.set()

    def force(self, check: Check, status: CheckStatus | None, output: str) -> None:
        key = (check.node, check.check_id)
        if status is None:
            self.forced.pop(key, None)
            return
        self.forced[key] = (status, output)
        self.catalog.set_check_status(check.node, check.check_id, status, output)

    # -- loops -------------------------------------------------------------------------------

    async def _run(self, check: Check) -> None:
        if check.definition.kind == "ttl":
            await self._watch_ttl(check)
            return
        interval = check.definition.interval * self.scale
        timeout = min(check.definition.timeout or DEFAULT_TIMEOUT, max(interval, 1.0))
        # agent/checks/check.go CheckHTTP.run and CheckTCP.run: the first probe waits
        # lib.RandomStagger(Interval), a uniform pause within one interval, so checks do not fire in step.
        await asyncio.sleep(self._stagger.uniform(0.0, interval))
        while not self._stopped:
            async with self._probing:
                status, output = await self._probe(check, timeout)
            self.record(check, status, output)
            await asyncio.sleep(interval)

    async def _probe(self, check: Check, timeout: float) -> tuple[CheckStatus, str]:
        if check.definition.kind == "http" and self._session is not None:
            return await probe_http(self._session, check, timeout)
        return await probe_tcp(check.definition.tcp, timeout)

    async def _watch_ttl(self, check: Check) -> None:
        key = (check.node, check.check_id)
        while not self._stopped:
            reset = self._ttl_reset[key] = asyncio.Event()
            try:
                await asyncio.wait_for(reset.wait(), check.definition.ttl * self.scale)
            except TimeoutError:
                self.record(check, CheckStatus.CRITICAL, expired_output(self._ttl_last_output.get(key, "")))
                await reset.wait()

    async def _reap_forever(self) -> None:
        while not self._stopped:
            await asyncio.sleep(REAP_PERIOD * self.scale)
            self.reap()

    def reap(self) -> None:
        """Remove services whose check has been critical longer than its DeregisterCriticalServiceAfter."""
        now = self.catalog.clock()
        for check in list(self.catalog.checks.values()):
            after = check.definition.deregister_after
            if not (after and check.runs_on_agent and check.service_id and check.critical_since is not None):
                continue
            if check.status == CheckStatus.CRITICAL and now - check.critical_since > max(
                    after, MIN_DEREGISTER_AFTER) * self.scale:
                self.catalog.remove_service(check.node, check.service_id)
