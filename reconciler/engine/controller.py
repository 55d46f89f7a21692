"""The controller (engine layer): cycles run continuously, one at a time, on triggers.

Triggers (a periodic resync from apscheduler, Marathon's event stream, Consul blocking queries, and
the moment a heal grace window ends) only make the next cycle come sooner: they set one flag, so any
number of triggers during a cycle coalesce into one more cycle. Stop() lets the running cycle finish,
then returns. docs/controller.md describes the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from reconciler.engine.cycle import CycleResult

log = logging.getLogger("reconciler.controller")

CycleFn = Callable[[str], Awaitable[CycleResult]]
TriggerSource = Callable[[], AsyncIterator[str]]


@dataclass(frozen=True)
class ControllerOptions:
    resync_seconds: float = 30.0
    max_cycles: int | None = None  # stop after this many cycles (demos and tests)
    retry_seconds: float = 5.0  # sooner resync after a failed cycle
    # Cycles start at least this far apart: a burst of events (a deployment's status updates, a
    # flapping check) costs a few cycles per second at most, never one per event.
    min_interval_seconds: float = 0.25


class Controller:
    def __init__(
        self,
        cycle: CycleFn,
        options: ControllerOptions = ControllerOptions(),
        sources: tuple[TriggerSource, ...] = (),
        on_cycle: Callable[[CycleResult], None] | None = None,
    ) -> None:
        self._cycle = cycle
        self._options = options
        self._sources = sources
        self._on_cycle = on_cycle
        self._wanted = asyncio.Event()
        self._stopping = asyncio.Event()
        self._reasons: list[str] = []
        self._heal_timer: asyncio.TimerHandle | None = None
        self._last_start: float | None = None
        self.cycles = 0

    def trigger(self, reason: str) -> None:
        """Ask for a cycle soon; coalesces with every other pending trigger."""
        self._reasons.append(reason)
        self._wanted.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wanted.set()

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
            scheduler.shutdown(wait=False)
            for task in watchers:
                task.cancel()
            for task in watchers:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            await self._wanted.wait()
            await self._pace()  # returns at once when stopping
            if self._stopping.is_set():
                return
            self._wanted.clear()
            reasons, self._reasons = self._reasons, []
            self._last_start = asyncio.get_running_loop().time()
            result = await self._cycle(",".join(sorted(set(reasons))) or "resync")
            self.cycles += 1
            if self._on_cycle:
                self._on_cycle(result)
            if not result.ok:
                asyncio.get_running_loop().call_later(self._options.retry_seconds, self.trigger, "retry")
            self._schedule_heal(result.heal_due_in)
            if self._options.max_cycles is not None and self.cycles >= self._options.max_cycles:
                return

    async def _pace(self) -> None:
        """Wait until min_interval_seconds have passed since the last cycle started (or a stop)."""
        if self._last_start is None:
            return
        rest = self._last_start + self._options.min_interval_seconds - asyncio.get_running_loop().time()
        if rest > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), rest)

    def _schedule_heal(self, due_in: float | None) -> None:
        """One timer for the next heal moment; a newer cycle's answer replaces the older one."""
        if self._heal_timer is not None:
            self._heal_timer.cancel()
            self._heal_timer = None
        if due_in is not None:
            self._heal_timer = asyncio.get_running_loop().call_later(due_in, self.trigger, "heal-due")

    async def _watch(self, source: TriggerSource) -> None:
        """Feeds one trigger source; a failing source is restarted with a growing pause."""
        pause = 1.0
        while not self._stopping.is_set():
            try:
                async for reason in source():
                    self.trigger(reason)
                    pause = 1.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a trigger source must never take the controller down
                log.warning("event=trigger-source-failed error=%r retry_in=%.0fs", str(exc), pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 30.0)
