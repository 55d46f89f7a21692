"""The controller (engine layer): cycles run continuously, one at a time, on triggers.

Triggers (a periodic resync from apscheduler, Marathon's event stream, Consul blocking queries, and
the moment a heal grace window ends) only make the next cycle come sooner: they set one flag, so any
number of triggers during a cycle coalesce into one more cycle. After a cycle that failed as a whole
(specs or Marathon unreadable) the next one waits `retry_seconds`, doubling with each such failure in
a row, at most `max_retry_seconds` and never longer than a resync: one retry timer, and no trigger
starts a cycle sooner. A cycle that raises (a bug, never an outage: those come back as errors) is
logged with its id and traceback, counted in `unexpected`, and retried on that same backoff: no
exception in a cycle ends the controller. Stop() lets the running cycle finish, then returns; a cycle
that has sent nothing yet (it still reads or plans) is cancelled instead.
docs/controller.md describes the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from reconciler.engine.cycle import CycleResult, cycle_scope, next_cycle_id
from reconciler.redaction import redact

log = logging.getLogger("reconciler.controller")

CycleFn = Callable[[str], Awaitable[CycleResult]]
TriggerSource = Callable[[], AsyncIterator[str]]


@dataclass(frozen=True)
class ControllerOptions:
    resync_seconds: float = 30.0
    max_cycles: int | None = None  # stop after this many cycles (demos and tests)
    # After a cycle that failed as a whole the next one starts this long after it, doubling per failure
    # in a row, at most max_retry_seconds (and resync_seconds); triggers meanwhile wait for that retry.
    # A cycle whose observation worked but some action failed is retried once after retry_seconds,
    # without holding back other triggers (heals must not wait on an unrelated refused write).
    retry_seconds: float = 5.0
    max_retry_seconds: float = 60.0
    # Cycles start at least this far apart: a burst of events (a deployment's status updates, a
    # flapping check) costs a few cycles per second at most, never one per event.
    min_interval_seconds: float = 0.25
    # A trigger source that fails is restarted after this pause, doubling while it fails at once, at most
    # max_source_retry_seconds; one that ran longer than its pause before failing starts over at the first.
    source_retry_seconds: float = 1.0
    max_source_retry_seconds: float = 30.0


class Controller:
    def __init__(
        self,
        cycle: CycleFn,
        options: ControllerOptions = ControllerOptions(),
        sources: tuple[TriggerSource, ...] = (),
        on_cycle: Callable[[CycleResult], None] | None = None,
        may_cycle: Callable[[], bool] | None = None,
        interruptible: Callable[[], bool] | None = None,
    ) -> None:
        """`interruptible`: whether the running cycle has sent nothing yet (it still reads or plans), so
        that stop() may cancel it rather than wait for reads of a hanging Marathon to time out."""
        self._cycle = cycle
        self._interruptible = interruptible
        self._running: asyncio.Future[CycleResult] | None = None
        self._interrupted = False
        # False on a standby (leader election): triggers are dropped until it leads, then trigger().
        self._may_cycle = may_cycle
        self._options = options
        self._sources = sources
        self._on_cycle = on_cycle
        self._wanted = asyncio.Event()
        self._stopping = asyncio.Event()
        self._reasons: list[str] = []
        self._heal_timer: asyncio.TimerHandle | None = None
        self._retry_timer: asyncio.TimerHandle | None = None
        self._last_start: float | None = None
        self._not_before: float | None = None  # no cycle before this loop time (failure backoff)
        self.failures = 0  # failed cycles in a row
        self.incomplete = 0  # cycles in a row whose observation was incomplete (Consul unreadable)
        self.cycles = 0
        self.unexpected = 0  # cycles (or their reporting) that raised an unexpected exception
        self.phase = "idle"  # idle (waiting for a trigger), pacing (waiting to start one), cycling

    def trigger(self, reason: str) -> None:
        """Ask for a cycle soon; coalesces with every other pending trigger."""
        self._reasons.append(reason)
        self._wanted.set()

    def stop(self) -> None:
        """The running cycle finishes, unless it has sent nothing yet: then it is cancelled (a level-triggered
        controller loses nothing by it; its successor observes afresh)."""
        self._stopping.set()
        self._wanted.set()
        running = self._running
        if running is not None and not running.done() and self._interruptible is not None and self._interruptible():
            self._interrupted = True
            running.cancel()

    async def run(self) -> None:
        scheduler = AsyncIOScheduler()
        scheduler.add_job(self.trigger, "interval", seconds=self._options.resync_seconds, args=["resync"])
        scheduler.start()
        watchers = [asyncio.create_task(self._watch(source)) for source in self._sources]
        self.trigger("start")
        try:
            await self._loop()
        finally:
            self._schedule_heal(None)
            self._schedule_retry(None)
            scheduler.shutdown(wait=False)
            for task in watchers:
                task.cancel()
            for task in watchers:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            self.phase = "idle"
            await self._wanted.wait()
            self.phase = "pacing"
            await self._pace()  # returns at once when stopping
            if self._stopping.is_set():
                return
            self._wanted.clear()
            reasons, self._reasons = self._reasons, []
            if self._may_cycle is not None and not self._may_cycle():
                continue
            self._last_start = asyncio.get_running_loop().time()
            self.phase = "cycling"
            result = await self._run_cycle(",".join(sorted(set(reasons))) or "resync")
            if result is None:
                return
            self.cycles += 1
            self._report(result)
            self._after(result)
            self._schedule_heal(result.heal_due_in)
            if self._options.max_cycles is not None and self.cycles >= self._options.max_cycles:
                return

    async def _run_cycle(self, trigger: str) -> CycleResult | None:
        """The cycle's result; None when stop() interrupted it before it sent anything."""
        self._running = asyncio.ensure_future(self._guarded_cycle(trigger))
        try:
            return await self._running
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not self._interrupted or (task is not None and task.cancelling()):
                raise
            log.info("event=cycle-interrupted reason=%r", "stopping before the cycle sent anything")
            return None
        finally:
            self._running = None

    async def _guarded_cycle(self, trigger: str) -> CycleResult:
        """The cycle under an id every log line inside it carries; whatever it raises (but a
        cancellation or an exit, BaseExceptions that pass) becomes a failed result."""
        with cycle_scope(next_cycle_id()) as cycle_id:
            try:
                return await self._cycle(trigger)
            except Exception as exc:
                self.unexpected += 1
                error = redact(f"unexpected {type(exc).__name__}: {exc}")
                log.error("cycle=%s event=cycle-crashed error=%r", cycle_id, error, exc_info=True)
                return CycleResult(cycle_id, trigger, error=error, unexpected=True)

    def _report(self, result: CycleResult) -> None:
        """Hands the result on; a failing report is logged and counted, never the end of the loop."""
        if self._on_cycle is None:
            return
        try:
            self._on_cycle(result)
        except Exception as exc:
            self.unexpected += 1
            log.error("cycle=%s event=report-crashed error=%r", result.cycle_id, redact(repr(exc)), exc_info=True)

    def retry_delay(self, failures: int) -> float:
        """Seconds from a failed cycle's start to the retry, after `failures` failures in a row."""
        options = self._options
        cap = min(options.max_retry_seconds, options.resync_seconds)
        return float(max(min(options.retry_seconds * 2 ** min(failures - 1, 32), cap), options.retry_seconds))

    def _after(self, result: CycleResult) -> None:
        """The retry a cycle's result calls for: backoff (failed as a whole), one plain retry (an action
        failed, or part of the observation: once Consul answers again nothing else may ask for a cycle
        before the resync, and heals and registrations wait on a complete one), or none."""
        self.incomplete = self.incomplete + 1 if result.error is None and result.problems else 0
        if result.error is not None:
            self._schedule_retry(self.retry_delay(self.failures + 1), hold=True)
        elif not result.ok or result.problems:
            # Backing off while Consul stays away, as for a failure: a long outage must not cost Marathon
            # a full read every retry_seconds.
            delay = self._options.retry_seconds if not result.ok else self.retry_delay(self.incomplete)
            self._schedule_retry(delay, hold=False)
        else:
            self._schedule_retry(None)

    async def _pace(self) -> None:
        """Wait until min_interval_seconds have passed since the last cycle started, and past a failure
        backoff (or a stop)."""
        if self._last_start is None:
            return
        start = max(self._last_start + self._options.min_interval_seconds, self._not_before or 0.0)
        rest = start - asyncio.get_running_loop().time()
        if rest > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), rest)

    def _schedule_retry(self, delay: float | None, *, hold: bool = False) -> None:
        """The one retry timer: set after a failure (replacing the previous one), cleared on success.
        `hold`: no other trigger starts a cycle before it fires (the failure backoff)."""
        if self._retry_timer is not None:
            self._retry_timer.cancel()
            self._retry_timer = None
        self._not_before = None
        if delay is None or not hold:
            self.failures = 0
        if delay is None:
            return
        loop = asyncio.get_running_loop()
        due = (self._last_start if self._last_start is not None else loop.time()) + delay
        if hold:
            self.failures += 1
            self._not_before = due
        rest = max(0.0, due - loop.time())
        self._retry_timer = loop.call_later(rest, self.trigger, "retry")
        log.warning("event=%s failures=%d retry_in=%.1fs hold=%s", "cycle-failed" if hold else "cycle-retry",
                    self.failures, rest, hold)

    def _schedule_heal(self, due_in: float | None) -> None:
        """One timer for the next heal moment; a newer cycle's answer replaces the older one."""
        if self._heal_timer is not None:
            self._heal_timer.cancel()
            self._heal_timer = None
        if due_in is not None:
            self._heal_timer = asyncio.get_running_loop().call_later(due_in, self.trigger, "heal-due")

    async def _watch(self, source: TriggerSource) -> None:
        """Feeds one trigger source; a failing source is restarted with a growing pause. A source that
        ran longer than that pause before it failed was connected (an event stream, a blocking query that
        reported nothing yet): its failure begins a new outage, retried after the first pause again."""
        first, most = self._options.source_retry_seconds, self._options.max_source_retry_seconds
        loop = asyncio.get_running_loop()
        pause = first
        while not self._stopping.is_set():
            started = loop.time()
            try:
                async for reason in source():
                    self.trigger(reason)
                    pause = first
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a trigger source must never take the controller down
                pause = first if loop.time() - started >= pause else pause
                log.warning("event=trigger-source-failed error=%r retry_in=%.1fs", str(exc), pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, most)
