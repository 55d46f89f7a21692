"""The controller loop with a recording cycle function: single flight, coalescing, pacing, stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import pytest

from reconciler.core.model import Actual, Desired
from reconciler.core.registry import ConsulObservation
from reconciler.engine.controller import Controller, ControllerOptions
from reconciler.engine.cycle import CycleResult, current_cycle
from reconciler.engine.observe import Observation
from reconciler.engine.reporting import Reporter
from reconciler.engine.telemetry import ControllerMetrics

QUICK = ControllerOptions(resync_seconds=3600, retry_seconds=3600, min_interval_seconds=0.0)


class Recorder:
    """A cycle that takes `duration` seconds and notes when it ran and why."""

    def __init__(self, duration: float = 0.0) -> None:
        self.duration = duration
        self.triggers: list[str] = []
        self.starts: list[float] = []
        self.running = 0
        self.most_running = 0
        self.started = asyncio.Event()
        self.stamp: Callable[[], float] | None = None  # when the cycle started, if not when it is called

    async def __call__(self, trigger: str) -> CycleResult:
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        self.triggers.append(trigger)
        self.starts.append(self.stamp() if self.stamp is not None else asyncio.get_running_loop().time())
        self.started.set()
        await asyncio.sleep(self.duration)
        self.running -= 1
        return CycleResult(cycle_id=f"c{len(self.triggers)}", trigger=trigger)


async def until(condition: object, what: str, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not callable(condition) or not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


async def test_triggers_during_a_cycle_coalesce_into_one_more_cycle() -> None:
    cycle = Recorder(duration=0.1)
    controller = Controller(cycle, QUICK)
    runner = asyncio.create_task(controller.run())
    await until(lambda: cycle.triggers == ["start"], "the first cycle")
    for n in range(20):
        controller.trigger("event" if n % 2 else "consul")
    await until(lambda: len(cycle.triggers) == 2 and cycle.running == 0, "the second cycle")
    # A wrong third cycle (one per trigger, or a flag left set) would run before this probe's cycle.
    controller.trigger("probe")
    await until(lambda: "probe" in cycle.triggers and cycle.running == 0, "the probe's cycle")
    controller.stop()
    await asyncio.wait_for(runner, 5)
    assert cycle.triggers == ["start", "consul,event", "probe"]
    assert cycle.most_running == 1


async def test_cycles_start_at_least_the_minimum_interval_apart() -> None:
    cycle = Recorder()
    controller = Controller(cycle, ControllerOptions(resync_seconds=3600, min_interval_seconds=0.15))
    runner = asyncio.create_task(controller.run())
    for _ in range(4):
        await until(lambda: cycle.running == 0 and cycle.triggers, "a finished cycle")
        before = len(cycle.triggers)
        controller.trigger("event")
        await until(lambda: len(cycle.triggers) > before, "the next cycle")  # noqa: B023
    controller.stop()
    await asyncio.wait_for(runner, 5)
    gaps = [later - earlier for earlier, later in zip(cycle.starts, cycle.starts[1:], strict=False)]
    assert len(gaps) == 4 and min(gaps) >= 0.15 - 0.01, gaps


async def test_stop_lets_the_running_cycle_finish_and_starts_no_other() -> None:
    cycle = Recorder(duration=0.2)
    controller = Controller(cycle, QUICK)
    runner = asyncio.create_task(controller.run())
    await cycle.started.wait()
    controller.trigger("event")
    controller.stop()
    await asyncio.wait_for(runner, 5)
    assert cycle.triggers == ["start"] and cycle.running == 0


async def test_stop_cancels_a_cycle_that_has_sent_nothing_yet() -> None:
    """Marathon hangs: the cycle's reads would take their timeouts and retries (40 s at the defaults)
    before SIGTERM could end the process; a cycle that has not begun to write is cancelled instead."""
    cycle = Recorder(duration=60)
    controller = Controller(cycle, QUICK, interruptible=lambda: True)
    runner = asyncio.create_task(controller.run())
    await cycle.started.wait()
    controller.stop()
    await asyncio.wait_for(runner, 2)
    assert controller.cycles == 0 and cycle.triggers == ["start"]


async def test_stop_during_the_pacing_pause_returns_at_once() -> None:
    cycle = Recorder()
    controller = Controller(cycle, ControllerOptions(resync_seconds=3600, min_interval_seconds=30))
    runner = asyncio.create_task(controller.run())
    await until(lambda: cycle.triggers == ["start"] and cycle.running == 0, "the first cycle")
    controller.trigger("event")
    await until(lambda: controller.phase == "pacing", "the pause before the next cycle")
    controller.stop()
    await asyncio.wait_for(runner, 2)
    assert cycle.triggers == ["start"]


async def test_a_failing_trigger_source_is_restarted_and_never_stops_the_controller() -> None:
    cycle = Recorder()
    calls = 0

    async def flaky() -> AsyncIterator[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("event stream refused")
        yield "marathon-event"

    controller = Controller(cycle, QUICK, sources=(flaky,))
    runner = asyncio.create_task(controller.run())
    await until(lambda: "marathon-event" in cycle.triggers, "a cycle from the restarted source", timeout=10)
    controller.stop()
    await asyncio.wait_for(runner, 5)
    assert calls >= 2


async def test_a_source_that_ran_a_while_before_it_failed_restarts_after_the_first_pause_again() -> None:
    """Marathon's event stream refused while Marathon is down (the pause grows), then connected for a
    while after it came back: its next break is a new outage, retried after the first pause, not after
    the longest one (events of that time would otherwise wait for a resync)."""
    options = ControllerOptions(resync_seconds=3600, source_retry_seconds=0.05, max_source_retry_seconds=0.8)
    calls: list[float] = []
    ended: list[float] = []

    async def stream() -> AsyncIterator[str]:
        calls.append(asyncio.get_running_loop().time())
        if len(calls) == 6:
            await asyncio.sleep(1.0)  # connected: nothing to report for a while, then the connection breaks
        ended.append(asyncio.get_running_loop().time())
        raise ConnectionError("event stream closed")
        yield "never"

    controller = Controller(Recorder(), options, sources=(stream,))
    runner = asyncio.create_task(controller.run())
    await until(lambda: len(calls) >= 7, "the stream attached again", timeout=10)
    controller.stop()
    await asyncio.wait_for(runner, 5)
    pauses = [start - end for end, start in zip(ended, calls[1:], strict=False)]
    assert pauses[3] >= 0.4 - 0.01  # 0.05 doubling while refused at once: 0.05, 0.1, 0.2, 0.4
    assert pauses[5] < 0.4, pauses  # after the second outage began: the first pause again, not 0.8


async def test_max_cycles_ends_the_run() -> None:
    cycle = Recorder()
    controller = Controller(cycle, ControllerOptions(resync_seconds=0.01, min_interval_seconds=0.0, max_cycles=3))
    await asyncio.wait_for(controller.run(), 5)
    assert len(cycle.triggers) == 3 and controller.cycles == 3


class Failing(Recorder):
    """A cycle that fails its first `failures` runs, then succeeds."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def __call__(self, trigger: str) -> CycleResult:
        result = await super().__call__(trigger)
        failed = len(self.triggers) <= self.failures
        return CycleResult(cycle_id=result.cycle_id, trigger=trigger, error="Marathon is down" if failed else None)


