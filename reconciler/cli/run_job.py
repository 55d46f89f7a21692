"""The controller `reconciler run` starts (face layer): the spec feed, the store, the clients, the HTTP
server, the leader lock and the notifications around the engine's Controller, and what each cycle prints.

Imported when the command runs (cli/run.py), so that `run --help` and the other commands load neither
the engine's controller, the store, the web server nor the clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler import __version__
from reconciler.cli.adapters import consul_client, load_both, marathon_client
from reconciler.cli.live_view import LiveTables, cycle_rows
from reconciler.cli.output import console
from reconciler.cli.plan_opts import COMPACT_ABOVE
from reconciler.cli.run_leader import LeaderSettings, Leadership
from reconciler.cli.run_metrics import MetricsSettings
from reconciler.cli.run_notify import Notifications, NotifySettings
from reconciler.cli.settings import GlobalSettings
from reconciler.cli.status_view import StatusMemo, dns_table, status_rows, status_summary, status_table
from reconciler.consul.client import ConsulClient
from reconciler.core.model import Action, Actual, Desired
from reconciler.core.plan import PlanOptions
from reconciler.core.registry import ConsulObservation
from reconciler.engine.approvals import ApprovalGate
from reconciler.engine.controller import Controller, ControllerOptions, TriggerSource
from reconciler.engine.cycle import CycleOptions, CycleResult, Reconciler, current_cycle
from reconciler.engine.observe import Observation
from reconciler.engine.pins import Pins
from reconciler.engine.reporting import Reporter
from reconciler.engine.sourcing import SpecFeed
from reconciler.engine.telemetry import ControllerMetrics
from reconciler.engine.triggers import StreamConnects, consul_health_changes, marathon_events
from reconciler.errors import ExitCode
from reconciler.marathon import MarathonClient
from reconciler.redaction import redact_url
from reconciler.sources.base import Source
from reconciler.store import Store
from reconciler.web.server import HttpServer, Readiness, ServerHooks


@dataclass(frozen=True)
class Serving:
    """Where the specs come from, the HTTP server's address and secret, and the store."""

    source: Source
    poll_seconds: float
    listen: tuple[str, int]
    webhook_secret: bytes | None
    branch: str | None
    database: str | None
    leader: LeaderSettings
    wide: bool = False  # every status row, whatever the app count
    notify: NotifySettings | None = None  # the alert webhook, if any


