"""The live tables of `reconciler run` in a terminal: heal and rollout rows as data, then as drawn."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from rich.console import Console

from reconciler.cli.live_view import (
    ROLLOUTS_SHOWN,
    Frame,
    HealRow,
    LiveTables,
    RolloutRow,
    cycle_rows,
    duration,
    heal_rows,
    rollout_rows,
)
from reconciler.core.model import (
    Action,
    ActionKind,
    Actual,
    ActualApp,
    ActualDeployment,
    ActualTask,
    Desired,
    DesiredApp,
    Outcome,
    TaskState,
)
from reconciler.engine.cycle import CycleResult
from reconciler.engine.execute import Execution

NOW = datetime(2026, 12, 7, 1, 0, 0, tzinfo=UTC)
CHANGED = "2026-12-07T00:58:00.000Z"  # the config change the deployment rolls out
OLDER = "2026-12-06T10:00:00.000Z"
CHECKS = {"healthChecks": [{"protocol": "HTTP"}]}


def task(n: int, version: str, *, state: TaskState = TaskState.RUNNING, healthy: bool | None = True) -> ActualTask:
    return ActualTask(f"shop_web.t{n}", "/shop/web", "127.0.0.2", (31000 + n,), state, healthy, version)


def web(tasks: tuple[ActualTask, ...], *, definition: dict[str, object] | None = None, version: str = CHANGED,
        config_version: str = CHANGED) -> ActualApp:
    return ActualApp("/shop/web", definition if definition is not None else CHECKS, 4, version, tasks,
                     ("d-1",), config_version)


def rolling(app: ActualApp) -> Actual:
    deployment = ActualDeployment("d-1", (app.app_id, "/other/app"), current_step=1, total_steps=2, version=CHANGED)
    return Actual({app.app_id: app}, (deployment,))


def test_a_rollout_row_counts_the_tasks_of_the_new_definition_running_and_healthy() -> None:
    tasks = (task(1, OLDER), task(2, OLDER), task(3, CHANGED), task(4, "2026-12-07T00:59:00.000Z", healthy=False),
             task(5, CHANGED, state=TaskState.STAGING))
    [row] = rollout_rows(rolling(web(tasks)))
    assert row == RolloutRow("/shop/web", "d-1", 2, 1, 4, 1, 2, datetime(2026, 12, 7, 0, 58, tzinfo=UTC))
    assert row.cells(NOW) == ("/shop/web", "2/4", "1/4", "1/2", "2m00s", "d-1")


def test_a_scale_moves_the_version_not_the_config_version_so_old_tasks_count_as_new() -> None:
    app = web((task(1, OLDER), task(2, OLDER)), version="2026-12-07T00:59:30.000Z", config_version=OLDER)
    assert rollout_rows(rolling(app))[0].new_running == 2


def test_without_health_checks_healthy_is_a_dash_and_without_a_version_time_elapsed_is_unknown() -> None:
    app = web((task(1, CHANGED, healthy=None),), definition={})
    actual = Actual({app.app_id: app}, (ActualDeployment("d-2", (app.app_id,), 1, 1, version="not a time"),))
    [row] = rollout_rows(actual)
    assert (row.new_healthy, row.started) == (None, None)
    assert row.cells(NOW)[2:5] == ("-", "1/1", "?")


def test_rollouts_keep_to_the_apps_in_scope_and_idle_apps_have_none() -> None:
    assert rollout_rows(rolling(web(()))) != ()
    assert rollout_rows(rolling(web(())), scope={"/other/app"}) == ()
    assert rollout_rows(Actual({"/shop/web": web(())})) == ()


def test_heal_rows_are_the_kills_sent_with_their_app_reason_and_time() -> None:
    victim = task(3, OLDER, healthy=False)
    actions = (
        Action(ActionKind.KILL_TASK, victim.task_id, "critical for 31s > 30s", "shop", outcome=Outcome.SUCCEEDED),
        Action(ActionKind.KILL_TASK, "shop_web.t4", "critical for 40s > 30s; not killed: budget", "shop",
               outcome=Outcome.REFUSED),
        Action(ActionKind.KILL_TASK, "gone.t9", "critical for 35s > 30s", "shop", outcome=Outcome.FAILED),
        Action(ActionKind.SCALE, "/shop/web", "drift", "shop", outcome=Outcome.SUCCEEDED),
    )
    at = NOW - timedelta(seconds=75)
    rows = heal_rows(actions, rolling(web((victim,))), at)
    assert rows == (
        HealRow("/shop/web", victim.task_id, "critical for 31s > 30s", "succeeded", at),
        HealRow("shop", "gone.t9", "critical for 35s > 30s", "failed", at),  # no longer observed: its env
    )
    assert rows[0].cells(NOW) == ("00:58:45 (1m15s ago)", "/shop/web", victim.task_id, "critical for 31s > 30s",
                                  "succeeded")


def test_a_failed_cycle_knows_no_rollouts_and_sent_no_heal() -> None:
    assert cycle_rows(CycleResult("c00002", "retry", error="Marathon unreachable"), None, NOW) == (None, ())


def test_cycle_rows_take_the_kills_executed_and_the_desired_apps_rollouts() -> None:
    victim = task(1, OLDER, healthy=False)
    kill = Action(ActionKind.KILL_TASK, victim.task_id, "critical", "shop", outcome=Outcome.SUCCEEDED)
    desired = Desired({}, {"/shop/web": DesiredApp("/shop/web", "shop", "web", {}, 4)})
    result = CycleResult("c00003", "resync", actual=rolling(web((victim,))), execution=Execution((kill,)))
    rollouts, heals = cycle_rows(result, desired, NOW)
    assert rollouts is not None and [r.app for r in rollouts] == ["/shop/web"]
    assert [h.task for h in heals] == [victim.task_id]


def test_durations_read_at_a_glance_and_are_never_negative() -> None:
    assert [duration(timedelta(seconds=s)) for s in (-3, 42, 187, 7500)] == ["0s", "42s", "3m07s", "2h05m"]


def drawn(frame: Frame, width: int = 160) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(frame.render(NOW))
    text: str = console.file.getvalue()  # type: ignore[attr-defined]
    return text


def test_a_frame_draws_both_tables_with_a_line_each() -> None:
    rollout = RolloutRow("/shop/web", "d-1", 2, 1, 4, 1, 2, NOW - timedelta(seconds=9))
    heal = HealRow("/shop/web", "shop_web.t3", "critical for 31s > 30s", "succeeded", NOW - timedelta(seconds=4))
    text = drawn(Frame((rollout,), (heal,), "c00007"))
    [rollout_line] = [line for line in text.splitlines() if "d-1" in line]
    assert [cell.strip() for cell in rollout_line.split("│")[1:-1]] == ["/shop/web", "2/4", "1/4", "1/2", "9s", "d-1"]
    [heal_line] = [line for line in text.splitlines() if "shop_web.t3" in line]
    assert "00:59:56 (4s ago)" in heal_line and "critical for 31s > 30s" in heal_line and "succeeded" in heal_line
    assert "last cycle c00007" in text
    assert "no rollout in progress" in drawn(Frame()) and "no heal since the start" in drawn(Frame())


def test_a_first_deploy_of_many_apps_draws_the_first_rows_and_counts_the_rest() -> None:
    rows = tuple(RolloutRow(f"/e/app-{n:03d}", "d-1", 0, None, 1, 1, 1, NOW) for n in range(ROLLOUTS_SHOWN + 5))
    text = drawn(Frame(rows))
    assert "/e/app-019" in text and "/e/app-020" not in text and "and 5 more apps" in text


def test_the_live_region_keeps_the_newest_heals_first_and_stops_cleanly() -> None:
    console = Console(file=io.StringIO(), width=160, force_terminal=True, color_system=None)
    live = LiveTables(console, stderr_is_terminal=False)
    first = HealRow("/shop/web", "shop_web.t1", "critical", "succeeded", NOW)
    second = HealRow("/shop/web", "shop_web.t2", "critical", "succeeded", NOW)
    try:
        live.update("c00001", (), (first,))
        rollout = RolloutRow("/shop/web", "d-1", 2, 1, 4, 1, 2, NOW)
        live.update("c00002", (rollout,), (second,))
        assert live.frame.heals == (second, first) and live.frame.cycle == "c00002"
        live.update("c00003", None, ())  # Marathon unreachable: the rollout last seen stays
        assert live.frame.rollouts == (rollout,) and live.frame.cycle == "c00003"
    finally:
        live.close()
    live.close()  # a second close (the exit stack's) does nothing
    assert "shop_web.t2" in console.file.getvalue()  # type: ignore[attr-defined]