async def test_failed_cycles_are_retried_with_one_capped_exponential_backoff_whatever_the_triggers() -> None:
    cycle = Failing(failures=5)
    options = ControllerOptions(resync_seconds=3600, retry_seconds=0.1, max_retry_seconds=0.4, min_interval_seconds=0)
    controller = Controller(cycle, options)
    runner = asyncio.create_task(controller.run())

    async def flood() -> None:  # events keep coming while Marathon is down: they must not hasten a retry
        while True:
            controller.trigger("event")
            await asyncio.sleep(0.002)

    flooding = asyncio.create_task(flood())
    try:
        await until(lambda: len(cycle.triggers) >= 6, "five failed cycles and a successful one", timeout=30)
    finally:
        flooding.cancel()
    controller.stop()
    await asyncio.wait_for(runner, 5)
    gaps = [later - earlier for earlier, later in zip(cycle.starts, cycle.starts[1:], strict=False)]
    wanted = [0.1, 0.2, 0.4, 0.4, 0.4]  # doubling from retry_seconds, capped at max_retry_seconds
    assert all(gap >= want - 0.01 for gap, want in zip(gaps, wanted, strict=False)), gaps
    assert all("retry" in trigger for trigger in cycle.triggers[1:6]), cycle.triggers
    assert controller.failures == 0  # the successful cycle reset the backoff