class RunJob:
    def __init__(
        self, serving: Serving, env: str | None, cycle_options: CycleOptions, options: ControllerOptions, *,
        use_consul: bool, watch_wait: str, metrics: MetricsSettings = MetricsSettings(),
        open_store: Callable[[str | None], Store] = Store.open,
    ) -> None:
        """`open_store` opens the history store `--database` names (tests hand in a store they hold)."""
        self.serving, self.env = serving, env
        self.cycle_options, self.options = cycle_options, options
        self.use_consul, self.watch_wait = use_consul, watch_wait
        self.metrics = metrics
        self._open_store = open_store
        self._wholes: list[tuple[Desired, Desired | None]] = []  # the last two loads: (specs, whole tree)

    def _load(self, root: Path, revision: str) -> Desired:
        """The specs of `--env` (or all), read as `plan --env` reads them: the whole tree, narrowed. The whole
        tree is kept beside them for the DNS fallbacks of a functional set, whose base's apps the narrowed
        specs lack (`whole_of`)."""
        desired, whole = load_both(root, self.env, revision=revision)
        checked = self.metrics.check(desired)
        # The feed loads in a worker thread and adopts the result after: a cycle meanwhile still plans the
        # previous specs, so their whole tree is kept too.
        self._wholes = [(checked, whole), *self._wholes[:1]]
        return checked

    def whole_of(self, desired: Desired) -> Desired | None:
        """The whole tree of the specs `desired` (one the feed loaded), when --env narrowed them."""
        return next((whole for loaded, whole in self._wholes if loaded is desired), None)

    async def run(self, settings: GlobalSettings, *, sandbox: bool) -> int:
        serving = self.serving
        wake: list[Controller] = []
        feed = SpecFeed(serving.source, self._load, poll_seconds=serving.poll_seconds,
                        on_revision=lambda reason: wake[0].trigger(reason) if wake else None)
        await feed.prime()  # refuse to start on specs that do not load: exit 3 with every problem
        store = self._open_store(serving.database)  # on the loop: it serves nothing yet
        async with contextlib.AsyncExitStack() as stack:
            stack.callback(store.close)
            agent_port = None
            if sandbox:
                settings, agent_port = await _start_sandbox(stack, settings, with_consul=self.use_consul)
            marathon = await stack.enter_async_context(marathon_client(settings))
            consul = await stack.enter_async_context(consul_client(settings)) if self.use_consul else None
            # Environments paused by a rollback are reconciled at their pinned state.
            pins, in_force = Pins(store), [feed.desired()]
            autoscaler = await self.metrics.autoscaler(stack, store, agent_port)
            leadership = Leadership(serving.leader, consul)
            reconciler = Reconciler(feed.desired, marathon, consul, self._fenced(leadership), autoscaler=autoscaler,
                                    in_force=_in_force(store, pins, self.cycle_options.plan, in_force),
                                    whole=self.whole_of)
            connects = StreamConnects()
            sources: list[TriggerSource] = [lambda: marathon_events(marathon, connects)]
            if consul is not None:
                sources.append(lambda: consul_health_changes(consul, wait=self.watch_wait))
            reporter = Reporter(ControllerMetrics(), store, lambda: _feed_status(feed), lambda: in_force[0], pins,
                                samples_keep=self.metrics.samples_keep, specs=feed.desired)
            reporter.metrics.follow_may_write(leadership.may_cycle)
            reporter.metrics.set_leader(not leadership.enabled)  # without election this replica is the writer
            live = LiveTables(console, stderr_is_terminal=sys.stderr.isatty()) if console.is_terminal else None
            view = CycleView(lambda: in_force[0], wide=self.serving.wide, live=live)
            stack.callback(view.close)

            notifications = Notifications(serving.notify, reporter.metrics)
            last: list[CycleResult] = []

            def on_cycle(result: CycleResult) -> None:  # recorded already (Reporter.recording)
                last[:] = [result]
                notifications.cycle_done(result, in_force[0], reconciler.memory)
                view.show(result)

            controller = Controller(reporter.recording(reconciler.cycle), self.options, sources=tuple(sources),
                                    on_cycle=on_cycle, may_cycle=leadership.may_cycle if leadership.enabled else None,
                                    interruptible=lambda: reconciler.interruptible)
            wake.append(controller)
            port = await self._serve(stack, reporter, feed, leadership, notifications)

            def on_leader_change(leading: bool) -> None:
                reporter.metrics.set_leader(leading)
                if leading:
                    autoscaler.forget()  # the previous leader decided meanwhile: take up its recorded memory
                    controller.trigger("leader-elected")

            identity = _identify(port, marathon, consul)
            # The specs, not what the approval gate lets run: an environment awaiting approval is ours too.
            await leadership.start(stack, identity, on_leader_change, lambda: self._owned(feed.desired()))
            notifications.start(stack, identity, lambda: feed.state, leadership, serving.leader.key, serving.leader.ttl,
                                store=reporter.store_alerts)
            polling = asyncio.create_task(feed.run())
            stack.push_async_callback(_cancel, polling)
            signalled = _stop_on_signals(controller)
            _announce(settings, with_consul=consul is not None, feed=feed)
            await controller.run()
            view.close()
            console.print(f"controller stopped after {controller.cycles} cycle(s).")
        return run_exit_code(last[-1] if last else None, signalled=bool(signalled))

    def _fenced(self, leadership: Leadership) -> CycleOptions:
        """Every write of a cycle asks the leader lock first, at the moment it would go out."""
        if not leadership.enabled:
            return self.cycle_options
        execute = replace(self.cycle_options.execute, may_write=leadership.may_cycle)
        return replace(self.cycle_options, execute=execute)

    def _owned(self, desired: Desired) -> list[str]:
        """The environments the lock record names: --env, else every one of the specs (approvals pending too)."""
        return [self.env] if self.env else sorted(desired.environments)

    async def _serve(
        self, stack: contextlib.AsyncExitStack, reporter: Reporter, feed: SpecFeed, leadership: Leadership,
        notifications: Notifications,
    ) -> int:
        """The HTTP server; the webhook asks the feed to fetch, and the feed triggers the cycle. Returns the
        port it listens on. At stop the server ends, then the records waiting for the store get a last try."""
        stack.push_async_callback(reporter.write_waiting)  # before the store closes, registered earlier
        reporter.metrics.follow_source(lambda: feed.fetched_at)  # read at each scrape of /metrics

        def readiness() -> Readiness:
            """The store failing does not make the controller unready (it goes on reconciling, its records
            wait for the store): the reason says so."""
            ready = leadership.readiness(reporter.ready)
            problem = reporter.store_problem
            return replace(ready, reason=f"{ready.reason}; {problem}") if problem else ready

        def status() -> dict[str, object]:
            extra = {"notifications": notifications.status()} if notifications.enabled else {}
            return {**reporter.status(), "leadership": leadership.status(), **extra}

        hooks = ServerHooks(status=status, readiness=readiness, on_git_push=lambda _: feed.request_fetch(),
                            metrics=reporter.metrics, webhook_secret=self.serving.webhook_secret,
                            branch=self.serving.branch)
        server = HttpServer(hooks, *self.serving.listen)
        host, port = await server.start()
        stack.push_async_callback(server.stop)
        signed = "signed webhook" if self.serving.webhook_secret else "UNSIGNED webhook (set --webhook-secret-file)"
        console.print(f"serving /healthz /readyz /metrics /status and {signed} POST /hooks/git on http://{host}:{port}")
        return port


