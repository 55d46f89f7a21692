"""The live part of `reconciler run` in a terminal (face layer): the recent heals (task, reason, when) and
each app's rollout progress (tasks of the new definition running and healthy, of the instances wanted;
the deployment's step; how long it has run). Rows are plain data built from a cycle's result, so they
are tested apart from drawing; `LiveTables` draws them under the scrolling output with Rich's Live.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from reconciler.core.model import Action, ActionKind, Actual, ActualApp, ActualDeployment, Desired, Outcome, TaskState
from reconciler.engine.cycle import CycleResult

HEALS_SHOWN = 8  # the newest heals; older ones are in the history (`reconciler history`) and the log
ROLLOUTS_SHOWN = 20  # a first deploy of thousands of apps must not push the region past the screen


@dataclass(frozen=True)
class HealRow:
    """One heal the controller sent: the task it killed, why, when, and how the kill went."""

    app: str
    task: str
    reason: str
    outcome: str
    at: datetime

    def cells(self, now: datetime) -> tuple[str, ...]:
        return (f"{self.at:%H:%M:%S} ({duration(now - self.at)} ago)", self.app, self.task, self.reason,
                self.outcome)


@dataclass(frozen=True)
class RolloutRow:
    """An app a running deployment changes: tasks of its current definition, of `instances` wanted."""

    app: str
    deployment: str
    new_running: int
    new_healthy: int | None  # None: the app has no Marathon health check
    instances: int
    step: int
    steps: int
    started: datetime | None  # the deployment's version (its creation time), when Marathon says

    def cells(self, now: datetime) -> tuple[str, ...]:
        healthy = "-" if self.new_healthy is None else f"{self.new_healthy}/{self.instances}"
        elapsed = "?" if self.started is None else duration(now - self.started)
        return (self.app, f"{self.new_running}/{self.instances}", healthy, f"{self.step}/{self.steps}", elapsed,
                self.deployment)


def duration(delta: timedelta) -> str:
    """`42s`, `3m07s`, `2h05m`: never negative (Marathon's clock may run ahead of ours)."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def instant(text: str) -> datetime | None:
    """Marathon's ISO timestamps (`2024-05-01T10:00:00.123Z`); None for anything else."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def heal_rows(actions: Iterable[Action], actual: Actual | None, at: datetime) -> tuple[HealRow, ...]:
    """The kills a cycle sent (whatever came of them); planned and refused ones are not heals."""
    app_of = {t.task_id: app.app_id for app in (actual.apps.values() if actual else ()) for t in app.tasks}
    return tuple(
        HealRow(app_of.get(a.target, a.env), a.target, a.reason, str(a.outcome), at)
        for a in actions
        if a.kind == ActionKind.KILL_TASK and a.outcome not in (Outcome.PLANNED, Outcome.REFUSED)
    )


def _current(app: ActualApp) -> set[str]:
    """The running tasks of the app's current definition (launched at or after its last config change)."""
    since = instant(app.config_version or app.version)
    running = [t for t in app.tasks if t.state == TaskState.RUNNING]
    if since is None:
        return {t.task_id for t in running if t.version == (app.config_version or app.version)}
    return {t.task_id for t in running if (launched := instant(t.version)) is not None and launched >= since}


def _rollout_row(deployment: ActualDeployment, app: ActualApp) -> RolloutRow:
    new = _current(app)
    checked = bool(app.definition.get("healthChecks"))
    healthy = sum(1 for t in app.tasks if t.task_id in new and t.healthy) if checked else None
    return RolloutRow(app.app_id, deployment.deployment_id, len(new), healthy, app.instances,
                      deployment.current_step, deployment.total_steps, instant(deployment.version))


def rollout_rows(actual: Actual, scope: Collection[str] | None = None) -> tuple[RolloutRow, ...]:
    """One row per app (of `scope`, when given) that a running deployment changes, by app id."""
    rows = [
        _rollout_row(deployment, actual.apps[app_id])
        for deployment in actual.deployments
        for app_id in deployment.affected_apps
        if app_id in actual.apps and (scope is None or app_id in scope)
    ]
    return tuple(sorted(rows, key=lambda r: (r.app, r.deployment)))


def cycle_rows(
    result: CycleResult, desired: Desired | None, at: datetime
) -> tuple[tuple[RolloutRow, ...] | None, tuple[HealRow, ...]]:
    """The rollouts of the apps in the specs, and the heals the cycle sent; a cycle that observed nothing
    (it failed as a whole) knows no rollouts (None: the last ones shown stay) and sent no heal."""
    if result.actual is None:
        return None, ()
    actions = result.execution.actions if result.execution else ()
    scope = desired.apps.keys() if desired is not None else None
    return rollout_rows(result.actual, scope), heal_rows(actions, result.actual, at)


def rollouts_table(rows: tuple[RolloutRow, ...], now: datetime) -> Table:
    more = len(rows) - ROLLOUTS_SHOWN
    table = Table(title="Rollouts in progress", title_justify="left",
                  caption=f"and {more} more apps" if more > 0 else None, caption_justify="left")
    table.add_column("app", no_wrap=True)
    table.add_column("new running", justify="right", no_wrap=True)
    table.add_column("new healthy", justify="right", no_wrap=True)
    table.add_column("step", justify="right", no_wrap=True)
    table.add_column("elapsed", justify="right", no_wrap=True)
    table.add_column("deployment", overflow="fold")
    for row in rows[:ROLLOUTS_SHOWN]:
        table.add_row(*(escape(cell) for cell in row.cells(now)))
    return table


def heals_table(rows: Iterable[HealRow], now: datetime) -> Table:
    table = Table(title=f"Heals (newest {HEALS_SHOWN})", title_justify="left")
    table.add_column("when", no_wrap=True)
    table.add_column("app", no_wrap=True)
    table.add_column("task", overflow="fold")
    table.add_column("reason", overflow="fold")
    table.add_column("outcome", no_wrap=True)
    for row in rows:
        table.add_row(*(escape(cell) for cell in row.cells(now)))
    return table


@dataclass(frozen=True)
class Frame:
    """What the live region shows; replaced whole after each cycle, drawn again every second."""

    rollouts: tuple[RolloutRow, ...] = ()
    heals: tuple[HealRow, ...] = ()
    cycle: str = ""

    def render(self, now: datetime) -> RenderableType:
        parts: list[RenderableType] = []
        parts.append(rollouts_table(self.rollouts, now) if self.rollouts else "no rollout in progress")
        parts.append(heals_table(self.heals, now) if self.heals else "no heal since the start")
        if self.cycle:
            parts.append(f"[dim]last cycle {escape(self.cycle)}[/]")
        return Group(*parts)


class LiveTables:
    """The rollouts and heals, redrawn below whatever the console prints (each second: elapsed ticks).

    Started on the first update, stopped by close(); a terminal's stderr (logs, errors) is routed above
    the region so log lines never tear it, while a stderr redirected to a file stays that file's."""

    def __init__(self, console: Console, *, stderr_is_terminal: bool) -> None:
        self._console = console
        self._frame = Frame()
        self._heals: deque[HealRow] = deque(maxlen=HEALS_SHOWN)
        self._live: Live | None = None
        self._redirect_stderr = stderr_is_terminal

    @property
    def frame(self) -> Frame:
        return self._frame

    def update(self, cycle: str, rollouts: tuple[RolloutRow, ...] | None, heals: tuple[HealRow, ...]) -> None:
        """`rollouts` None: unknown this cycle, the previous ones stay shown."""
        self._heals.extendleft(heals)
        self._frame = Frame(self._frame.rollouts if rollouts is None else rollouts, tuple(self._heals), cycle)
        if self._live is None:
            # Our console writes through a stream that looks sys.stdout up at each write: redirecting
            # stdout into the Live's proxy would loop back into it, so only stderr is redirected.
            self._live = Live(get_renderable=self._render, console=self._console, refresh_per_second=1,
                              redirect_stdout=False, redirect_stderr=self._redirect_stderr)
            self._live.start()
        self._live.refresh()

    def _render(self) -> RenderableType:
        return self._frame.render(datetime.now(UTC))

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