async def test_cycles_that_could_not_read_consul_are_retried_backing_off_until_one_reads_everything() -> None:
    consul_down = Observation(Actual(apps={}), ConsulObservation(complete=False, problems=("Consul down",)))
    whole = Observation(Actual(apps={}), ConsulObservation())

    class Partial(Recorder):
        async def __call__(self, trigger: str) -> CycleResult:
            result = await super().__call__(trigger)
            seen = consul_down if len(self.triggers) <= 4 else whole
            return CycleResult(result.cycle_id, trigger, actual=seen.actual, observation=seen)

    cycle = Partial()
    options = ControllerOptions(resync_seconds=3600, retry_seconds=0.1, max_retry_seconds=0.4, min_interval_seconds=0)
    controller = Controller(cycle, options)
    runner = asyncio.create_task(controller.run())
    await until(lambda: len(cycle.triggers) >= 5, "four incomplete cycles retried, then a complete one", timeout=30)
    await asyncio.sleep(0.5)  # a complete cycle asks for no retry: nothing comes after it
    controller.stop()
    await asyncio.wait_for(runner, 5)
    assert cycle.triggers == ["start", "retry", "retry", "retry", "retry"]
    gaps = [later - earlier for earlier, later in zip(cycle.starts, cycle.starts[1:], strict=False)]
    assert all(gap >= want - 0.01 for gap, want in zip(gaps, [0.1, 0.2, 0.4, 0.4], strict=True)), gaps
    assert controller.incomplete == 0


async def test_a_successful_cycle_ends_the_backoff() -> None:
    cycle = Failing(failures=1)
    controller = Controller(cycle, ControllerOptions(resync_seconds=3600, retry_seconds=0.05, min_interval_seconds=0))
    runner = asyncio.create_task(controller.run())
    await until(lambda: len(cycle.triggers) == 2 and cycle.running == 0, "the retry after the failure", timeout=10)
    assert controller.failures == 0
    controller.trigger("event")
    await until(lambda: len(cycle.triggers) == 3, "a cycle on the next event", timeout=10)
    controller.stop()
    await asyncio.wait_for(runner, 5)
    assert cycle.triggers == ["start", "retry", "event"]


async def test_a_standby_drops_triggers_until_it_may_cycle() -> None:
    recorder = Recorder()
    leading = [False]
    controller = Controller(recorder, QUICK, may_cycle=lambda: leading[0])
    task = asyncio.create_task(controller.run())
    try:
        controller.trigger("event")
        await asyncio.sleep(0)  # let the loop see the triggers (the start one included) and drop them
        for _ in range(20):
            await asyncio.sleep(0.005)
        assert recorder.triggers == []
        leading[0] = True
        controller.trigger("leader-elected")
        await asyncio.wait_for(recorder.started.wait(), 10)
        assert recorder.triggers == ["leader-elected"]
    finally:
        controller.stop()
        await asyncio.wait_for(task, 10)


class Crashing(Recorder):
    """A cycle that raises a plain RuntimeError its first `crashes` runs (a bug), then succeeds."""

    def __init__(self, crashes: int) -> None:
        super().__init__()
        self.crashes = crashes

    async def __call__(self, trigger: str) -> CycleResult:
        result = await super().__call__(trigger)
        if len(self.triggers) <= self.crashes:
            raise RuntimeError(f"bug in cycle {len(self.triggers)}")
        return result