def run_exit_code(last: CycleResult | None, *, signalled: bool) -> int:
    """0 when stopped by SIGTERM/SIGHUP/Ctrl-C (the way a controller ends); after --cycles, 1 when the last
    cycle failed as a whole (specs, Marathon unreadable, a crash), so a script sees that nothing ran."""
    if signalled or last is None or last.error is None:
        return ExitCode.OK
    return ExitCode.ERROR


def _stopper(controller: Controller, signalled: list[int], sig: signal.Signals) -> Callable[[], None]:
    def stop() -> None:
        signalled.append(sig)
        controller.stop()
    return stop


def _stop_on_signals(controller: Controller) -> list[int]:
    """SIGTERM, SIGINT and SIGHUP stop the controller; the list they fill tells that a signal stopped it.
    SIGHUP too: a closing terminal or a supervisor's hangup would otherwise end the process at once,
    leaving the leader lock held until Consul's TTL timer lets a standby lead."""
    loop = asyncio.get_running_loop()
    signalled: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, _stopper(controller, signalled, sig))
    return signalled


def _announce(settings: GlobalSettings, *, with_consul: bool, feed: SpecFeed) -> None:
    where = f"Marathon {redact_url(settings.marathon_url)}"
    where += f", Consul {redact_url(settings.consul_url)}" if with_consul else ""
    console.print(f"controller running against {where}; specs from {redact_url(feed.state.source)} at"
                  f" {feed.state.revision[:12]}; Ctrl-C stops it.")


def _identify(port: int, *clients: MarathonClient | ConsulClient | None) -> str:
    """This replica's identity (host:port pid), also sent as the clients' User-Agent so that servers'
    logs can tell the replicas' requests apart."""
    identity = f"{socket.gethostname()}:{port} pid {os.getpid()}"
    for client in clients:
        if client is not None:
            client.identify(f"marathon-reconciler/{__version__} ({identity})")
    return identity


def _in_force(
    store: Store, pins: Pins, options: PlanOptions, in_force: list[Desired]
) -> Callable[[Desired, Observation], Desired]:
    """What a cycle reconciles of the specs: paused environments at their pinned state (engine/pins.py),
    approval environments at their approved one (engine/approvals.py). Both read the store, so both run
    where the sync calls this, in its worker thread. What it leaves in force is what the reports name."""
    gate = ApprovalGate(store, options)

    def approved(specs: Desired, observation: Observation) -> Desired:
        in_force[0] = gate.in_force(pins.in_force(specs), observation.actual, current_cycle() or "")
        return in_force[0]

    return approved


def _feed_status(feed: SpecFeed) -> dict[str, Any]:
    state = feed.state
    return {"source": state.source, "revision": state.revision, "latest": state.latest, "error": state.error,
            "fetched_at": state.fetched_at, "failed_fetches": state.failed_fetches}


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _start_sandbox(
    stack: contextlib.AsyncExitStack, settings: GlobalSettings, *, with_consul: bool
) -> tuple[GlobalSettings, int]:
    """The settings that reach the sandbox, and its agents' statistics port."""
    from reconciler.cli.sandbox import embedded_sandbox  # imported here: only `run --sandbox` pays for it

    sandbox = await stack.enter_async_context(embedded_sandbox(with_consul=with_consul))
    console.print(f"sandbox Marathon at {sandbox.marathon_url}")
    stats = sandbox.marathon.agent_stats_port
    if sandbox.consul_url is None:
        return replace(settings, marathon_url=sandbox.marathon_url), stats
    console.print(f"sandbox Consul at {sandbox.consul_url}, DNS on 127.0.0.1:{sandbox.dns_port} (UDP and TCP)")
    console.print(f"  try: dig @127.0.0.1 -p {sandbox.dns_port} redis.func-1.query.consul")
    return replace(settings, marathon_url=sandbox.marathon_url, consul_url=sandbox.consul_url), stats


class CycleView:
    """Prints what each cycle did, and the status when it changed; in a terminal, `live` also draws the
    rollouts in progress and the recent heals below it."""

    def __init__(self, desired: Callable[[], Desired], *, wide: bool = False, live: LiveTables | None = None) -> None:
        self._desired_of = desired
        self._wide = wide
        self._live = live
        self._desired: Desired | None = None
        self._shown: tuple[object, ...] = ()
        self._dns_shown = False
        self._rows = StatusMemo()  # each app's row, computed again only when its inputs changed

    def close(self) -> None:
        if self._live is not None:
            self._live.close()

    def show(self, result: CycleResult) -> None:
        self._desired = self._desired_of()
        if self._live is not None:
            self._live.update(result.cycle_id, *cycle_rows(result, self._desired, datetime.now(UTC)))
        if result.error:  # on stdout like every cycle's line: stderr carries log lines alone (JSON ones too)
            console.print(f"cycle {result.cycle_id} ({result.trigger}) failed: {result.error}", markup=False)
            return
        actions = result.execution.actions if result.execution else ()
        if actions:
            done = sum(1 for a in actions if a.outcome == "succeeded")
            pending = sum(1 for a in actions if a.outcome != "planned" or a.kind != "warn")
            console.print(f"cycle {result.cycle_id} ({result.trigger}): {done}/{pending} actions succeeded")
        if self._desired is None or result.actual is None:
            return
        consul = result.observation.consul if result.observation and result.observation.consul_enabled else None
        all_actions = result.plan.actions if result.plan else ()
        rows = status_rows(self._desired, result.actual, consul, all_actions, memo=self._rows)
        if rows != self._shown:
            self._shown = rows
            self._print_status(self._desired, result.actual, consul, all_actions)
        if consul is not None and consul.complete and not self._dns_shown and self._wide_view(self._desired):
            self._dns_shown = True
            console.print(dns_table(self._desired))

    def _wide_view(self, desired: Desired) -> bool:
        return self._wide or len(desired.apps) <= COMPACT_ABOVE

    def _print_status(
        self, desired: Desired, actual: Actual, consul: ConsulObservation | None, actions: tuple[Action, ...]
    ) -> None:
        """Every row on a small platform (or with --wide); otherwise a summary and the rows needing attention."""
        if self._wide_view(desired):
            console.print(status_table(desired, actual, consul, actions, memo=self._rows))
            return
        summary = status_summary(desired, actual, consul, actions, memo=self._rows)
        console.print(summary.line() + " (--wide prints every app)")
        if summary.attention:
            console.print(status_table(desired, actual, consul, actions, only_attention=True, memo=self._rows))