async def test_an_unexpected_exception_in_a_cycle_is_logged_counted_and_retried_with_the_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cycle = Crashing(crashes=3)
    reported: list[CycleResult] = []
    options = ControllerOptions(resync_seconds=3600, retry_seconds=0.1, max_retry_seconds=0.2, min_interval_seconds=0)
    controller = Controller(cycle, options, on_cycle=reported.append)
    # The backoff counts from the controller's own start of the cycle before; the cycle's task may begin a
    # moment later on a loaded machine, so the gaps are read on the controller's clock.
    cycle.stamp = lambda: controller._last_start or 0.0
    caplog.set_level(logging.ERROR, logger="reconciler.controller")
    runner = asyncio.create_task(controller.run())
    await until(lambda: len(cycle.triggers) == 4 and cycle.running == 0, "three crashes and a success", timeout=30)
    assert not runner.done()  # still running: the crashes did not end it
    assert controller.failures == 0 and controller.unexpected == 3  # the success reset the backoff
    gaps = [later - earlier for earlier, later in zip(cycle.starts, cycle.starts[1:], strict=False)]
    assert all(gap >= want - 0.01 for gap, want in zip(gaps, [0.1, 0.2, 0.2], strict=True)), gaps
    assert cycle.triggers[1:] == ["retry", "retry", "retry"]
    crashed = [r for r in reported if r.unexpected]
    assert [r.error for r in crashed] == [f"unexpected RuntimeError: bug in cycle {n}" for n in (1, 2, 3)]
    assert reported[-1].ok and not reported[-1].unexpected
    records = [r for r in caplog.records if "event=cycle-crashed" in r.getMessage()]
    assert len(records) == 3 and all(r.levelno == logging.ERROR and r.exc_info for r in records)
    assert [f"cycle={r.cycle_id} " in rec.getMessage() for r, rec in zip(crashed, records, strict=True)] == [True] * 3
    controller.trigger("event")  # and it goes on cycling on triggers
    await until(lambda: len(cycle.triggers) == 5, "a cycle on the next event")
    controller.stop()
    await asyncio.wait_for(runner, 5)


async def test_a_cancellation_inside_a_cycle_is_not_swallowed() -> None:
    async def cancelled(trigger: str) -> CycleResult:
        raise asyncio.CancelledError

    controller = Controller(cancelled, QUICK)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(controller.run(), 5)
    assert controller.unexpected == 0


async def test_every_log_line_inside_a_controller_cycle_knows_its_id() -> None:
    seen: list[str | None] = []

    async def cycle(trigger: str) -> CycleResult:
        seen.append(current_cycle())
        return CycleResult(cycle_id=current_cycle() or "", trigger=trigger)

    await asyncio.wait_for(Controller(cycle, ControllerOptions(max_cycles=2, min_interval_seconds=0,
                                                               resync_seconds=0.01)).run(), 5)
    assert len(seen) == 2 and all(s and s.startswith("c") for s in seen) and seen[0] != seen[1]
    assert current_cycle() is None  # the id is gone once the cycle ends


async def test_a_crashed_cycle_is_counted_in_the_errors_metric_and_shown_in_status() -> None:
    reporter = Reporter(ControllerMetrics(), None, dict, lambda: Desired(environments={}, apps={}))
    cycle = Crashing(crashes=1)
    options = ControllerOptions(resync_seconds=3600, retry_seconds=0.05, min_interval_seconds=0)
    controller = Controller(cycle, options, on_cycle=reporter.record)
    runner = asyncio.create_task(controller.run())
    await until(lambda: reporter.cycles == 2, "the crash and the retry", timeout=10)
    controller.stop()
    await asyncio.wait_for(runner, 5)
    exposition = reporter.metrics.exposition().decode()
    assert 'reconciler_errors_total{kind="unexpected"} 1.0' in exposition
    assert 'reconciler_errors_total{kind="cycle-failed"} 1.0' in exposition
    assert reporter.status()["last_cycle"]["ok"] is True


async def test_a_failing_report_does_not_end_the_controller() -> None:
    reports = 0

    def report(result: CycleResult) -> None:
        nonlocal reports
        reports += 1
        raise ValueError("the store's disk is full")

    controller = Controller(Recorder(), ControllerOptions(max_cycles=2, min_interval_seconds=0, resync_seconds=0.01),
                            on_cycle=report)
    await asyncio.wait_for(controller.run(), 5)
    assert reports == 2 and controller.unexpected == 2
